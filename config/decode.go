package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

// Tree is a JSON document decoded into maps, slices, json.Number, string,
// bool and nil: what a Source returns, and what layering merges.
type Tree = map[string]any

// ParseTree decodes a JSON object into a Tree, numbers kept exact.
func ParseTree(data []byte) (Tree, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var t Tree
	if err := d.Decode(&t); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("data after the JSON object")
	}
	if t == nil {
		t = Tree{}
	}
	return t, nil
}

// Parse decodes a JSON document strictly (see the package documentation for
// its schema). Errors are *Error values with the field path.
func Parse(data []byte) (*Document, error) {
	t, err := ParseTree(data)
	if err != nil {
		return nil, &Error{Reason: "not a JSON object: " + err.Error(), Err: err}
	}
	return Decode(t)
}

// Decode decodes a Tree strictly into a Document. Field names match
// case-insensitively; unknown fields, wrong types and values out of range are
// errors naming the field path.
func Decode(t Tree) (*Document, error) {
	doc := &Document{Policies: map[string]*PolicySpec{}}
	for _, k := range sortedKeys(t) {
		if !strings.EqualFold(k, "policies") {
			return nil, errorf(k, "unknown field (want \"policies\")")
		}
		ps, ok := t[k].(map[string]any)
		if !ok {
			return nil, errorf(k, "must be an object of named policy sets, not %s", typeName(t[k]))
		}
		for _, name := range sortedKeys(ps) {
			path := "policies." + name
			if name == "" {
				return nil, errorf(path, "a policy set needs a name")
			}
			for other := range doc.Policies {
				if strings.EqualFold(other, name) {
					return nil, errorf(path, "duplicate name (names match case-insensitively): %q", other)
				}
			}
			spec, err := decodeSpec(path, ps[name])
			if err != nil {
				return nil, err
			}
			doc.Policies[name] = spec
		}
	}
	return doc, nil
}

