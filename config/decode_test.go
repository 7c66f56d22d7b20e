package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// repeatedKeyDocs are documents repeating a key, and the path of the
// repeat: exactly, in another case, or as an alias of the same option.
var repeatedKeyDocs = []struct{ name, doc, path string }{
	{"option", `{"policies": {"A": {"retry": {"attempts": 2, "attempts": 1000}}}}`, "policies.A.retry.attempts"},
	{"policies", `{"policies": {"A": {"retry": {}}}, "policies": {"B": {"timeout": {}}}}`, "policies"},
	{"set", `{"policies": {"A": {"retry": {}}, "A": {"timeout": {}}}}`, "policies.A"},
	{"section", `{"policies": {"A": {"retry": {"attempts": 2}, "retry": {}}}}`, "policies.A.retry"},
	{"in an array", `{"policies": {"A": {"rateLimit": {"limits": [{"tokenLimit": 1}, {"tokenLimit": 1, "window": 1, "tokenLimit": 9}]}}}}`, "policies.A.rateLimit.limits[1].tokenLimit"},
	{"in an unknown field", `{"policies": {"A": {"retry": {"x": {"y": [{"z": 1, "z": 2}]}}}}}`, "policies.A.retry.x.y[0].z"},
	{"option escaped", `{"policies": {"A": {"retry": {"attempts": 2, "\u0061ttempts": 1000}}}}`, "policies.A.retry.attempts"},
	{"option in another case", `{"policies": {"A": {"retry": {"attempts": 2, "Attempts": 1000}}}}`, "policies.A.retry.Attempts"},
	{"option and its alias", `{"policies": {"A": {"retry": {"maxRetries": 2, "attempts": 1000}}}}`, "policies.A.retry.attempts"},
	{"section in another case", `{"policies": {"A": {"retry": {"attempts": 2}, "Retry": {}}}}`, "policies.A.Retry"},
	{"set in another case", `{"policies": {"A": {"retry": {}}, "a": {"timeout": {}}}}`, "policies.a"},
	{"policies in another case", `{"policies": {"A": {}}, "Policies": {"B": {}}}`, "policies"},
}

func wantRepeatedKey(t *testing.T, err error, source, path string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *Error", err)
	}
	if e.Source != source || e.Path != path || !strings.Contains(e.Reason, "duplicate key") {
		t.Fatalf("got source %q path %q reason %q, want %q, %q and a duplicate key", e.Source, e.Path, e.Reason, source, path)
	}
}

// Parsing is strict: a key given twice is an error naming its path, not the
// last value silently.
func TestRepeatedKeysAreRejected(t *testing.T) {
	for _, tc := range repeatedKeyDocs {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("Parse", func(t *testing.T) {
				_, err := Parse([]byte(tc.doc))
				wantRepeatedKey(t, err, "", tc.path)
			})
			t.Run("ParseTree", func(t *testing.T) {
				_, err := ParseTree([]byte(tc.doc))
				wantRepeatedKey(t, err, "", tc.path)
			})
			t.Run("File", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "policies.json")
				writeAtomic(t, path, tc.doc)
				f := &File{Path: path}
				l, err := Watch(context.Background(), NewRegistry(RegistryOptions{}), LoaderOptions{}, f)
				if err == nil {
					l.Close()
				}
				wantRepeatedKey(t, err, f.Name(), tc.path)
			})
		})
	}
}

// A variable's JSON value is parsed as strictly as a file.
func TestEnvRepeatedKeysAreRejected(t *testing.T) {
	for _, tc := range []struct{ name, kv, path string }{
		{"option", `WHIZBANG__POLICIES__A__RETRY={"attempts": 2, "attempts": 1000}`, "policies.A.RETRY.attempts"},
		{"set", `WHIZBANG__POLICIES={"A": {"retry": {}}, "A": {}}`, "policies.A"},
		{"alias", `WHIZBANG__POLICIES__A__RETRY={"attempts": 2, "maxRetries": 1000}`, "policies.A.RETRY.maxRetries"},
		{"in an array", `WHIZBANG__POLICIES__A__RATELIMIT__LIMITS=[{"tokenLimit": 1, "tokenLimit": 2}]`, "policies.A.RATELIMIT.LIMITS[0].tokenLimit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := &Env{Environ: func() []string { return []string{tc.kv} }}
			l, err := Watch(context.Background(), NewRegistry(RegistryOptions{}), LoaderOptions{}, env)
			if err == nil {
				l.Close()
			}
			wantRepeatedKey(t, err, env.Name(), tc.path)
		})
	}
}

