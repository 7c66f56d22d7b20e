package consulsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/goleak"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/config"
	"github.com/whizbang-go/whizbang/config/internal/livetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeKV speaks the part of Consul's KV HTTP API the source uses: GET
// /v1/kv/<key> (with ?recurse), blocking queries (?index=, ?wait=) and the
// X-Consul-Index header. It is not Consul: no Consul server can be
// installed here.
type fakeKV struct {
	mu      sync.Mutex
	index   uint64
	kv      map[string]kvEntry
	changed chan struct{} // closed and replaced on every write
	fail    bool
	failed  chan struct{} // gets a value for each request failed on purpose
}

type kvEntry struct {
	value  []byte
	modify uint64
}

func newFakeKV() *fakeKV {
	return &fakeKV{index: 1, kv: map[string]kvEntry{}, changed: make(chan struct{}), failed: make(chan struct{}, 100)}
}

func (f *fakeKV) put(key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	f.kv[key] = kvEntry{value: []byte(value), modify: f.index}
	close(f.changed)
	f.changed = make(chan struct{})
}

// restore empties the store and resets its index, as a restore from an
// older snapshot would: the index goes backwards.
func (f *fakeKV) restore(kv map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index = 1
	f.kv = map[string]kvEntry{}
	for k, v := range kv {
		f.kv[k] = kvEntry{value: []byte(v), modify: 1}
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeKV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.URL.Path, "/v1/kv/")
	if !ok || r.Method != http.MethodGet {
		http.Error(w, "not supported by the fake", http.StatusNotImplemented)
		return
	}
	q := r.URL.Query()
	want, _ := strconv.ParseUint(q.Get("index"), 10, 64)
	wait := 5 * time.Minute
	if s := q.Get("wait"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			wait = d
		}
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		f.mu.Lock()
		if f.fail {
			f.mu.Unlock()
			select {
			case f.failed <- struct{}{}:
			default:
			}
			http.Error(w, "unavailable", http.StatusInternalServerError)
			return
		}
		if want == 0 || f.index > want || f.index < want {
			break // holds the lock
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			f.mu.Lock()
			goto answer
		case <-r.Context().Done():
			return
		}
	}
