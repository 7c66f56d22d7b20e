package config

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
)

// Env is a Source reading environment variables named
// PREFIX__POLICIES__<SET>__<SECTION>__<OPTION>, such as
//
//	WHIZBANG__POLICIES__PAYMENTAPI__CIRCUITBREAKER__FAILURETHRESHOLD=10
//
// The name after the prefix is split at double underscores into the path of
// a field of the JSON document; names match the document's fields
// case-insensitively, so PAYMENTAPI configures a set named PaymentApi in an
// earlier source (a set no earlier source names is created with the name as
// spelled). The value is read as JSON when it parses as JSON (10, 0.5,
// true, ["retry","timeout"], {"tokenLimit":5}) and as a string otherwise
// (exponential, 250ms).
type Env struct {
	// Prefix is the variables' prefix. Default "WHIZBANG".
	Prefix string
	// Environ returns the environment as KEY=value strings. Default
	// os.Environ.
	Environ func() []string
}

// Name implements Source.
func (e *Env) Name() string { return "env " + e.prefix() + "__*" }

func (e *Env) prefix() string {
	if e.Prefix == "" {
		return "WHIZBANG"
	}
	return e.Prefix
}

// Load implements Source.
func (e *Env) Load(context.Context) (Tree, error) {
	environ := os.Environ
	if e.Environ != nil {
		environ = e.Environ
	}
	pre := strings.ToUpper(e.prefix()) + "__"
	t := Tree{}
	for _, kv := range environ() {
		k, v, _ := strings.Cut(kv, "=")
		if len(k) <= len(pre) || !strings.EqualFold(k[:len(pre)], pre) {
			continue
		}
		path := strings.Split(k[len(pre):], "__")
		node := t
		for i, seg := range path {
			if seg == "" {
				return nil, &Error{Source: e.Name(), Path: k, Reason: "empty segment in the variable's name"}
			}
			key := seg
			for existing := range node {
				if strings.EqualFold(existing, seg) {
					key = existing
				}
			}
			if i == len(path)-1 {
				node[key] = envValue(v)
				break
			}
			next, ok := node[key].(map[string]any)
			if !ok {
				next = Tree{}
				node[key] = next
			}
			node = next
		}
	}
	return t, nil
}

func envValue(s string) any {
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err == nil && !d.More() {
		return v
	}
	return s
}
