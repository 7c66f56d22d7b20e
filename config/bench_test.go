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
