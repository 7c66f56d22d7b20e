package config

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whizbang-go/whizbang"
)

var benchSets = map[string]string{
	"breaker": `{"policies": {"S": {"circuitBreaker": {}}}}`,
	"full":    `{"policies": {"S": {"retry": {}, "circuitBreaker": {}, "rateLimit": {"tokenLimit": 1000000000}, "bulkhead": {"maxConcurrency": 1000}}}}`,
}

// BenchmarkExecute compares a call through a named set (an atomic load,
// then whizbang.Execute) with whizbang.Execute over the same wrap held in a
// variable.
func BenchmarkExecute(b *testing.B) {
	for _, name := range []string{"breaker", "full"} {
		r := NewRegistry(RegistryOptions{})
		mustApply(b, r, benchSets[name])
		s, ctx := r.Set("S"), context.Background()
		var static whizbang.Policy = s.Policy()
		b.Run(name+"/static/seq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				whizbang.Execute(ctx, static, answer)
			}
		})
		b.Run(name+"/set/seq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Execute(ctx, s, answer)
			}
		})
		b.Run(name+"/static/par", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					whizbang.Execute(ctx, static, answer)
				}
			})
		})
		b.Run(name+"/set/par", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					Execute(ctx, s, answer)
				}
			})
		})
	}
}

// BenchmarkApply measures parsing and applying a changed document: the
// breaker is reconfigured in place, the limiter rescaled, the timeout made
// anew.
func BenchmarkApply(b *testing.B) {
	r := NewRegistry(RegistryOptions{})
	doc := `{"policies": {"OrderProcessing": {"retry": {"attempts": 3, "backoff": "exponential"}, "timeout": {"duration": %d}, "circuitBreaker": {"threshold": %d}, "rateLimit": {"tokenLimit": %d}}}}`
	i := 0
	for b.Loop() {
		i++
		d, err := Parse(fmt.Appendf(nil, doc, 1000+i, 5+i%5, 100+i%7))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.ApplyDocument("bench", d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileReload measures a file reload from the write (an atomic
// rename) to the configuration applied, through fsnotify.
func BenchmarkFileReload(b *testing.B) {
	path := filepath.Join(b.TempDir(), "policies.json")
	writeAtomic(b, path, seedDoc)
	r := NewRegistry(RegistryOptions{})
	o, ap, errs := applied()
	l, err := Watch(context.Background(), r, o, &File{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	wait(b, ap, "the first load")
	i := 0
	for b.Loop() {
		i++
		writeAtomic(b, path, strings.Replace(seedDoc, "5000", fmt.Sprint(5000+i), 1))
		for {
			wait(b, ap, "the reload")
			if st, _ := r.State("OrderProcessing"); st.Spec.Timeout.Duration.Milliseconds() == int64(5000+i) {
				break
			}
		}
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// manySets returns a document of n sets of three sections each.
func manySets(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"policies": {`)
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `"Set%d": {"retry": {"attempts": %d, "backoff": "exponential"}, "circuitBreaker": {"threshold": 0.5, "breakDuration": "30s"}, "timeout": {"duration": 5000}}`, i, 1+i%5)
	}
	b.WriteString("}}")
	return []byte(b.String())
}

// chainDoc returns a document of n sets, each but the last naming the next
// in its order.
func chainDoc(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"policies": {`)
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		if i < n-1 {
			fmt.Fprintf(&b, `"Set%d": {"order": ["retry", "Set%d"], "retry": {"attempts": 1}}`, i, i+1)
		} else {
			fmt.Fprintf(&b, `"Set%d": {"retry": {"attempts": 1}}`, i)
		}
	}
	b.WriteString("}}")
	return []byte(b.String())
}

// BenchmarkParse measures parsing a document of 1, 1000 and 10000 sets, and
// of a chain of 400 sets naming each other: Parse (ParseTree and Decode),
// and what a Loader does with the document of one source (ParseTree, Merge,
// Decode). Each should grow linearly with the document.
func BenchmarkParse(b *testing.B) {
	docs := []struct {
		name string
		data []byte
	}{
		{"sets=1", manySets(1)},
		{"sets=1000", manySets(1000)},
		{"sets=10000", manySets(10000)},
		{"chain=400", chainDoc(400)},
	}
	for _, d := range docs {
		b.Run("Parse/"+d.name, func(b *testing.B) {
			b.SetBytes(int64(len(d.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(d.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, d := range docs {
		b.Run("Loader/"+d.name, func(b *testing.B) {
			b.SetBytes(int64(len(d.data)))
			b.ReportAllocs()
			for b.Loop() {
				t, err := ParseTree(d.data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Decode(Merge(map[string]int{}, t)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEnv measures reading 1, 1000 and 10000 sets from environment
// variables, three a set.
func BenchmarkEnv(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		var vars []string
		for i := range n {
			vars = append(vars,
				fmt.Sprintf("WHIZBANG__POLICIES__SET%d__RETRY__ATTEMPTS=%d", i, 1+i%5),
				fmt.Sprintf("WHIZBANG__POLICIES__SET%d__CIRCUITBREAKER__THRESHOLD=0.5", i),
				fmt.Sprintf("WHIZBANG__POLICIES__SET%d__TIMEOUT__DURATION=5s", i))
		}
		env := &Env{Environ: func() []string { return vars }}
		b.Run(fmt.Sprintf("sets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				t, err := env.Load(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Decode(t); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