// Strict parsing does not reject what is valid: keys of the same name in
// different objects, and the values of every JSON type.
func TestParseTreeKeepsValidDocuments(t *testing.T) {
	doc := `{"policies": {"A": {"retry": {"attempts": 2}, "timeout": {"duration": "1s"}},
		"B": {"retry": {"attempts": 3}, "order": ["retry"], "x": [1, 2.5e3, -0, true, false, null, "s\u00e9", {"attempts": 1}, []], "y": {}}}}`
	got, err := ParseTree([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want, err := parseTreeStdlib([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	for _, bad := range []string{``, `[]`, `1`, `"s"`, `{`, `{"a": }`, `{"a": 1,}`, `{} {}`, `{}}`, `{"a" 1}`, `{1: 2}`} {
		if _, err := ParseTree([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if tr, err := ParseTree([]byte(" null ")); err != nil || tr == nil || len(tr) != 0 {
		t.Errorf("null: %v, %v; want an empty tree", tr, err)
	}
}

// permutations calls f with every order of vs.
func permutations(vs []string, f func([]string)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(vs) {
			f(append([]string(nil), vs...))
			return
		}
		for i := k; i < len(vs); i++ {
			vs[k], vs[i] = vs[i], vs[k]
			rec(k + 1)
			vs[k], vs[i] = vs[i], vs[k]
		}
	}
	rec(0)
}

// Whether the environment is accepted, and what it configures, does not
// depend on the order of its variables.
func TestEnvValidityDoesNotDependOnOrder(t *testing.T) {
	const p = "WHIZBANG__POLICIES__"
	for _, tc := range []struct {
		name  string
		vars  []string
		valid bool
	}{
		{"a section and one of its options", []string{p + "A__RETRY=5", p + "A__RETRY__ATTEMPTS=3", p + "A__TIMEOUT__DURATION=1s"}, false},
		{"an object and another field in it", []string{p + `A__RATELIMIT={"tokenLimit": 5}`, p + "A__RATELIMIT__WAIT=true", p + "A__RETRY__ATTEMPTS=3"}, true},
		{"an object and the same field in it", []string{p + `A__RETRY={"attempts": 3}`, p + "A__RETRY__ATTEMPTS=5", p + "A__TIMEOUT__DURATION=1s"}, false},
		{"an option and its alias", []string{p + "A__RETRY__ATTEMPTS=3", p + "A__RETRY__MAXRETRIES=5", p + "A__TIMEOUT__DURATION=1s"}, false},
		{"an option in two cases", []string{p + "A__RETRY__ATTEMPTS=3", "whizbang__policies__a__retry__attempts=5"}, false},
		{"a set spelled two ways", []string{p + "PAYMENTAPI__RETRY__ATTEMPTS=3", p + "PaymentApi__TIMEOUT__DURATION=1s", p + "paymentapi__CIRCUITBREAKER__THRESHOLD=4"}, true},
		{"a set and one of its sections", []string{p + `A={"retry": {"attempts": 2}}`, p + "A__TIMEOUT__DURATION=1s", p + "B__RETRY__ATTEMPTS=1"}, true},
		{"the policies and a set", []string{`WHIZBANG__POLICIES={"A": {"retry": {}}}`, p + "A__RETRY__ATTEMPTS=2", p + "B__TIMEOUT__DURATION=1s"}, true},
		{"two objects holding one field", []string{p + `A__RETRY={"attempts": 1}`, p + `A={"retry": {"backoff": "linear"}}`}, false},
		{"an object around a deeper variable", []string{p + "A__RETRY__ATTEMPTS=1", p + `A={"retry": {"backoff": "linear"}}`, p + "A__RETRY__DELAY=5"}, true},
		{"the policies and the same option", []string{`WHIZBANG__POLICIES={"A": {"retry": {"attempts": 1}}}`, p + "A__RETRY__ATTEMPTS=2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type outcome struct {
				err   string
				names []string
				specs []*PolicySpec
			}
			var first *outcome
			var firstOrder []string
			permutations(tc.vars, func(vars []string) {
				env := &Env{Environ: func() []string { return vars }}
				r := NewRegistry(RegistryOptions{})
				var o outcome
				l, err := Watch(context.Background(), r, LoaderOptions{}, env)
				if err != nil {
					o.err = err.Error()
				} else {
					l.Close()
					for _, n := range []string{"A", "B", "PaymentApi"} {
						if st, err := r.State(n); err == nil {
							o.names = append(o.names, st.Name)
							o.specs = append(o.specs, st.Spec)
						}
					}
				}
				if (o.err == "") != tc.valid {
					t.Errorf("order %q: error %q, want valid %v", vars, o.err, tc.valid)
				}
				if first == nil {
					first, firstOrder = &o, vars
				} else if !reflect.DeepEqual(o, *first) {
					t.Errorf("order %q: %+v\nbut order %q: %+v", vars, o, firstOrder, *first)
				}
			})
		})
	}
}

// The set an object value defines and the fields other variables add to
// it are one configuration.
func TestEnvMergesAnObjectWithDeeperVariables(t *testing.T) {
	env := &Env{Environ: func() []string {
		return []string{
			"WHIZBANG__POLICIES__A__RATELIMIT__WAIT=true",
			`WHIZBANG__POLICIES__A__RATELIMIT={"tokenLimit": 5}`,
		}
	}}
	tree, err := env.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Decode(tree)
	if err != nil {
		t.Fatal(err)
	}
	rl := doc.Policies["A"].RateLimit
	if rl == nil || !rl.Wait || len(rl.Limits) != 1 || rl.Limits[0].TokenLimit != 5 {
		t.Fatalf("rate limit = %+v, want tokenLimit 5 and wait", rl)
	}
}

// A conflict names both variables, whatever their order.
func TestEnvConflictNamesBothVariables(t *testing.T) {
	a, b := "WHIZBANG__POLICIES__A__RETRY=5", "WHIZBANG__POLICIES__A__RETRY__ATTEMPTS=3"
	for _, vars := range [][]string{{a, b}, {b, a}} {
		env := &Env{Environ: func() []string { return vars }}
		_, err := env.Load(context.Background())
		var e *Error
		if !errors.As(err, &e) || e.Path != "policies.A.RETRY" ||
			!strings.Contains(e.Reason, "WHIZBANG__POLICIES__A__RETRY ") || !strings.Contains(e.Reason, "WHIZBANG__POLICIES__A__RETRY__ATTEMPTS") {
			t.Fatalf("order %q: got %v, want an error at policies.A.RETRY naming both variables", vars, err)
		}
	}
}

// ParseTree decodes what encoding/json decodes, and fails where it fails;
// it fails where encoding/json does not only on a repeated key.
func FuzzParseTree(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, ` {"a": 1} `, `[]`, `"s"`, `1`, `{"a": {"b": [1, {"c": null}]}}`, `{"a":1,"a":2}`, `{"A":1,"a":2}`,
		`{"policies": {"A": {"retry": {"attempts": 2, "maxRetries": 3}}}}`, `{"policies": {"attempts": {}, "maxRetries": {}}}`,
		`{"e": "\u00e9\"\\\/\b\f\n\r\t", "s": "\ud83d\ude00", "l": "\ud800", "u": "é", "x": "\u0000"}`,
		"{\"bad\": \"\xff\xfe\"}", "{\"\xff\": 1, \"\xfe\": 2}",
		`{"n": [-0, 0.5, 1e5, 1E+5, -1.5e-3, 12345678901234567890]}`, "{\t\"a\"\r\n:\n[ 1 ,2 ] }",
		`{`, `{"a": }`, `{} {}`, `{}}`, ``, `[1,]`, `{"a":1,}`, `nul`, `"\x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseTree(data)
		var want any
		werr := json.Unmarshal(data, &want) // syntax only: numbers compared below
		if werr != nil {
			if err == nil {
				t.Fatalf("%q: accepted, but encoding/json says %v", data, werr)
			}
			return
		}
		if err != nil {
			var e *Error
			if _, isObj := want.(map[string]any); errors.As(err, &e) && !strings.Contains(e.Reason, "duplicate key") || !errors.As(err, &e) && isObj {
				t.Fatalf("%q: %v", data, err)
			}
			return
		}
		ref, rerr := parseTreeStdlib(data)
		if rerr != nil {
			t.Fatalf("%q: accepted, but encoding/json says %v", data, rerr)
		}
		if ref == nil {
			ref = Tree{}
		}
		if hasRepeatedKey(data) {
			t.Fatalf("%q: a repeated key accepted", data)
		}
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("%q:\ngot  %#v\nwant %#v", data, got, ref)
		}
	})
}

// hasRepeatedKey reports whether the JSON data repeats a key exactly in an
// object, the repeats encoding/json resolves silently.
func hasRepeatedKey(data []byte) bool {
	d := json.NewDecoder(bytes.NewReader(data))
	var stack []map[string]bool
	expectKey := false
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, map[string]bool{})
			expectKey = true
			continue
		case json.Delim('['):
			stack = append(stack, nil)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if top := len(stack) - 1; expectKey && top >= 0 && stack[top] != nil {
				k := tok.(string)
				if stack[top][k] {
					return true
				}
				stack[top][k] = true
				expectKey = false
				continue
			}
		}
		expectKey = len(stack) > 0 && stack[len(stack)-1] != nil
	}
}

// parseTreeStdlib is ParseTree as encoding/json alone does it, repeated
// keys aside: the reference for valid documents.
func parseTreeStdlib(data []byte) (Tree, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var t Tree
	err := d.Decode(&t)
	return t, err
}

// Decode, given a Tree built in code, rejects keys that differ only in case
// as ParseTree does: no section or top field silently replaces another.
func TestDecodeRejectsKeysRepeatedInAnotherCase(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree Tree
		path string
	}{
		{"section", Tree{"policies": Tree{"A": Tree{"retry": Tree{"attempts": json.Number("2")}, "Retry": Tree{}}}}, "policies.A.retry"},
		{"order", Tree{"policies": Tree{"A": Tree{"order": []any{"retry"}, "ORDER": []any{"retry"}, "retry": Tree{}}}}, "policies.A.order"},
		{"policies", Tree{"policies": Tree{"A": Tree{}}, "Policies": Tree{"B": Tree{}}}, "policies"},
		{"set", Tree{"policies": Tree{"A": Tree{}, "a": Tree{}}}, "policies.a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.tree)
			var e *Error
			if !errors.As(err, &e) || e.Path != tc.path || !strings.Contains(e.Reason, "duplicate") {
				t.Fatalf("got %v, want a duplicate at %s", err, tc.path)
			}
		})
	}
}

// Aliases are names of options only: sets named like an option and its
// alias are two sets, in a file and in the environment.
func TestSetsNamedLikeAliasesAreTwoSets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policies.json")
	writeAtomic(t, path, `{"policies": {"attempts": {"retry": {"attempts": 2}}, "maxRetries": {"retry": {"maxRetries": 3}}}}`)
	env := &Env{Environ: func() []string {
		return []string{"WHIZBANG__POLICIES__THRESHOLD__RETRY__ATTEMPTS=4", "WHIZBANG__POLICIES__FAILURETHRESHOLD__RETRY__ATTEMPTS=5"}
	}}
	r := NewRegistry(RegistryOptions{})
	l, err := Watch(context.Background(), r, LoaderOptions{}, &File{Path: path}, env)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for name, want := range map[string]int{"attempts": 2, "maxRetries": 3, "threshold": 4, "failureThreshold": 5} {
		st, err := r.State(name)
		if err != nil || st.Spec.Retry.MaxRetries != want {
			t.Errorf("%s: %+v, %v; want %d retries", name, st.Spec, err, want)
		}
	}
}
