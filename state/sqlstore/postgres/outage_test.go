package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/postgres"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// pgServer is a throwaway PostgreSQL server of one test, started as
// scripts/lib/servers.sh does: initdb and postgres as the postgres user,
// on a free loopback port, in a temporary directory.
type pgServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startPostgres starts a server for t, or skips (fails when
// WHIZBANG_REQUIRE_SERVERS=1) when PostgreSQL is not installed.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 || os.Geteuid() != 0 {
		msg := "postgres not available (need /usr/lib/postgresql/*/bin and root): run ./scripts/test"
		if os.Getenv("WHIZBANG_REQUIRE_SERVERS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir, err := os.MkdirTemp("", "whizbang-pg-outage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, d := range []string{"data", "sock"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	p := &pgServer{t: t, bin: filepath.Dir(bins[len(bins)-1]), dir: dir}
	if out, err := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(p.bin, "initdb"),
		"-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *pgServer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *pgServer) start() {
	p.t.Helper()
	p.cmd = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(p.bin, "postgres"),
		"-D", filepath.Join(p.dir, "data"), "-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+filepath.Join(p.dir, "sock"),
		"-c", "fsync=off")
	p.cmd.Stdout, p.cmd.Stderr = nil, nil
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(p.cmd, p.done)
	for range 300 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p.port)); err == nil {
			c.Close()
			time.Sleep(50 * time.Millisecond) // accepting connections
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatal("postgres did not start listening within 15s")
}

// signal sends sig to the server: runuser, the postmaster and its
// children (the backends).
func (p *pgServer) signal(sig syscall.Signal) {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "data", "postmaster.pid"))
	if err != nil {
		p.t.Fatal(err)
	}
	pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		p.t.Fatal(err)
	}
	// runuser too: it stops itself when its child stops, and must go on.
	pids := []int{p.cmd.Process.Pid, pm}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pm, pm)); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	for _, pid := range pids {
		syscall.Kill(pid, sig)
	}
}

// stop shuts the server down as a crash would (immediate shutdown: SIGQUIT
// to the postmaster; committed writes survive in the WAL).
func (p *pgServer) stop() {
	if p.cmd == nil {
		return
	}
	if b, err := os.ReadFile(filepath.Join(p.dir, "data", "postmaster.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])); err == nil {
			syscall.Kill(pid, syscall.SIGQUIT)
		}
	}
	// runuser may have stopped itself after the SIGCONT of signal (it
	// follows its child's stops): wake it until it ends.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	give := time.After(10 * time.Second)
	for waiting := true; waiting; {
		select {
		case <-p.done:
			waiting = false
		case <-tick.C:
			syscall.Kill(p.cmd.Process.Pid, syscall.SIGCONT)
		case <-give:
			p.cmd.Process.Kill()
			<-p.done
			waiting = false
		}
	}
	p.cmd = nil
}

