package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

// Tree is a JSON document decoded into maps, slices, json.Number, string,
// bool and nil: what a Source returns, and what layering merges.
type Tree = map[string]any

// ParseTree decodes a JSON object into a Tree, numbers kept exact. It
// rejects a key an object repeats, exactly, in another case or as an alias
// of the same option (keys match as Merge and Decode match them), with an
// *Error naming its path; other errors are encoding/json's. null is an
// empty Tree. It runs in time linear in the size of data.
func ParseTree(data []byte) (Tree, error) {
	v, err := parseJSON(data, nil)
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case map[string]any:
		return v, nil
	case nil:
		return Tree{}, nil
	}
	return nil, fmt.Errorf("the document is %s", typeName(v))
}

// parseJSON decodes one JSON value (objects as Trees, numbers as
// json.Number, as encoding/json decodes into an any with UseNumber),
// rejecting repeated keys. at is the path of the value, for errors.
// json.Valid checks the syntax (and a nesting of at most 10000) first, so
// that the parser that builds the value has no syntax to check; the syntax
// error is encoding/json's.
func parseJSON(data []byte, at []any) (any, error) {
	if !json.Valid(data) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		return nil, errors.New("invalid JSON") // not reached: Unmarshal fails as Valid does
	}
	p := &jsonParser{data: data, path: slices.Clip(at)}
	return p.value()
}

// jsonParser builds a value from valid JSON in one pass.
type jsonParser struct {
	data []byte
	i    int   // the next byte to read
	path []any // keys (string) and indexes (int) down to the current value
}

func (p *jsonParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips spaces and returns the next byte, consumed.
func (p *jsonParser) next() byte {
	p.space()
	p.i++
	return p.data[p.i-1]
}

func (p *jsonParser) value() (any, error) {
	p.space()
	switch p.data[p.i] {
	case '{':
		p.i++
		return p.object()
	case '[':
		p.i++
		return p.array()
	case '"':
		return p.string(), nil
	case 't':
		p.i += len("true")
		return true, nil
	case 'f':
		p.i += len("false")
		return false, nil
	case 'n':
		p.i += len("null")
		return nil, nil
	}
	start := p.i
	for p.i < len(p.data) && isNumberByte(p.data[p.i]) {
		p.i++
	}
	return json.Number(p.data[start:p.i]), nil
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// string reads a string, at its opening quote.
func (p *jsonParser) string() string {
	start := p.i
	escaped := false
	for p.i++; p.data[p.i] != '"'; p.i++ {
		if p.data[p.i] == '\\' {
			escaped = true
			p.i++ // the escaped byte, which may be a quote
		}
	}
	p.i++
	raw := p.data[start:p.i]
	if s := raw[1 : len(raw)-1]; !escaped && utf8.Valid(s) {
		return string(s)
	}
	var s string
	json.Unmarshal(raw, &s) // a valid string: no error; invalid UTF-8 becomes U+FFFD
	return s
}

func (p *jsonParser) object() (Tree, error) {
	t := Tree{}
	p.space()
	if p.data[p.i] == '}' {
		p.i++
		return t, nil
	}
	var seen map[string]string // canonical key → key, once an object has keys in capitals or aliases
	for {
		p.space()
		k := p.string()
		p.next() // ':'
		depth := len(p.path)
		c := canonAt(depth, k)
		prev, dup := k, false
		if _, dup = t[k]; !dup && (c != k || seen != nil) {
			if seen == nil {
				seen = make(map[string]string, len(t)+1)
				for k := range t {
					seen[canonAt(depth, k)] = k
				}
			}
			prev, dup = seen[c]
			seen[c] = k
		}
		p.path = append(p.path, k)
		if dup {
			return nil, &Error{Path: formatPath(p.path), Reason: duplicateKey(prev, k)}
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.path = p.path[:len(p.path)-1]
		t[k] = v
		if p.next() == '}' {
			return t, nil
		} // else ','
	}
}

func (p *jsonParser) array() ([]any, error) {
	a := []any{}
	p.space()
	if p.data[p.i] == ']' {
		p.i++
		return a, nil
	}
	for {
		p.path = append(p.path, len(a))
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.path = p.path[:len(p.path)-1]
		a = append(a, v)
		if p.next() == ']' {
			return a, nil
		} // else ','
	}
}

// duplicateKey is the reason of an error about k, which repeats prev.
func duplicateKey(prev, k string) string {
	switch {
	case prev == k:
		return "duplicate key"
	case strings.EqualFold(prev, k):
		return fmt.Sprintf("duplicate key: the same as %q (keys match case-insensitively)", prev)
	}
	return fmt.Sprintf("duplicate key: the same option as %q", prev)
}

// formatPath writes a path as the decoder's errors do:
// policies.A.rateLimit.limits[0].tokenLimit.
func formatPath(path []any) string {
	var b strings.Builder
	for i, seg := range path {
		switch seg := seg.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", seg)
		case string:
			if i == 0 && strings.EqualFold(seg, "policies") {
				seg = "policies"
			}
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
		}
	}
	return b.String()
}

// Parse decodes a JSON document strictly (see the package documentation for
// its schema). Errors are *Error values with the field path.
func Parse(data []byte) (*Document, error) {
	t, err := ParseTree(data)
	if err != nil {
		return nil, TreeError("", "", false, err)
	}
	return Decode(t)
}

// TreeError makes an error of [ParseTree] an *Error, for the document a
// source read under key (a [Watcher] in another package calls it with its
// Name): a repeated key keeps its field path, and names key when inKey (a
// source of several documents); a document that is not a JSON object is
// named by key. Empty source and key leave those fields unset.
func TreeError(source, key string, inKey bool, err error) *Error {
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Source: source, Path: key, Reason: "not a JSON object: " + err.Error(), Err: err}
	}
	if source != "" {
		e.Source = source
	}
	if inKey {
		e.Reason += " (in key " + key + ")"
	}
	return e
}

