package sqlstore

import (
	"context"
	"errors"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/whizbang-go/whizbang/state"
)

// The stores themselves are tested through the sqlite and postgres
// packages, which run the sqlstoretest suite; these tests need no database.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeDriver is a Driver whose migration fails with err.
type fakeDriver struct {
	dialect string
	err     error
	closed  bool
}

func (d *fakeDriver) QueryRow(context.Context, string, ...any) Row { return nil }
func (d *fakeDriver) Exec(context.Context, string, ...any) (int64, error) {
	return 0, nil
}
func (d *fakeDriver) Migrate(context.Context, func(Querier) error) error { return d.err }
func (d *fakeDriver) IsNoRows(error) bool                                { return false }
func (d *fakeDriver) Dialect() string                                    { return d.dialect }
func (d *fakeDriver) Close() error                                       { d.closed = true; return nil }

// TestNewFails: New refuses bad options before opening the driver, and
// closes the driver when it fails after opening it.
func TestNewFails(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name   string
		d      *fakeDriver
		opts   []Options
		want   error
		opened bool
	}{
		{"two Options", &fakeDriver{dialect: "sqlite"}, []Options{{}, {}}, nil, false},
		{"negative OpTimeout", &fakeDriver{dialect: "sqlite"}, []Options{{OpTimeout: -1}}, state.ErrInvalidTTL, false},
		{"unknown dialect", &fakeDriver{dialect: "oracle"}, nil, nil, true},
		{"migration fails", &fakeDriver{dialect: "postgres", err: boom}, nil, boom, true},
	} {
		opened := false
		s, err := New(context.Background(), func(context.Context, Options) (Driver, error) {
			opened = true
			return c.d, nil
		}, c.opts...)
		switch {
		case err == nil:
			s.Close()
			t.Errorf("%s: no error", c.name)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: %v; want %v", c.name, err, c.want)
		case opened != c.opened || c.d.closed != c.opened:
			t.Errorf("%s: driver opened %v, closed %v; want both %v", c.name, opened, c.d.closed, c.opened)
		}
	}
}

// TestFloats: SQLite's JSON arrays carry the levels exactly.
func TestFloats(t *testing.T) {
	d := dialects["sqlite"]
	in := []float64{0, 1e9, -2.5, 1.0 / 3, 1e-300}
	text, ok := d.floats(in).(string)
	if !ok {
		t.Fatalf("floats: %T; want JSON text", d.floats(in))
	}
	out, err := parseFloats(text)
	if err != nil || !slices.Equal(in, out) {
		t.Errorf("parseFloats(%s) = %v, %v; want %v", text, out, err, in)
	}
	for _, bad := range []string{"", "[", "1,2", "[1,x]"} {
		if _, err := parseFloats(bad); err == nil {
			t.Errorf("parseFloats(%q): no error", bad)
		}
	}
	if v, ok := dialects["postgres"].floats(in).([]float64); !ok || !slices.Equal(v, in) {
		t.Errorf("postgres floats: %v; want the float8[] as it is", v)
	}
}
