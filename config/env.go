package config

import (
	"context"
	"fmt"
	"os"
	"slices"
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
// spelled by the first of its variables in name order). The value is read
// as JSON when it parses as JSON (10, 0.5, true, ["retry","timeout"],
// {"tokenLimit":5}) and as a string otherwise (exponential, 250ms).
//
// Each field is set by one variable: a variable sets the field it names
// and every field inside its value. So ...__RATELIMIT={"tokenLimit":5} and
// ...__RATELIMIT__WAIT=true configure one rate limit, but two variables
// setting one field, or a variable naming a field inside a value that is
// not an object, are an error naming both: what the environment
// configures, and whether it is valid, do not depend on the order of its
// variables.
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

// Load implements Source. Two variables setting one field (in any case, or
// as an option and its alias) are an *Error naming both; a JSON value is
// parsed as strictly as a file (see ParseTree). It takes time linear in
// the size of the variables (sorting them aside).
func (e *Env) Load(context.Context) (Tree, error) {
	environ := os.Environ
	if e.Environ != nil {
		environ = e.Environ
	}
	pre := strings.ToUpper(e.prefix()) + "__"
	var vars []string
	for _, kv := range environ() {
		k, _, _ := strings.Cut(kv, "=")
		if len(k) > len(pre) && strings.EqualFold(k[:len(pre)], pre) {
			vars = append(vars, kv)
		}
	}
	// In name order, the spelling of a set's name (the first) and the
	// error reported first do not depend on the environment's order.
	slices.Sort(vars)
	root := &envNode{kids: map[string]*envNode{}}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		segs := strings.Split(k[len(pre):], "__")
		path := make([]any, len(segs))
		for i, seg := range segs {
			if seg == "" {
				return nil, &Error{Source: e.Name(), Path: k, Reason: "empty segment in the variable's name"}
			}
			path[i] = seg
		}
		val, err := envValue(v, path)
		if err != nil {
			return nil, withSource(err, e.Name())
		}
		if err := root.set(path, val, k); err != nil {
			return nil, withSource(err, e.Name())
		}
	}
	return root.tree(), nil
}

// envNode is a field of the tree variables build: an object (kids) or a
// value, and the variable that set it: the variable naming it, or one
// whose value holds it. A variable naming a field deeper down only makes a
// path: by is "".
type envNode struct {
	key   string              // as first spelled
	by    string              // the variable that set it; "" for a path
	value any                 // when kids is nil
	kids  map[string]*envNode // by canonical key
}

// set sets the field at path to v for the variable named by.
func (n *envNode) set(path []any, v any, by string) error {
	for i, seg := range path {
		k := seg.(string)
		c := canonAt(i, k)
		kid, ok := n.kids[c]
		switch {
		case !ok && i == len(path)-1:
			kid = &envNode{key: k}
			kid.fill(v, by, len(path))
			n.kids[c] = kid
			return nil
		case !ok:
			kid = &envNode{key: k, kids: map[string]*envNode{}}
			n.kids[c] = kid
		case i == len(path)-1:
			return kid.merge(v, by, path)
		case kid.kids == nil:
			return conflict(path[:i+1], kid.by, by)
		}
		n = kid
	}
	return nil
}

// fill makes the new node n hold v, set by by; d is the depth of the keys
// of v.
func (n *envNode) fill(v any, by string, d int) {
	n.by = by
	obj, ok := v.(map[string]any)
	if !ok {
		n.value = v
		return
	}
	n.kids = make(map[string]*envNode, len(obj))
	for k, x := range obj {
		kid := &envNode{key: k}
		kid.fill(x, by, d+1)
		n.kids[canonAt(d, k)] = kid // no two keys are the same: parseJSON checked
	}
}

// merge sets the existing node n, at path, to v for the variable by. Only
// an object merges, into a path, field by field.
func (n *envNode) merge(v any, by string, path []any) error {
	obj, ok := v.(map[string]any)
	if !ok || n.by != "" {
		return conflict(path, n.firstBy(), by)
	}
	for _, k := range sortedKeys(obj) {
		p := append(path[:len(path):len(path)], k)
		c := canonAt(len(path), k)
		if kid, ok := n.kids[c]; ok {
			if err := kid.merge(obj[k], by, p); err != nil {
				return err
			}
			continue
		}
		kid := &envNode{key: k}
		kid.fill(obj[k], by, len(p))
		n.kids[c] = kid
	}
	return nil
}

// firstBy returns the first, in name order, of the variables that set n or
// fields in it.
func (n *envNode) firstBy() string {
	if n.by != "" {
		return n.by
	}
	first := ""
	for _, kid := range n.kids {
		if b := kid.firstBy(); first == "" || b < first {
			first = b
		}
	}
	return first
}

func conflict(path []any, a, b string) error {
	a, b = min(a, b), max(a, b)
	return &Error{Path: formatPath(path), Reason: fmt.Sprintf("set by both %s and %s (give each field one variable)", a, b)}
}

// tree returns the Tree of n's fields.
func (n *envNode) tree() Tree {
	t := make(Tree, len(n.kids))
	for _, kid := range n.kids {
		if kid.kids != nil {
			t[kid.key] = kid.tree()
		} else {
			t[kid.key] = kid.value
		}
	}
	return t
}

// envValue reads a variable's value: JSON when it parses as JSON, a string
// otherwise. JSON that repeats a key is an error.
func envValue(s string, path []any) (any, error) {
	v, err := parseJSON([]byte(s), path)
	if err != nil {
		if e, ok := err.(*Error); ok {
			return nil, e
		}
		return s, nil
	}
	return v, nil
}
