package etcdsource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/config"
	"github.com/whizbang-go/whizbang/config/internal/livetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The etcd client's gRPC and zap goroutines of clients closed at
		// the end of a test may still be winding down.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreTopFunction("go.etcd.io/etcd/client/v3.(*lessor).deadlineLoop"),
	)
}

func requireServers(t *testing.T, what string) {
	if os.Getenv("WHIZBANG_REQUIRE_SERVERS") == "1" {
		t.Fatalf("%s (WHIZBANG_REQUIRE_SERVERS=1)", what)
	}
	t.Skip(what)
}

func client(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sharedClient(t *testing.T) *clientv3.Client {
	ep := os.Getenv("WHIZBANG_ETCD_ENDPOINT")
	if ep == "" {
		requireServers(t, "WHIZBANG_ETCD_ENDPOINT is not set")
	}
	return client(t, ep)
}

func put(t testing.TB, c *clientv3.Client, key, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, key, val); err != nil {
		t.Fatal(err)
	}
}

func loaderOptions() (config.LoaderOptions, chan struct{}, chan error) {
	onApply, onError, ap, errs := livetest.Signals()
	return config.LoaderOptions{OnApply: onApply, OnError: onError}, ap, errs
}

func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return livetest.Wait(t, ch, what, 30*time.Second)
}

func uniqueKey(t *testing.T) string {
	return fmt.Sprintf("/whizbang-test/%s/%d", t.Name(), time.Now().UnixNano())
}