func decodeSpec(path string, v any) (*PolicySpec, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(path, "must be an object, not %s", typeName(v))
	}
	p := &PolicySpec{}
	for _, k := range sortedKeys(m) {
		fp := path + "." + k
		val := m[k]
		var err error
		switch lk := strings.ToLower(k); lk {
		case "order":
			arr, ok := val.([]any)
			if !ok {
				return nil, errorf(fp, "must be an array of names, not %s", typeName(val))
			}
			for i, e := range arr {
				s, ok := e.(string)
				if !ok || s == "" {
					return nil, errorf(fmt.Sprintf("%s[%d]", fp, i), "must be a section or policy name")
				}
				if c, ok := isSection(s); ok {
					s = c
				}
				p.Order = append(p.Order, s)
			}
		case "disabled":
			p.Disabled, err = asBool(fp, val)
		case "retry":
			p.Retry = &retry.Options{}
			err = decodeFields(fp, val, retryFields(p.Retry))
		case "circuitbreaker":
			p.CircuitBreaker = &circuitbreaker.Options{}
			modeSet := false
			err = decodeFields(fp, val, breakerFields(p.CircuitBreaker, &modeSet))
			if err == nil && !modeSet && p.CircuitBreaker.FailureThreshold > 0 && p.CircuitBreaker.FailureThreshold < 1 {
				p.CircuitBreaker.Mode = circuitbreaker.Ratio
			}
		case "ratelimit":
			p.RateLimit = &ratelimit.Options{}
			err = decodeRateLimit(fp, val, p.RateLimit)
		case "bulkhead":
			p.Bulkhead = &bulkhead.Options{}
			err = decodeFields(fp, val, bulkheadFields(p.Bulkhead))
		case "timeout":
			p.Timeout = &timeout.Options{}
			err = decodeFields(fp, val, timeoutFields(p.Timeout))
		default:
			return nil, errorf(fp, "unknown field (want order, disabled, retry, circuitBreaker, rateLimit, bulkhead or timeout)")
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// field decodes one option from a value at a path.
type field func(path string, v any) error

// aliases maps the lower-cased alias of an option to its lower-cased name.
var aliases = map[string]string{"attempts": "maxretries", "threshold": "failurethreshold"}

// canon returns the lower-cased canonical name of a field.
func canon(k string) string {
	k = strings.ToLower(k)
	if a, ok := aliases[k]; ok {
		return a
	}
	return k
}

func decodeFields(path string, v any, fields map[string]field) error {
	m, ok := v.(map[string]any)
	if !ok {
		return errorf(path, "must be an object, not %s", typeName(v))
	}
	seen := map[string]string{}
	for _, k := range sortedKeys(m) {
		if prev, ok := seen[canon(k)]; ok {
			return errorf(path+"."+k, "the same option as %q", prev)
		}
		seen[canon(k)] = k
		f, ok := fields[strings.ToLower(k)]
		if !ok {
			names := make([]string, 0, len(fields))
			for n := range fields {
				names = append(names, n)
			}
			sort.Strings(names)
			return errorf(path+"."+k, "unknown field (known, case-insensitive: %s)", strings.Join(names, ", "))
		}
		if err := f(path+"."+k, m[k]); err != nil {
			return err
		}
	}
	return nil
}

func retryFields(o *retry.Options) map[string]field {
	retries := func(p string, v any) (err error) { o.MaxRetries, err = asInt(p, v, 1, math.MaxInt32); return }
	return map[string]field{
		"maxretries": retries,
		"attempts":   retries,
		"backoff": func(p string, v any) error {
			s, err := asString(p, v)
			if err != nil {
				return err
			}
			switch strings.ToLower(s) {
			case "constant":
				o.Backoff = retry.Constant
			case "linear":
				o.Backoff = retry.Linear
			case "exponential":
				o.Backoff = retry.Exponential
			case "decorrelatedjitter":
				o.Backoff = retry.DecorrelatedJitter
			default:
				return errorf(p, "must be constant, linear, exponential or decorrelatedJitter, not %q", s)
			}
			return nil
		},
		"delay":            func(p string, v any) (err error) { o.Delay, err = asDuration(p, v); return },
		"maxdelay":         func(p string, v any) (err error) { o.MaxDelay, err = asDuration(p, v); return },
		"factor":           func(p string, v any) (err error) { o.Factor, err = asFloat(p, v); return },
		"jitter":           func(p string, v any) (err error) { o.Jitter, err = asFloat(p, v); return },
		"ignoreretryafter": func(p string, v any) (err error) { o.IgnoreRetryAfter, err = asBool(p, v); return },
	}
}

func breakerFields(o *circuitbreaker.Options, modeSet *bool) map[string]field {
	threshold := func(p string, v any) (err error) { o.FailureThreshold, err = asFloat(p, v); return }
	return map[string]field{
		"mode": func(p string, v any) error {
			s, err := asString(p, v)
			if err != nil {
				return err
			}
			switch strings.ToLower(s) {
			case "consecutive":
				o.Mode = circuitbreaker.Consecutive
			case "ratio":
				o.Mode = circuitbreaker.Ratio
			default:
				return errorf(p, "must be consecutive or ratio, not %q", s)
			}
			*modeSet = true
			return nil
		},
		"threshold":        threshold,
		"failurethreshold": threshold,
		"fleetfailurethreshold": func(p string, v any) (err error) {
			o.FleetFailureThreshold, err = asInt(p, v, 0, math.MaxInt32)
			return
		},
		"samplingduration":  func(p string, v any) (err error) { o.SamplingDuration, err = asDuration(p, v); return },
		"minimumthroughput": func(p string, v any) (err error) { o.MinimumThroughput, err = asInt(p, v, 0, math.MaxInt32); return },
		"breakduration":     func(p string, v any) (err error) { o.BreakDuration, err = asDuration(p, v); return },
		"halfopenprobes":    func(p string, v any) (err error) { o.HalfOpenProbes, err = asInt(p, v, 0, math.MaxInt32); return },
	}
}

func bulkheadFields(o *bulkhead.Options) map[string]field {
	return map[string]field{
		"maxconcurrency":   func(p string, v any) (err error) { o.MaxConcurrency, err = asInt(p, v, 0, math.MaxInt32); return },
		"maxqueuedactions": func(p string, v any) (err error) { o.MaxQueuedActions, err = asInt(p, v, 0, math.MaxInt32); return },
		"queuetimeout":     func(p string, v any) (err error) { o.QueueTimeout, err = asDuration(p, v); return },
	}
}

func timeoutFields(o *timeout.Options) map[string]field {
	return map[string]field{
		"duration":    func(p string, v any) (err error) { o.Duration, err = asDuration(p, v); return },
		"pessimistic": func(p string, v any) (err error) { o.Pessimistic, err = asBool(p, v); return },
	}
}

func limitFields(l *ratelimit.Limit) map[string]field {
	return map[string]field{
		"tokenlimit":    func(p string, v any) (err error) { l.TokenLimit, err = asInt(p, v, 1, math.MaxInt32); return },
		"window":        func(p string, v any) (err error) { l.Window, err = asDuration(p, v); return },
		"replenishrate": func(p string, v any) (err error) { l.ReplenishRate, err = asInt(p, v, 0, math.MaxInt32); return },
		"burstsize":     func(p string, v any) (err error) { l.BurstSize, err = asInt(p, v, 0, math.MaxInt32); return },
	}
}

// decodeRateLimit reads a rate limit: "limits" (an array of limits) or one
// limit's fields inline, not both, plus the limiter's own options.
func decodeRateLimit(path string, v any, o *ratelimit.Options) error {
	var inline ratelimit.Limit
	hasInline, hasLimits := false, false
	fields := map[string]field{
		"wait":         func(p string, v any) (err error) { o.Wait, err = asBool(p, v); return },
		"maxwait":      func(p string, v any) (err error) { o.MaxWait, err = asDuration(p, v); return },
		"failclosed":   func(p string, v any) (err error) { o.FailClosed, err = asBool(p, v); return },
		"statekey":     func(p string, v any) (err error) { o.StateKey, err = asString(p, v); return },
		"storetimeout": func(p string, v any) (err error) { o.StoreTimeout, err = asDuration(p, v); return },
		"storebackoff": func(p string, v any) (err error) { o.StoreBackoff, err = asDuration(p, v); return },
		"scope": func(p string, v any) error {
			s, err := asString(p, v)
			if err != nil {
				return err
			}
			switch strings.ToLower(s) {
			case "global":
				o.Scope = ratelimit.Global
			case "peridentity":
				o.Scope = ratelimit.PerIdentity
			case "perinstance":
				o.Scope = ratelimit.PerInstance
			default:
				return errorf(p, "must be global, perIdentity or perInstance, not %q", s)
			}
			return nil
		},
		"limits": func(p string, v any) error {
			arr, ok := v.([]any)
			if !ok {
				return errorf(p, "must be an array of limits, not %s", typeName(v))
			}
			hasLimits = true
			for i, e := range arr {
				var l ratelimit.Limit
				if err := decodeFields(fmt.Sprintf("%s[%d]", p, i), e, limitFields(&l)); err != nil {
					return err
				}
				o.Limits = append(o.Limits, l)
			}
			return nil
		},
	}
	for k, f := range limitFields(&inline) {
		fields[k] = func(p string, v any) error { hasInline = true; return f(p, v) }
	}
	if err := decodeFields(path, v, fields); err != nil {
		return err
	}
	if hasInline && hasLimits {
		return errorf(path, "give one limit inline (tokenLimit, window, ...) or \"limits\", not both")
	}
	if hasInline {
		o.Limits = []ratelimit.Limit{inline}
	}
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

func asBool(p string, v any) (bool, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	return false, errorf(p, "must be true or false, not %s", typeName(v))
}

func asString(p string, v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	return "", errorf(p, "must be a string, not %s", typeName(v))
}

func asFloat(p string, v any) (float64, error) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, errorf(p, "must be a finite number, not %s", n)
		}
		return f, nil
	case float64:
		return n, nil
	}
	return 0, errorf(p, "must be a number, not %s", typeName(v))
}

