package sqlstore_test

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
)

// A rate limit whose buckets live in a SQLite file: every process that
// opens the file shares the limit, and it survives restarts.
func ExampleOpenSQLite() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "state.db"),
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

// Opening PostgreSQL takes a URL; the store then shares breakers, buckets
// and cache entries with every process using the same database.
func ExampleOpenPostgres() {
	url := os.Getenv("WHIZBANG_POSTGRES_URL") // e.g. postgres://user@host:5432/db
	if url == "" {
		return
	}
	ctx := context.Background()
	store, err := sqlstore.OpenPostgres(ctx, url, sqlstore.Options{OpTimeout: time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	_ = store.SetEntry(ctx, "greeting", []byte("hello"), time.Minute)
	v, ok, _ := store.GetEntry(ctx, "greeting")
	fmt.Println(string(v), ok)
}