answer:
	defer f.mu.Unlock()
	_, recurse := q["recurse"]
	type pair struct {
		Key                      string
		Value                    []byte
		CreateIndex, ModifyIndex uint64
		LockIndex                uint64
		Flags                    uint64
	}
	var out []pair
	for k, e := range f.kv {
		if k == key || (recurse && strings.HasPrefix(k, key)) {
			out = append(out, pair{Key: k, Value: e.value, CreateIndex: e.modify, ModifyIndex: e.modify})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	w.Header().Set("X-Consul-Index", strconv.FormatUint(f.index, 10))
	w.Header().Set("Content-Type", "application/json")
	if len(out) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	json.NewEncoder(w).Encode(out)
}

func newClient(t *testing.T, f *fakeKV) *api.Client {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	cfg.Transport = &http.Transport{}
	t.Cleanup(cfg.Transport.CloseIdleConnections)
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loaderOptions() (config.LoaderOptions, chan struct{}, chan error) {
	onApply, onError, ap, errs := livetest.Signals()
	return config.LoaderOptions{OnApply: onApply, OnError: onError}, ap, errs
}

func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return livetest.Wait(t, ch, what, 20*time.Second)
}

func TestConsulLiveReloadUnderLoad(t *testing.T) {
	f := newFakeKV()
	f.put("whizbang/policies", livetest.Doc(0))
	reg := config.NewRegistry(config.RegistryOptions{})
	o, ap, errs := loaderOptions()
	l, err := config.Watch(context.Background(), reg, o, &Source{Client: newClient(t, f), Key: "whizbang/policies"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait(t, ap, "the first load")
	live := reg.Set("Live")
	stop := make(chan struct{})
	done := livetest.Load(func() whizbang.Policy { return live.Policy() }, stop)
	for v := 1; v <= 100; v++ {
		f.put("whizbang/policies", livetest.Doc(v))
		for {
			wait(t, ap, fmt.Sprintf("version %d", v))
			if st, _ := reg.State("Live"); st.Spec.Timeout.Duration == time.Duration(v+1)*time.Hour {
				break
			}
		}
	}
	close(stop)
	if _, err := done(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("a reload failed: %v", err)
	default:
	}
}

func TestConsulPrefixInvalidDocumentAndRestore(t *testing.T) {
	f := newFakeKV()
	f.put("wb/a", `{"policies": {"A": {"retry": {"attempts": 2}}}}`)
	f.put("wb/b", `{"policies": {"A": {"timeout": {"duration": 100}}}}`)
	reg := config.NewRegistry(config.RegistryOptions{})
	o, ap, errs := loaderOptions()
	src := &Source{Client: newClient(t, f), Key: "wb/", Prefix: true, Backoff: 10 * time.Millisecond}
	l, err := config.Watch(context.Background(), reg, o, src)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait(t, ap, "the first load")
	if st, _ := reg.State("A"); st.Spec.Retry == nil || st.Spec.Timeout == nil {
		t.Fatal("the prefix's documents were not merged")
	}
	f.put("wb/b", `{"policies": {"A": {"timeout": {"duration": true}}}}`)
	err = wait(t, errs, "the rejection")
	var e *config.Error
	if !errors.As(err, &e) || e.Source != src.Name() || e.Path != "policies.A.timeout.duration" {
		t.Fatalf("got %v, want an error from %s at policies.A.timeout.duration", err, src.Name())
	}
	if st, _ := reg.State("A"); st.Spec.Timeout.Duration != 100*time.Millisecond {
		t.Fatal("the old configuration is not live")
	}
	// Consul fails for a while, then comes back restored from an older
	// snapshot: the index goes backwards, and the watch starts again.
	f.mu.Lock()
	f.fail = true
	close(f.changed) // wake the blocking query, which now fails
	f.changed = make(chan struct{})
	f.mu.Unlock()
	wait(t, f.failed, "a failed query")
	wait(t, f.failed, "a retried query")
	f.mu.Lock()
	f.fail = false
	f.mu.Unlock()
	f.restore(map[string]string{"wb/a": `{"policies": {"A": {"timeout": {"duration": 300}}}}`})
	for {
		wait(t, ap, "the restored document")
		if st, _ := reg.State("A"); st.Spec.Timeout.Duration == 300*time.Millisecond && st.Spec.Retry == nil {
			break
		}
	}
}

// A Source without a client is an error, not a panic (a panic in Watch
// would end the program: it runs in the loader's goroutine).
func TestNilClientIsAnError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	src := &Source{Key: "wb/policies"}
	for _, c := range []struct {
		name string
		f    func() error
	}{
		{"Load", func() error { _, err := src.Load(ctx); return err }},
		{"Watch", func() error { return src.Watch(ctx, func() {}) }},
		{"config.Watch", func() error {
			l, err := config.Watch(ctx, config.NewRegistry(config.RegistryOptions{}), config.LoaderOptions{}, src)
			if err == nil {
				l.Close()
			}
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panicked: %v", p)
				}
			}()
			if err := c.f(); !errors.Is(err, ErrNoClient) || ctx.Err() != nil {
				t.Fatalf("got %v (context: %v), want ErrNoClient at once", err, ctx.Err())
			}
		})
	}
}

// A document that repeats a key is rejected with the key's path.
func TestConsulRepeatedKeyIsRejected(t *testing.T) {
	f := newFakeKV()
	f.put("wb/a", `{"policies": {"A": {"retry": {"attempts": 2}}}}`)
	f.put("wb/b", `{"policies": {"A": {"retry": {"attempts": 2, "attempts": 1000}}}}`)
	for _, src := range []*Source{
		{Client: newClient(t, f), Key: "wb/b"},
		{Client: newClient(t, f), Key: "wb/", Prefix: true},
	} {
		_, err := src.Load(context.Background())
		var e *config.Error
		if !errors.As(err, &e) || e.Source != src.Name() || e.Path != "policies.A.retry.attempts" || !strings.Contains(e.Reason, "duplicate key") {
			t.Fatalf("%s: got %v, want a duplicate key at policies.A.retry.attempts", src.Name(), err)
		}
		if src.Prefix && !strings.Contains(e.Reason, "wb/b") {
			t.Errorf("%s: %q does not name the key wb/b", src.Name(), e.Reason)
		}
	}
}