func asInt(p string, v any, lo, hi int64) (int, error) {
	f, err := asFloat(p, v)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) {
		return 0, errorf(p, "must be a whole number, not %v", f)
	}
	if f < float64(lo) || f > float64(hi) {
		return 0, errorf(p, "must be between %d and %d, not %v", lo, hi, f)
	}
	return int(f), nil
}

// asDuration reads milliseconds as a number, or a Go duration string such
// as "250ms" or "1m30s".
func asDuration(p string, v any) (time.Duration, error) {
	switch x := v.(type) {
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, errorf(p, "must be milliseconds or a duration like \"250ms\", not %q", x)
		}
		if d < 0 {
			return 0, errorf(p, "must not be negative, not %s", x)
		}
		return d, nil
	case json.Number, float64:
		ms, _ := asFloat(p, v)
		if ms < 0 || ms > float64(math.MaxInt64/int64(time.Millisecond)) || math.IsNaN(ms) {
			return 0, errorf(p, "must be a number of milliseconds from 0 to about 292 years, not %v", ms)
		}
		return time.Duration(ms * float64(time.Millisecond)), nil
	}
	return 0, errorf(p, "must be milliseconds or a duration string, not %s", typeName(v))
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Merge layers trees: later trees override earlier ones field by field;
// objects merge recursively, keys match case-insensitively (the first
// spelling is kept); other values, arrays included, are replaced whole. The
// inputs are not modified. origin, when not nil, records for each replaced
// leaf's lower-cased path the index of the tree it came from.
func Merge(origin map[string]int, trees ...Tree) Tree {
	out := Tree{}
	for i, t := range trees {
		mergeInto(out, t, "", i, origin)
	}
	return out
}

func mergeInto(dst, src Tree, prefix string, idx int, origin map[string]int) {
	for k, v := range src {
		key := k
		for dk := range dst {
			if canon(dk) == canon(k) {
				key = dk
				break
			}
		}
		path := canon(k)
		if prefix != "" {
			path = prefix + "." + path
		}
		if sm, ok := v.(map[string]any); ok {
			dm, ok := dst[key].(map[string]any)
			if !ok {
				dm = Tree{}
			} else {
				dm = copyTree(dm)
			}
			mergeInto(dm, sm, path, idx, origin)
			dst[key] = dm
			continue
		}
		dst[key] = v
		if origin != nil {
			origin[path] = idx
		}
	}
}

func copyTree(t Tree) Tree {
	c := make(Tree, len(t))
	for k, v := range t {
		c[k] = v
	}
	return c
}
