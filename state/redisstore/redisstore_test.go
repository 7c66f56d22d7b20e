package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/redisstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns a client of the test server, closed at the end of t.
func newClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// opener returns a statetest.NewStore opening stores on the test server,
// each with its own client, as separate processes would, and connected (as
// a process would be at its start), so that a test's first calls do not
// pay for the connection.
func opener(addr string) statetest.NewStore {
	return func(t *testing.T, cfg state.Config) (state.Store, error) {
		c := newClient(t, addr)
		if err := c.Ping(t.Context()).Err(); err != nil {
			t.Fatalf("redis at %s: %v", addr, err)
		}
		s, err := redisstore.New(c, redisstore.Options{Config: cfg})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.Close() })
		return s, nil
	}
}

func TestConformance(t *testing.T) {
	statetest.Run(t, opener(statetest.RedisAddr(t)))
}

func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("real waits of a few seconds")
	}
	statetest.Fleet(t, opener(statetest.RedisAddr(t)))
}
