package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/sqlite"
)

// A rate limit whose buckets live in a SQLite file: every process that
// opens the file shares the limit, and it survives restarts.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"),
		sqlstore.Options{Config: state.Config{Prefix: "myapp:"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	limiter := ratelimit.MustNew(ratelimit.Options{
		Key:    "api",
		Limits: []ratelimit.Limit{{TokenLimit: 2, Window: time.Hour}},
		Store:  store,
	})
	for i := range 3 {
		_, err := whizbang.Execute(ctx, limiter, func(context.Context) (string, error) { return "ok", nil })
		fmt.Println(i, err == nil)
	}
	// Output:
	// 0 true
	// 1 true
	// 2 false
}