func TestLiveEtcdReloadUnderLoad(t *testing.T) {
	c := sharedClient(t)
	key := uniqueKey(t)
	put(t, c, key, livetest.Doc(0))
	reg := config.NewRegistry(config.RegistryOptions{})
	o, ap, errs := loaderOptions()
	l, err := config.Watch(context.Background(), reg, o, &Source{Client: c, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait(t, ap, "the first load")
	live := reg.Set("Live")
	stop := make(chan struct{})
	done := livetest.Load(func() whizbang.Policy { return live.Policy() }, stop)
	var worst time.Duration
	for v := 1; v <= 100; v++ {
		start := time.Now()
		put(t, c, key, livetest.Doc(v))
		for {
			wait(t, ap, fmt.Sprintf("version %d", v))
			if st, _ := reg.State("Live"); st.Spec.Timeout.Duration == time.Duration(v+1)*time.Hour {
				break
			}
		}
		worst = max(worst, time.Since(start))
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
	t.Logf("%d calls over 100 etcd changes; slowest put-to-applied %v", calls, worst)
}

func TestEtcdInvalidDocumentKeepsTheOldOne(t *testing.T) {
	c := sharedClient(t)
	key := uniqueKey(t)
	put(t, c, key+"/a", `{"policies": {"A": {"retry": {"attempts": 2}}}}`)
	put(t, c, key+"/b", `{"policies": {"A": {"timeout": {"duration": 100}}}}`)
	reg := config.NewRegistry(config.RegistryOptions{})
	o, ap, errs := loaderOptions()
	src := &Source{Client: c, Key: key + "/", Prefix: true}
	l, err := config.Watch(context.Background(), reg, o, src)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait(t, ap, "the first load")
	st, _ := reg.State("A")
	if st.Spec.Retry == nil || st.Spec.Timeout == nil {
		t.Fatalf("the prefix's documents were not merged: %+v", st.Spec)
	}
	put(t, c, key+"/b", `{"policies": {"A": {"timeout": {"duration": "soon"}}}}`)
	err = wait(t, errs, "the rejection")
	var e *config.Error
	if !errors.As(err, &e) || e.Source != src.Name() || e.Path != "policies.A.timeout.duration" {
		t.Fatalf("got %v, want an error from %s at policies.A.timeout.duration", err, src.Name())
	}
	if st, _ := reg.State("A"); st.Spec.Timeout.Duration != 100*time.Millisecond {
		t.Fatal("the old configuration is not live")
	}
}

// etcdProcess is an etcd member of the test's own, to kill and restart.
type etcdProcess struct {
	bin, dir     string
	client, peer int
	cmd          *exec.Cmd
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (e *etcdProcess) endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", e.client) }

func (e *etcdProcess) start(t *testing.T) {
	t.Helper()
	peer := fmt.Sprintf("http://127.0.0.1:%d", e.peer)
	e.cmd = exec.Command(e.bin, "--name", "restart-test", "--data-dir", filepath.Join(e.dir, "data"),
		"--listen-client-urls", e.endpoint(), "--advertise-client-urls", e.endpoint(),
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "restart-test="+peer)
	log, err := os.OpenFile(filepath.Join(e.dir, "log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	e.cmd.Stdout, e.cmd.Stderr = log, log
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", e.client), time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(e.dir, "log"))
			t.Fatalf("etcd did not start: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *etcdProcess) stop() {
	if e.cmd != nil && e.cmd.Process != nil {
		e.cmd.Process.Kill()
		e.cmd.Wait()
		e.cmd = nil
	}
}

func TestEtcdRestartedMidWatchRecovers(t *testing.T) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		requireServers(t, "etcd is not installed")
	}
	e := &etcdProcess{bin: bin, dir: t.TempDir(), client: freePort(t), peer: freePort(t)}
	e.start(t)
	defer e.stop()
	c := client(t, e.endpoint())
	put(t, c, "/policies", `{"policies": {"A": {"timeout": {"duration": 1000}}}}`)
	reg := config.NewRegistry(config.RegistryOptions{})
	o, ap, _ := loaderOptions()
	l, err := config.Watch(context.Background(), reg, o, &Source{Client: c, Key: "/policies", Backoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait(t, ap, "the first load")
	timeoutOf := func() time.Duration {
		st, _ := reg.State("A")
		return st.Spec.Timeout.Duration
	}
	for i, d := range []int{2000, 3000} {
		e.stop()
		e.start(t)
		put(t, c, "/policies", fmt.Sprintf(`{"policies": {"A": {"timeout": {"duration": %d}}}}`, d))
		for timeoutOf() != time.Duration(d)*time.Millisecond {
			wait(t, ap, fmt.Sprintf("the change after restart %d", i+1))
		}
	}
	// A change made while etcd is down is seen too, from another client
	// writing after the restart, and so is one made in the same revision
	// gap: the watch resumes from the revision it last saw.
	e.stop()
	e.start(t)
	put(t, c, "/policies", `{"policies": {"A": {"timeout": {"duration": 4000}}}}`)
	put(t, c, "/policies", `{"policies": {"A": {"timeout": {"duration": 5000}}}}`)
	for timeoutOf() != 5*time.Second {
		wait(t, ap, "the last change")
	}
}

// BenchmarkEtcdReload measures a change from the Put to the configuration
// applied, through the watch.
func BenchmarkEtcdReload(b *testing.B) {
	ep := os.Getenv("WHIZBANG_ETCD_ENDPOINT")
	if ep == "" {
		b.Skip("WHIZBANG_ETCD_ENDPOINT is not set")
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	key := fmt.Sprintf("/whizbang-bench/%d", time.Now().UnixNano())
	put(b, c, key, livetest.Doc(0))
	reg := config.NewRegistry(config.RegistryOptions{})
	o, ap, _ := loaderOptions()
	l, err := config.Watch(context.Background(), reg, o, &Source{Client: c, Key: key})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	wait(b, ap, "the first load")
	v := 0
	for b.Loop() {
		v++
		put(b, c, key, livetest.Doc(v))
		for {
			wait(b, ap, "the change")
			if st, _ := reg.State("Live"); st.Spec.Timeout.Duration == time.Duration(v+1)*time.Hour {
				break
			}
		}
	}
}

// A Source without a client is an error, not a panic (a panic in Watch
// would end the program: it runs in the loader's goroutine).
func TestNilClientIsAnError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	src := &Source{Key: "/whizbang"}
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
func TestEtcdRepeatedKeyIsRejected(t *testing.T) {
	c := sharedClient(t)
	key := uniqueKey(t)
	put(t, c, key+"/a", `{"policies": {"A": {"retry": {"attempts": 2}}}}`)
	put(t, c, key+"/b", `{"policies": {"A": {"retry": {"attempts": 2, "attempts": 1000}}}}`)
	for _, src := range []*Source{{Client: c, Key: key + "/b"}, {Client: c, Key: key + "/", Prefix: true}} {
		_, err := src.Load(context.Background())
		var e *config.Error
		if !errors.As(err, &e) || e.Source != src.Name() || e.Path != "policies.A.retry.attempts" || !strings.Contains(e.Reason, "duplicate key") {
			t.Fatalf("%s: got %v, want a duplicate key at policies.A.retry.attempts", src.Name(), err)
		}
		if src.Prefix && !strings.Contains(e.Reason, key+"/b") {
			t.Errorf("%s: %q does not name the key %s/b", src.Name(), e.Reason, key)
		}
	}
}
