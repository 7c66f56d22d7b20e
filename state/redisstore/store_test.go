package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/redisstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// counter is a go-redis hook counting the commands a client sends.
type counter struct {
	n    atomic.Int64
	cmds atomic.Value // []string of the last command's name
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		c.cmds.Store(cmd.Name())
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func newStore(t *testing.T, c redis.UniversalClient, o redisstore.Options) *redisstore.Store {
	t.Helper()
	if o.Prefix == "" {
		o.Prefix = statetest.Prefix(t)
	}
	s, err := redisstore.New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var oneLimit = []state.Limit{{TokenLimit: 10, Window: time.Second, ReplenishRate: 10, BurstSize: 10}}

func TestTakeIsOneRoundTrip(t *testing.T) {
	c := newClient(t, statetest.RedisAddr(t))
	cnt := &counter{}
	c.AddHook(cnt)
	s := newStore(t, c, redisstore.Options{})
	ctx := t.Context()
	limits := []state.Limit{
		{TokenLimit: 10, Window: time.Second, ReplenishRate: 10, BurstSize: 10},
		{TokenLimit: 100, Window: time.Minute, ReplenishRate: 100, BurstSize: 100},
	}
	if _, err := s.Take(ctx, "k", limits, 1); err != nil { // loads the script
		t.Fatal(err)
	}
	before := cnt.n.Load()
	if _, err := s.Take(ctx, "k", limits, 1); err != nil {
		t.Fatal(err)
	}
	if n := cnt.n.Load() - before; n != 1 {
		t.Errorf("a Take of 2 limits sent %d commands; want 1", n)
	}
	if name := cnt.cmds.Load(); name != "evalsha" {
		t.Errorf("a Take sent %v; want evalsha", name)
	}
}

func TestScriptFlushedFallsBackOnEval(t *testing.T) {
	c := newClient(t, statetest.RedisAddr(t))
	s := newStore(t, c, redisstore.Options{})
	ctx := t.Context()
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	d, err := s.Take(ctx, "k", oneLimit, 1)
	if err != nil || !d.Allowed || d.Remaining != 9 {
		t.Fatalf("Take after SCRIPT FLUSH = %+v, %v; want allowed, 9 left", d, err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.SwapBreaker(ctx, "b", 0, state.Snapshot{State: whizbang.Open}); !ok || err != nil {
		t.Fatalf("SwapBreaker after SCRIPT FLUSH = %v, %v; want a write", ok, err)
	}
}

func TestTimeComesFromTheServer(t *testing.T) {
	c := newClient(t, statetest.RedisAddr(t))
	s := newStore(t, c, redisstore.Options{})
	ctx := t.Context()
	now, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	snap, ok, err := s.SwapBreaker(ctx, "b", 0, state.Snapshot{State: whizbang.Open, Since: time.Unix(0, 0)})
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if d := snap.Since.Sub(now); d < 0 || d > time.Second {
		t.Errorf("Since = %v, the server's TIME was %v: want the server's clock", snap.Since, now)
	}
}

func TestKeysShareAHashTag(t *testing.T) {
	c := newClient(t, statetest.RedisAddr(t))
	s := newStore(t, c, redisstore.Options{Config: state.Config{Prefix: "p:"}})
	for _, key := range []string{"a", "user:{42}", "}x{", "100%", "%7B"} {
		var tags []string
		for _, kind := range []string{"cb", "rl", "e"} {
			k, err := s.RedisKey(key, kind)
			if err != nil {
				t.Fatal(err)
			}
			open, close := strings.IndexByte(k, '{'), strings.IndexByte(k, '}')
			if open != 0 || close < 2 || !strings.HasSuffix(k, "}:"+kind) || close != len(k)-len(kind)-2 {
				t.Errorf("key %q, %s: Redis key %q; want {tag}:%s with no brace in the tag", key, kind, k, kind)
			}
			tags = append(tags, k[:close+1])
		}
		if tags[0] != tags[1] || tags[1] != tags[2] {
			t.Errorf("key %q: tags %q differ", key, tags)
		}
	}
	a, _ := s.RedisKey("{", "e")
	b, _ := s.RedisKey("%7B", "e")
	if a == b {
		t.Errorf(`keys "{" and "%%7B" both map to %q`, a)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	addr := "127.0.0.1:1"
	tests := []struct {
		name   string
		client redis.UniversalClient
		o      redisstore.Options
		want   error
	}{
		{"nil client", nil, redisstore.Options{}, whizbang.ErrInvalidOption},
		{"no context timeouts", redis.NewClient(&redis.Options{Addr: addr}), redisstore.Options{}, whizbang.ErrInvalidOption},
		{"negative OpTimeout", redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true}), redisstore.Options{OpTimeout: -1}, whizbang.ErrInvalidOption},
		{"negative TTL", redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true}), redisstore.Options{Config: state.Config{TTL: -time.Second}}, state.ErrInvalidTTL},
		{"oversized prefix", redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true}), redisstore.Options{Config: state.Config{Prefix: strings.Repeat("p", 600)}}, state.ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.client != nil {
				defer tt.client.Close()
			}
			s, err := redisstore.New(tt.client, tt.o)
			if !errors.Is(err, tt.want) {
				t.Errorf("New = %v, %v; want an error matching %v", s, err, tt.want)
			}
		})
	}
}

