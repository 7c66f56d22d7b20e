package sqlstore

import "context"

// SQLitePath returns the path a SQLite store was opened with.
func (s *Store) SQLitePath() string { return s.path }

// ExecForTest runs q on the store's database.
func (s *Store) ExecForTest(ctx context.Context, q string) error {
	_, err := s.exec(ctx, q)
	return err
}

// Upsert runs a plain upsert round trip on the store's pool (PostgreSQL):
// the floor of a check.
func (s *Store) Upsert(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO whizbang_entries (key, value, expires_at) VALUES ($1, '\x00', 0)
		ON CONFLICT (key) DO UPDATE SET expires_at = whizbang_entries.expires_at + 1`, key)
	return err
}

// PragmaForTest returns the value of PRAGMA name (SQLite).
func (s *Store) PragmaForTest(ctx context.Context, name string) (string, error) {
	var v string
	err := s.queryRow(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}
