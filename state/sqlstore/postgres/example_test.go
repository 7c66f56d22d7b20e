package postgres_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/postgres"
)

// Opening PostgreSQL takes a URL; the store then shares breakers, buckets
// and cache entries with every process using the same database.
func ExampleOpen() {
	url := os.Getenv("WHIZBANG_POSTGRES_URL") // e.g. postgres://user@host:5432/db
	if url == "" {
		return
	}
	ctx := context.Background()
	store, err := postgres.Open(ctx, url, sqlstore.Options{OpTimeout: time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	_ = store.SetEntry(ctx, "greeting", []byte("hello"), time.Minute)
	v, ok, _ := store.GetEntry(ctx, "greeting")
	fmt.Println(string(v), ok)
}
