package config_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/config"
	"github.com/whizbang-go/whizbang/fallback"
)

var errDown = errors.New("downstream is down")

// A registry of named sets, changed while in use.
func ExampleRegistry() {
	ctx := context.Background()
	reg := config.NewRegistry(config.RegistryOptions{})
	// A set defined in code: a breaker that opens after 2 failures.
	_ = reg.Configure("ServiceBreaker", func(p *config.PolicySpec) {
		p.SetBreakerThreshold(2)
		p.CircuitBreaker.BreakDuration = time.Hour
	})
	svc := reg.Set("ServiceBreaker") // resolve once, call many times
	call := func() error {
		_, err := config.Execute(ctx, svc, func(context.Context) (int, error) { return 0, errDown })
		return err
	}
	call()
	// Raise the threshold: the failure counted so far is kept.
	_ = reg.Configure("ServiceBreaker", func(p *config.PolicySpec) { p.SetBreakerThreshold(3) })
	call()
	st, _ := reg.State("ServiceBreaker")
	fmt.Println(st.Policies[0].Circuit.State, st.Policies[0].Circuit.ConsecutiveFailures)
	fmt.Println(errors.Is(call(), whizbang.ErrBrokenCircuit), errors.Is(call(), whizbang.ErrBrokenCircuit))

	// Emergency: let calls straight through.
	_ = reg.Disable("ServiceBreaker")
	fmt.Println(call())
	// Output:
	// closed 2
	// false true
	// downstream is down
}

// The seed's document, with a policy built in code named in an "order".
func ExampleParse() {
	doc, err := config.Parse([]byte(`{"policies": {
	  "OrderProcessing": {
	    "retry": {"attempts": 3, "backoff": "exponential", "delay": "10ms"},
	    "timeout": {"duration": 5000},
	    "circuitBreaker": {"threshold": 0.5}
	  },
	  "Prices": {"order": ["Zero", "OrderProcessing"]}
	}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := config.NewRegistry(config.RegistryOptions{})
	_ = reg.Register("Zero", fallback.Of(0.0))
	if err := reg.ApplyDocument("example", doc); err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"OrderProcessing", "Prices"} {
		st, _ := reg.State(name)
		fmt.Print(name, ":")
		for _, p := range st.Policies {
			fmt.Print(" ", p.Kind)
		}
		fmt.Println()
	}
	// An invalid change is rejected with its path; the old configuration stays.
	bad, _ := config.Parse([]byte(`{"policies": {"OrderProcessing": {"retry": {"jitter": 3}}}}`))
	fmt.Println(reg.ApplyDocument("example", bad))
	// Output:
	// OrderProcessing: retry circuitbreaker timeout
	// Prices: fallback retry circuitbreaker timeout
	// config: example: policies.OrderProcessing.retry.jitter: 3: must be within [0, 1]
}

// A file source, reloaded when the file changes.
func ExampleFile() {
	dir, _ := os.MkdirTemp("", "whizbang-config")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "policies.json")
	os.WriteFile(path, []byte(`{"policies": {"Api": {"timeout": {"duration": "2s"}}}}`), 0o644)

	reg := config.NewRegistry(config.RegistryOptions{})
	applied := make(chan struct{}, 10)
	loader, err := config.Watch(context.Background(), reg, config.LoaderOptions{
		Interval: time.Minute, // and on every change fsnotify reports
		OnApply:  func() { applied <- struct{}{} },
		OnError:  func(err error) { fmt.Println(err) },
	}, &config.File{Path: path}, &config.Env{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loader.Close()
	<-applied
	st, _ := reg.State("Api")
	fmt.Println(*st.Policies[0].Timeout)

	// An editor's save: a new file renamed over the old one.
	os.WriteFile(path+".tmp", []byte(`{"policies": {"Api": {"timeout": {"duration": 750}}}}`), 0o644)
	os.Rename(path+".tmp", path)
	for *st.Policies[0].Timeout != 750*time.Millisecond {
		<-applied
		st, _ = reg.State("Api")
	}
	fmt.Println(*st.Policies[0].Timeout)
	// Output:
	// 2s
	// 750ms
}