// Decode decodes a Tree strictly into a Document. Field names match
// case-insensitively; unknown fields, wrong types and values out of range are
// errors naming the field path.
func Decode(t Tree) (*Document, error) {
	doc := &Document{Policies: map[string]*PolicySpec{}}
	names := map[string]string{} // lower-cased → as spelled
	top := ""
	for _, k := range sortedKeys(t) {
		if !strings.EqualFold(k, "policies") {
			return nil, errorf(k, "unknown field (want \"policies\")")
		}
		if top != "" {
			return nil, errorf(k, "%s", duplicateKey(top, k))
		}
		top = k
		ps, ok := t[k].(map[string]any)
		if !ok {
			return nil, errorf(k, "must be an object of named policy sets, not %s", typeName(t[k]))
		}
		for _, name := range sortedKeys(ps) {
			path := "policies." + name
			if name == "" {
				return nil, errorf(path, "a policy set needs a name")
			}
			if other, ok := names[key(name)]; ok {
				return nil, errorf(path, "duplicate name (names match case-insensitively): %q", other)
			}
			names[key(name)] = name
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
	seen := make(map[string]string, len(m)) // lower-cased → as spelled
	for _, k := range sortedKeys(m) {
		fp := path + "." + k
		val := m[k]
		lk := strings.ToLower(k)
		if prev, ok := seen[lk]; ok {
			return nil, errorf(fp, "%s", duplicateKey(prev, k))
		}
		seen[lk] = k
		var err error
		switch lk {
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

// optionDepth is the depth of an option's key in a document:
// policies (0), a set (1), a section (2), an option (3).
const optionDepth = 3

// canonAt returns the canonical form of a key at depth d of a document,
// under which keys match: lower-cased, and an option's alias replaced by
// the option's name (aliases name options, not sets or sections).
func canonAt(d int, k string) string {
	if d == optionDepth {
		return canon(k)
	}
	return strings.ToLower(k)
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
// spelling is kept; an option's alias matches the option's name); other
// values, arrays included, are replaced whole. The
// inputs are not modified. origin, when not nil, records for each replaced
// leaf's lower-cased path the index of the tree it came from.
func Merge(origin map[string]int, trees ...Tree) Tree {
	out := Tree{}
	for i, t := range trees {
		mergeInto(out, t, "", 0, i, origin)
	}
	return out
}

// mergeInto merges src, at depth d of the document, into dst.
func mergeInto(dst, src Tree, prefix string, d, idx int, origin map[string]int) {
	keys := make(map[string]string, len(dst)) // canonical key → key in dst
	for dk := range dst {
		keys[canonAt(d, dk)] = dk
	}
	for k, v := range src {
		ck := canonAt(d, k)
		key, ok := keys[ck]
		if !ok {
			key = k
			keys[ck] = k
		}
		path := ck
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
			mergeInto(dm, sm, path, d+1, idx, origin)
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
