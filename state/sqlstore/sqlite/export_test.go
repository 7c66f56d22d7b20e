package sqlite

import (
	"context"

	"github.com/whizbang-go/whizbang/state/sqlstore"
)

// OpenDriver is Open, also returning the store's driver: the tests run
// statements of their own on the store's connection.
func OpenDriver(ctx context.Context, path string, o sqlstore.Options) (*sqlstore.Store, sqlstore.Driver, error) {
	return open(ctx, path, []sqlstore.Options{o})
}
