package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/config/internal/livetest"
)

// writeAtomic writes data as editors do: a temporary file renamed over the
// original.
func writeAtomic(t testing.TB, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// applied returns LoaderOptions whose OnApply and OnError feed channels.
func applied() (LoaderOptions, chan struct{}, chan error) {
	onApply, onError, ap, errs := livetest.Signals()
	return LoaderOptions{OnApply: onApply, OnError: onError}, ap, errs
}

func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return livetest.Wait(t, ch, what, 10*time.Second)
}

func TestFileSourceReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policies.json")
	writeAtomic(t, path, seedDoc)
	r := NewRegistry(RegistryOptions{})
	o, ap, errs := applied()
	l, err := Watch(context.Background(), r, o, &File{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait(t, ap, "the first load") // Watch's own load
	timeoutOf := func() time.Duration {
		st, _ := r.State("OrderProcessing")
		return *st.Policies[len(st.Policies)-1].Timeout
	}
	if timeoutOf() != 5*time.Second {
		t.Fatal("the document was not applied")
	}

	// An atomic rename.
	writeAtomic(t, path, strings.Replace(seedDoc, "5000", `"7s"`, 1))
	wait(t, ap, "the renamed file")
	if got := timeoutOf(); got != 7*time.Second {
		t.Fatalf("timeout = %v after an atomic rename, want 7s", got)
	}
	// A write in place.
	if err := os.WriteFile(path, []byte(strings.Replace(seedDoc, "5000", "9000", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	wait(t, ap, "the file written in place")
	for timeoutOf() != 9*time.Second { // a partial read may have been rejected first
		wait(t, ap, "the complete file")
	}
	drain(errs)
	// An invalid document: rejected, the old one stays live.
	writeAtomic(t, path, strings.Replace(seedDoc, `"attempts": 3`, `"attempts": "three"`, 1))
	err = wait(t, errs, "the rejection")
	var e *Error
	if !errors.As(err, &e) || e.Source != "file "+path || e.Path != "policies.OrderProcessing.retry.attempts" {
		t.Fatalf("got %v, want an *Error from the file at policies.OrderProcessing.retry.attempts", err)
	}
	if timeoutOf() != 9*time.Second || l.Err() == nil {
		t.Fatal("the old configuration is not live after a rejected document")
	}
}

func drain[T any](ch chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestFileSourceReloadsOnInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	writeAtomic(t, path, seedDoc)
	r := NewRegistry(RegistryOptions{})
	o, ap, _ := applied()
	o.Interval = 5 * time.Millisecond
	// A source that is not a Watcher: only the interval reloads it.
	l, err := Watch(context.Background(), r, o, plainSource{&File{Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait(t, ap, "the first load")
	writeAtomic(t, path, strings.Replace(seedDoc, "5000", "6000", 1))
	wait(t, ap, "the interval reload")
}

type plainSource struct{ f *File }

func (p plainSource) Name() string                           { return p.f.Name() }
func (p plainSource) Load(ctx context.Context) (Tree, error) { return p.f.Load(ctx) }

func TestLiveFileReloadUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policies.json")
	writeAtomic(t, path, livetest.Doc(0))
	r := NewRegistry(RegistryOptions{})
	o, ap, errs := applied()
	l, err := Watch(context.Background(), r, o, &File{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait(t, ap, "the first load")
	stop := make(chan struct{})
	live := r.Set("Live")
	done := livetest.Load(func() whizbang.Policy { return live.Policy() }, stop)
	var worst time.Duration
	for v := 1; v <= 100; v++ {
		start := time.Now()
		writeAtomic(t, path, livetest.Doc(v))
		wait(t, ap, fmt.Sprintf("version %d", v))
		worst = max(worst, time.Since(start))
		st, _ := r.State("Live")
		if got := st.Spec.Timeout.Duration; got != time.Duration(v+1)*time.Hour {
			t.Fatalf("version %d: timeout %v", v, got)
		}
	}
	close(stop)
	calls, err := done()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("a reload failed: %v", err)
	default:
	}
	st, _ := r.State("Live")
	if c := st.Policies[1].Circuit; c.State != whizbang.Closed {
		t.Fatalf("breaker %v", c.State)
	}
	t.Logf("%d calls over 100 reloads; slowest write-to-applied %v", calls, worst)
}
