package redisstore_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/redisstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// TestCluster runs the conformance suite on a Redis Cluster of three
// masters of the test's own: every script touches keys of one hash tag
// (one slot), and pub/sub reaches watches on any node.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of three servers")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not installed") // it ships with redis-server; startServer fails if that is missing
	}
	var addrs []string
	for range 3 {
		s := startServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		addrs = append(addrs, s.addr())
	}
	out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	newCluster := func(t *testing.T) *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Wait until every node agrees the cluster is up.
	c := newCluster(t)
	for deadline := time.Now().Add(20 * time.Second); ; {
		ok := true
		for _, a := range addrs {
			n := redis.NewClient(&redis.Options{Addr: a})
			info, err := n.ClusterInfo(context.Background()).Result()
			n.Close()
			ok = ok && err == nil && strings.Contains(info, "cluster_state:ok")
		}
		if ok && c.Ping(context.Background()).Err() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cluster is not ok after 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	statetest.Run(t, func(t *testing.T, cfg state.Config) (state.Store, error) {
		s, err := redisstore.New(newCluster(t), redisstore.Options{Config: cfg})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.Close() })
		return s, nil
	})
}