// TestPostgresOutage stops the server mid-run: every store call ends
// within OpTimeout plus a margin, with an error; a fail-open limiter keeps
// admitting on local buckets and a fail-closed one rejects, both without
// waiting on the dead server; no goroutines are left behind; when the
// server returns the store works again with its state intact.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL")
	}
	srv := startPostgres(t)
	const opTimeout = 300 * time.Millisecond
	const margin = 300 * time.Millisecond
	ctx := context.Background()
	o := sqlstore.Options{Config: state.Config{Prefix: statetest.Prefix(t)}, OpTimeout: opTimeout}
	s, err := postgres.Open(ctx, srv.url(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	open, ok, err := s.SwapBreaker(ctx, "b", 0, state.Snapshot{State: whizbang.Open})
	if err != nil || !ok {
		t.Fatalf("SwapBreaker: %v, %v", ok, err)
	}
	lim := []state.Limit{state.Limit{TokenLimit: 100, Window: time.Hour}.WithDefaults()}
	if d, err := s.Take(ctx, "l", lim, 40); err != nil || !d.Allowed {
		t.Fatalf("Take: %+v, %v", d, err)
	}
	// Local buckets (fail open) large enough for every call of the test.
	failOpen := ratelimit.MustNew(ratelimit.Options{Key: "open", Limits: []ratelimit.Limit{{TokenLimit: 1_000_000}},
		Store: s, StoreTimeout: opTimeout})
	failClosed := ratelimit.MustNew(ratelimit.Options{Key: "closed", Limits: []ratelimit.Limit{{TokenLimit: 1000}},
		Store: s, StoreTimeout: opTimeout, FailClosed: true})
	for _, l := range []*ratelimit.Limiter{failOpen, failClosed} {
		if _, err := whizbang.Execute(ctx, l, okCall); err != nil {
			t.Fatalf("%s limiter before the outage: %v", l.Key, err)
		}
	}
	watchErr := make(chan error, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watching := make(chan struct{}, 1)
	go func() {
		watchErr <- s.WatchBreaker(watchCtx, "b", func() {
			select {
			case watching <- struct{}{}:
			default:
			}
		})
	}()
	<-watching
	runtime.GC()
	before := runtime.NumGoroutine()

	// First the server hangs (every process stopped): calls wait for it
	// until OpTimeout, no longer.
	srv.signal(syscall.SIGSTOP)
	frozen := time.Now()
	hung, hungCalls := outage(t, "hung server", 1200*time.Millisecond, s, lim, open, failOpen, failClosed)
	// The watch pings the server after a second without news.
	select {
	case err := <-watchErr:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("WatchBreaker when the server hung: %v; want an error saying the watch was lost", err)
		}
		t.Logf("watch lost %v after the server hung: %v", time.Since(frozen), err)
	case <-time.After(time.Second + opTimeout + margin):
		t.Error("WatchBreaker did not return within 1s + OpTimeout after the server hung")
	}
	srv.signal(syscall.SIGCONT)
	if hung["LoadBreaker"] < opTimeout/2 {
		t.Errorf("calls to a hung server returned in %v; want them to wait for it (OpTimeout %v)", hung["LoadBreaker"], opTimeout)
	}
	for name, el := range hung {
		if el > opTimeout+margin {
			t.Errorf("%s with a hung server took %v; want at most OpTimeout %v + %v", name, el, opTimeout, margin)
		}
	}

	// Then it goes away.
	t0 := time.Now()
	srv.stop()
	t.Logf("server stopped in %v", time.Since(t0))

	// A breaker carries on with its local state: it runs calls, and trips
	// on its own failures, each call bounded by its StoreTimeout.
	br := circuitbreaker.MustNew(circuitbreaker.Options{Key: "ob", Store: s, FailureThreshold: 3,
		BreakDuration: time.Minute, StoreTimeout: opTimeout})
	boom := errors.New("boom")
	for i := range 5 {
		start := time.Now()
		_, err := whizbang.Execute(ctx, br, func(context.Context) (int, error) {
			if i == 0 {
				return 1, nil
			}
			return 0, boom
		})
		if el := time.Since(start); el > opTimeout+margin {
			t.Errorf("breaker call %d with the server down took %v", i, el)
		}
		switch {
		case i == 0 && err != nil:
			t.Errorf("breaker with the server down: first call %v; want it run", err)
		case i >= 1 && i <= 3 && !errors.Is(err, boom):
			t.Errorf("breaker with the server down: call %d: %v; want the call's error", i, err)
		case i == 4 && !errors.Is(err, whizbang.ErrBrokenCircuit):
			t.Errorf("breaker with the server down, after 3 failures: %v; want it open (local state)", err)
		}
	}

	down, _ := outage(t, "server down", 1500*time.Millisecond, s, lim, open, failOpen, failClosed)
	for name, el := range down {
		if el > opTimeout+margin {
			t.Errorf("%s with the server down took %v; want at most OpTimeout %v + %v", name, el, opTimeout, margin)
		}
	}

	// The server returns: the store works again, with the state it had.
	srv.start()
	back := time.Now()
	var got state.Snapshot
	for {
		got, err = s.LoadBreaker(ctx, "b")
		if err == nil || time.Since(back) > 10*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("LoadBreaker 10s after the server returned: %v", err)
	}
	t.Logf("store working again %v after the server returned", time.Since(back))
	if got.State != whizbang.Open || got.Version != open.Version {
		t.Errorf("breaker after the outage: %+v; want the open snapshot %+v", got, open)
	}
	// A Take that timed out while the server hung was sent all the same,
	// and the server may have run it when it woke, before it stopped: so
	// may the bucket have lost one token for each of them.
	lost := float64(hungCalls["Take"])
	if d, err := s.Take(ctx, "l", lim, 0); err != nil || d.Remaining < 59.9-lost || d.Remaining > 61 {
		t.Errorf("bucket after the outage: %+v, %v; want 60 tokens left, less at most the %v takes sent to the hung server", d, err, lost)
	}
	// The limiters use the store again after their backoff.
	time.Sleep(ratelimit.DefaultStoreBackoff + 100*time.Millisecond)
	for _, l := range []*ratelimit.Limiter{failOpen, failClosed} {
		if _, err := whizbang.Execute(ctx, l, okCall); err != nil {
			t.Errorf("%s limiter after the outage: %v", l.Key, err)
		}
	}
	br.Close()
	// No goroutine growth: the watch has ended; allow the pool's own.
	var after int
	for range 50 {
		runtime.GC()
		if after = runtime.NumGoroutine(); after <= before {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after > before {
		t.Errorf("goroutines: %d before the outage (watch running), %d after it; want no growth", before, after)
	}
}

//go:noinline
func okCall(context.Context) (int, error) { return 42, nil }

// outage calls every store operation and both limiters, concurrently and
// again and again for d, and returns the slowest call of each and how many
// calls of each it made.
func outage(t *testing.T, phase string, d time.Duration, s *sqlstore.Store, lim []state.Limit, open state.Snapshot,
	failOpen, failClosed *ratelimit.Limiter) (slowest map[string]time.Duration, calls map[string]int) {
	ctx := context.Background()
	ops := map[string]func(context.Context) error{
		"Take":        func(ctx context.Context) error { _, err := s.Take(ctx, "l", lim, 1); return err },
		"LoadBreaker": func(ctx context.Context) error { _, err := s.LoadBreaker(ctx, "b"); return err },
		"SwapBreaker": func(ctx context.Context) error {
			_, _, err := s.SwapBreaker(ctx, "b", open.Version, state.Snapshot{State: whizbang.HalfOpen})
			return err
		},
		"AddFailures": func(ctx context.Context) error { _, err := s.AddFailures(ctx, "b", 1, 1, time.Minute); return err },
		"TakeProbe":   func(ctx context.Context) error { _, err := s.TakeProbe(ctx, "b", 1, 1, time.Second); return err },
		"GetEntry":    func(ctx context.Context) error { _, _, err := s.GetEntry(ctx, "e"); return err },
		"SetEntry":    func(ctx context.Context) error { return s.SetEntry(ctx, "e", []byte("v"), 0) },
	}
	// The policies' fail modes: nil when kept.
	modes := map[string]func(context.Context) error{
		"failOpen": func(ctx context.Context) error {
			if _, err := whizbang.Execute(ctx, failOpen, okCall); err != nil {
				return fmt.Errorf("fail-open limiter rejected a call: %w", err)
			}
			return nil
		},
		"failClosed": func(ctx context.Context) error {
			_, err := whizbang.Execute(ctx, failClosed, okCall)
			var se *ratelimit.StoreError
			if !errors.As(err, &se) || !errors.Is(err, whizbang.ErrRateLimited) {
				return fmt.Errorf("fail-closed limiter: %v; want a *ratelimit.StoreError", err)
			}
			return nil
		},
	}
	var mu sync.Mutex
	slowest, calls = map[string]time.Duration{}, map[string]int{}
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	run := func(name string, op func(context.Context) error, wantErr bool) {
		for time.Now().Before(deadline) {
			start := time.Now()
			err := op(ctx)
			el := time.Since(start)
			mu.Lock()
			slowest[name] = max(slowest[name], el)
			calls[name]++
			mu.Unlock()
			switch {
			case wantErr && err == nil:
				t.Errorf("%s (%s): no error", name, phase)
				return
			case !wantErr && err != nil:
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	for name, op := range ops {
		wg.Go(func() { run(name, op, true) })
	}
	for name, op := range modes {
		wg.Go(func() { run(name, op, false) })
	}
	wg.Wait()
	t.Logf("%s: slowest calls: %v", phase, slowest)
	return slowest, calls
}
