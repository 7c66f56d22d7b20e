package postgres

import (
	"context"

	"github.com/whizbang-go/whizbang/state/sqlstore"
)

// OpenDriver is Open, also returning the store's driver: the benchmarks
// run statements of their own on the store's pool.
func OpenDriver(ctx context.Context, url string, o sqlstore.Options) (*sqlstore.Store, sqlstore.Driver, error) {
	return open(ctx, url, []sqlstore.Options{o})
}
