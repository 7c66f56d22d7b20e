package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/redisstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// server is a redis-server of the test's own, on a port of its own, that
// the test can stop and start again.
type server struct {
	t     *testing.T
	bin   string
	port  int
	dir   string
	extra []string // more redis-server arguments
	cmd   *exec.Cmd
}

// startServer starts a throwaway redis-server on a free loopback port. It
// skips t when redis-server is not installed, or fails it when
// WHIZBANG_REQUIRE_SERVERS=1.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not installed: run ./scripts/test, which installs it"
		if os.Getenv("WHIZBANG_REQUIRE_SERVERS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &server{t: t, bin: bin, port: port, dir: t.TempDir(), extra: extra}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *server) start() {
	s.t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir}, s.extra...)
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer: %v", s.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) signal(sig syscall.Signal) {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// phase tallies the calls of one kind made during one phase of the test.
type phase struct {
	calls, ok, storeRejected, other atomic.Int64
	maxNanos                        atomic.Int64
	firstOther                      atomic.Pointer[error]
}

func (p *phase) record(d time.Duration, err error) {
	p.calls.Add(1)
	for {
		m := p.maxNanos.Load()
		if int64(d) <= m || p.maxNanos.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	var se *ratelimit.StoreError
	switch {
	case err == nil:
		p.ok.Add(1)
	case errors.As(err, &se):
		p.storeRejected.Add(1)
	default:
		p.other.Add(1)
		p.firstOther.CompareAndSwap(nil, &err)
	}
}

func (p *phase) String() string {
	s := fmt.Sprintf("%d calls: %d ok, %d rejected for the store, %d other errors; slowest %v",
		p.calls.Load(), p.ok.Load(), p.storeRejected.Load(), p.other.Load(), time.Duration(p.maxNanos.Load()))
	if e := p.firstOther.Load(); e != nil {
		s += fmt.Sprintf(" (first: %v)", *e)
	}
	return s
}

//go:noinline
func ok42(context.Context) (int, error) { return 42, nil }

// TestOutage stops the real server mid-run, first by freezing it (SIGSTOP:
// connections hang, so every operation runs into its timeout) and then by
// killing it (connections refused), and starts it again. Four stateful
// policies on one store keep serving calls from 16 goroutines throughout.
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("real waits of a few seconds")
	}
	srv := startServer(t)
	const opTimeout = 200 * time.Millisecond
	const margin = 150 * time.Millisecond

	var dials atomic.Int64
	client := redis.NewClient(&redis.Options{
		Addr:                  srv.addr(),
		ContextTimeoutEnabled: true,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	})
	defer client.Close()
	st, err := redisstore.New(client, redisstore.Options{Config: state.Config{Prefix: statetest.Prefix(t)}, OpTimeout: opTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	limit := []ratelimit.Limit{{TokenLimit: 1e6, Window: time.Second}}
	open := ratelimit.MustNew(ratelimit.Options{Key: "open", Limits: limit, Store: st})
	closed := ratelimit.MustNew(ratelimit.Options{Key: "closed", Limits: limit, Store: st, FailClosed: true})
	br := circuitbreaker.MustNew(circuitbreaker.Options{Key: "breaker", Store: st, FailureThreshold: 1000, BreakDuration: time.Minute})
	defer br.Close()
	ca := cache.MustNew[int](cache.Options{Key: "cache", Store: st, MaxEntries: 16,
		KeyFunc: func(context.Context, *whizbang.Execution) (string, bool) {
			return strconv.Itoa(rand.IntN(1 << 30)), true // always a miss in memory
		}})
	policies := []struct {
		name string
		call func(context.Context) (int, error)
	}{
		{"fail-open limiter", func(ctx context.Context) (int, error) { return whizbang.Execute(ctx, open, ok42) }},
		{"fail-closed limiter", func(ctx context.Context) (int, error) { return whizbang.Execute(ctx, closed, ok42) }},
		{"breaker", func(ctx context.Context) (int, error) { return whizbang.Execute(ctx, br, ok42) }},
		{"cache", func(ctx context.Context) (int, error) { return whizbang.Execute(ctx, ca, ok42) }},
	}

	const (
		warm = iota // connections being made, scripts loaded: not checked
		up
		hung
		dead
		back
		phases
	)
	phaseNames := [phases]string{"warm", "up", "hung", "dead", "back"}
	var cur atomic.Int32
	tally := make([][phases]phase, len(policies))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range policies {
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					_, err := p.call(context.Background())
					// A call spanning two phases counts in the later.
					tally[i][cur.Load()].record(time.Since(start), err)
					time.Sleep(time.Millisecond) // a steady load, not a spin
				}
			})
		}
	}

	time.Sleep(300 * time.Millisecond)
	cur.Store(up)
	time.Sleep(500 * time.Millisecond)
	goroutines := runtime.NumGoroutine()

	cur.Store(hung)
	srv.signal(syscall.SIGSTOP)
	time.Sleep(time.Second)

	cur.Store(dead)
	srv.kill()
	dialsBefore := dials.Load()
	time.Sleep(time.Second)
	outageDials := dials.Load() - dialsBefore
	outageGoroutines := runtime.NumGoroutine()

	srv.start()
	cur.Store(back)
	dialsBefore = dials.Load()
	recovered := time.Now()
	for {
		if n := tally[1][back].ok.Load(); n > 0 {
			break
		}
		if time.Since(recovered) > 5*time.Second {
			t.Fatalf("the fail-closed limiter admitted nothing 5s after the server came back: %v", &tally[1][back])
		}
		time.Sleep(10 * time.Millisecond)
	}
	recovery := time.Since(recovered)
	time.Sleep(time.Second)
	backDials := dials.Load() - dialsBefore
	close(stop)
	wg.Wait()

	for i, p := range policies {
		for ph := range phases {
			t.Logf("%s, %s: %v", p.name, phaseNames[ph], &tally[i][ph])
		}
	}
	t.Logf("goroutines: %d before the outage, %d during it; dials: %d while the server was dead, %d in the second after it came back; the fail-closed limiter admitted again after %v",
		goroutines, outageGoroutines, outageDials, backDials, recovery)

	for i, p := range policies {
		for ph := up; ph < phases; ph++ {
			tl := &tally[i][ph]
			if tl.calls.Load() == 0 {
				t.Errorf("%s, %s: no call completed", p.name, phaseNames[ph])
			}
			if d := time.Duration(tl.maxNanos.Load()); d > opTimeout+margin {
				t.Errorf("%s, %s: a call took %v; want at most the operation timeout %v + %v", p.name, phaseNames[ph], d, opTimeout, margin)
			}
			if tl.other.Load() != 0 {
				t.Errorf("%s, %s: %v", p.name, phaseNames[ph], tl)
			}
		}
	}
	// Fail modes: everything but the fail-closed limiter serves every
	// call; that one rejects while the server is away.
	for i, p := range policies {
		for ph := up; ph < phases; ph++ {
			tl := &tally[i][ph]
			switch {
			case i == 1 && (ph == hung || ph == dead):
				if tl.ok.Load() > tl.calls.Load()/2 {
					t.Errorf("%s, %s: %v; want it to reject while the store is away", p.name, phaseNames[ph], tl)
				}
			case i == 1 && ph == back:
			default:
				if tl.storeRejected.Load() != 0 {
					t.Errorf("%s, %s: %v; want every call served", p.name, phaseNames[ph], tl)
				}
			}
		}
	}
	if outageGoroutines > goroutines+8 {
		t.Errorf("goroutines grew from %d to %d during the outage", goroutines, outageGoroutines)
	}
	// Without the back-offs, 16 goroutines would dial on every call
	// (thousands in a second).
	if outageDials > 30 {
		t.Errorf("%d dials in the second the server was dead; want a few (back-off)", outageDials)
	}
	if backDials > 40 {
		t.Errorf("%d dials in the second after the server came back; want about the pool's working set", backDials)
	}

	// Resync: a trip written by another process reaches the breaker
	// (through its watch, or its poll) within the documented bound.
	other, err := redisstore.New(newClient(t, srv.addr()), redisstore.Options{Config: st.Config()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cur0, err := other.LoadBreaker(t.Context(), "breaker")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := other.SwapBreaker(t.Context(), "breaker", cur0.Version, state.Snapshot{State: whizbang.Open}); !ok || err != nil {
		t.Fatalf("SwapBreaker = %v, %v", ok, err)
	}
	tripped := time.Now()
	for br.State() != whizbang.Open {
		if time.Since(tripped) > time.Second {
			t.Fatalf("the breaker is %v 1s after another process tripped it; want open", br.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("the breaker saw the trip after %v", time.Since(tripped))
}