func TestBadKeys(t *testing.T) {
	c := newClient(t, statetest.RedisAddr(t))
	s := newStore(t, c, redisstore.Options{})
	ctx := t.Context()
	for _, key := range []string{"", strings.Repeat("k", state.MaxKeyLen)} {
		if _, err := s.Take(ctx, key, oneLimit, 1); !errors.Is(err, state.ErrInvalidKey) {
			t.Errorf("Take(%d-byte key): %v; want state.ErrInvalidKey", len(key), err)
		}
		if _, err := s.LoadBreaker(ctx, key); !errors.Is(err, state.ErrInvalidKey) {
			t.Errorf("LoadBreaker(%d-byte key): %v; want state.ErrInvalidKey", len(key), err)
		}
		if err := s.SetEntry(ctx, key, nil, 0); !errors.Is(err, state.ErrInvalidKey) {
			t.Errorf("SetEntry(%d-byte key): %v; want state.ErrInvalidKey", len(key), err)
		}
		if err := s.WatchBreaker(ctx, key, func() {}); !errors.Is(err, state.ErrInvalidKey) {
			t.Errorf("WatchBreaker(%d-byte key): %v; want state.ErrInvalidKey", len(key), err)
		}
	}
	if err := s.SetEntry(ctx, "k", nil, -time.Second); !errors.Is(err, state.ErrInvalidTTL) {
		t.Errorf("SetEntry(ttl -1s): %v; want state.ErrInvalidTTL", err)
	}
}

func TestOpen(t *testing.T) {
	addr := statetest.RedisAddr(t)
	s, err := redisstore.Open(t.Context(), "redis://"+addr+"/0", redisstore.Options{Config: state.Config{Prefix: statetest.Prefix(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Take(t.Context(), "k", oneLimit, 1); err != nil {
		t.Errorf("Take: %v", err)
	}
	s.Close()
	if _, err := s.Take(t.Context(), "k", oneLimit, 1); !errors.Is(err, state.ErrClosed) {
		t.Errorf("Take after Close: %v; want state.ErrClosed", err)
	}
}

func TestOpenBadAddress(t *testing.T) {
	tests := []struct{ name, url, want string }{
		{"unreachable", "redis://127.0.0.1:1", "does not answer"},
		{"not a URL", "http://x:y:z", "bad URL"},
		{"password redacted", "ftp://user:secret@host", "bad URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			s, err := redisstore.Open(t.Context(), tt.url, redisstore.Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.url)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "secret") {
				t.Errorf("Open(%q): %v; want an error saying %q, without the password", tt.url, err, tt.want)
			}
			if d := time.Since(start); d > redisstore.DefaultOpTimeout+200*time.Millisecond {
				t.Errorf("Open took %v; want at most the operation timeout", d)
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	c := newClient(t, "127.0.0.1:1")
	s := newStore(t, c, redisstore.Options{})
	ctx := t.Context()
	_, err := s.Take(ctx, "k", oneLimit, 1)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Take on an unreachable server: %v; want an error naming the address", err)
	}
	_, _ = s.Take(ctx, "k", oneLimit, 1) // a second failure in a row
	start := time.Now()
	_, err = s.Take(ctx, "k", oneLimit, 1)
	if !errors.Is(err, redisstore.ErrUnavailable) || time.Since(start) > 10*time.Millisecond {
		t.Errorf("Take just after two failures took %v: %v; want redisstore.ErrUnavailable at once (backing off)", time.Since(start), err)
	}
	err = s.WatchBreaker(ctx, "k", func() {})
	if !errors.Is(err, redisstore.ErrWatchLost) {
		t.Errorf("WatchBreaker on an unreachable server: %v; want redisstore.ErrWatchLost", err)
	}
}
