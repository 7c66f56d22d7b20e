package sqlstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The schema keeps every time as integer microseconds since the Unix epoch
// by the database's clock ({now} below), and every duration in
// microseconds, so both dialects share one exact arithmetic: PostgreSQL's
// clock_timestamp() (a microsecond clock), SQLite's julianday('now') (a
// millisecond clock). Statements use one reading of the clock: from a
// subquery c, or through the excluded row of an upsert. (The bucket
// upserts read it twice, for refilled_at and for expires_at, which is
// rounded up to the second anyway: a plain VALUES row makes PostgreSQL's
// upsert measurably cheaper than INSERT ... SELECT.)

// schemaVersion is the newest schema this code knows.
const schemaVersion = 1

// migrations[i] takes the schema from version i to i+1 (templates).
var migrations = [][]string{
	{
		`CREATE TABLE whizbang_breaker (
			key {text} PRIMARY KEY,
			state {i8} NOT NULL,
			since {i8} NOT NULL,
			failures {i8} NOT NULL,
			successes {i8} NOT NULL,
			version {i8} NOT NULL,
			expires_at {i8} NOT NULL){norowid}`,
		`CREATE INDEX whizbang_breaker_expires ON whizbang_breaker (expires_at)`,
		`CREATE TABLE whizbang_failures (
			key {text} PRIMARY KEY,
			epoch {i8} NOT NULL,
			count {i8} NOT NULL,
			started_at {i8} NOT NULL,
			expires_at {i8} NOT NULL){norowid}`,
		`CREATE INDEX whizbang_failures_expires ON whizbang_failures (expires_at)`,
		`CREATE TABLE whizbang_probes (
			key {text} PRIMARY KEY,
			epoch {i8} NOT NULL,
			taken {i8} NOT NULL,
			taken_at {i8} NOT NULL,
			expires_at {i8} NOT NULL){norowid}`,
		`CREATE INDEX whizbang_probes_expires ON whizbang_probes (expires_at)`,
		`CREATE TABLE whizbang_buckets (
			key {text} PRIMARY KEY,
			tokens {floats} NOT NULL,
			refilled_at {i8} NOT NULL,
			expires_at {i8} NOT NULL,
			allowed {bool} NOT NULL){norowid}`,
		`CREATE INDEX whizbang_buckets_expires ON whizbang_buckets (expires_at)`,
		`CREATE TABLE whizbang_entries (
			key {text} PRIMARY KEY,
			value {blob} NOT NULL,
			expires_at {i8} NOT NULL){norowid}`,
		`CREATE INDEX whizbang_entries_expires ON whizbang_entries (expires_at)`,
	},
}

const (
	qSchemaTable = `CREATE TABLE IF NOT EXISTS whizbang_schema (id {i8} PRIMARY KEY, version {i8} NOT NULL)`
	qSchemaGet   = `SELECT version FROM whizbang_schema WHERE id = 1`
	qSchemaSet   = `INSERT INTO whizbang_schema (id, version) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version`

	qLoad = `SELECT b.state, b.since, b.failures, b.successes, b.version, c.now - b.since
		FROM whizbang_breaker AS b, (SELECT {now} AS now) AS c
		WHERE b.key = $1 AND b.expires_at > c.now`

	// qSwapNew writes the first snapshot: a new row, or over an expired one.
	qSwapNew = `INSERT INTO whizbang_breaker AS b (key, state, since, failures, successes, version, expires_at)
		SELECT $1, $2, c.now, $3, $4, 1, c.now + $5 FROM (SELECT {now} AS now) AS c WHERE true
		ON CONFLICT (key) DO UPDATE SET state = excluded.state, since = excluded.since,
			failures = excluded.failures, successes = excluded.successes, version = 1,
			expires_at = excluded.expires_at
		WHERE b.expires_at <= excluded.since
		RETURNING key, version, since`

	// qSwapOld replaces version $6.
	qSwapOld = `UPDATE whizbang_breaker AS b SET state = $2, since = c.now, failures = $3,
			successes = $4, version = b.version + 1, expires_at = c.now + $5
		FROM (SELECT {now} AS now) AS c
		WHERE b.key = $1 AND b.version = $6 AND b.expires_at > c.now
		RETURNING key, version, since`

	// qAddFailures: $1 key, $2 epoch, $3 n, $4 window, $5 ttl.
	qAddFailures = `INSERT INTO whizbang_failures AS f (key, epoch, count, started_at, expires_at)
		SELECT $1, $2, $3, c.now, {later}(c.now + $5) FROM (SELECT {now} AS now) AS c WHERE true
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN {fresh} THEN excluded.count ELSE f.count + excluded.count END,
			started_at = CASE WHEN {fresh} THEN excluded.started_at ELSE f.started_at END,
			epoch = excluded.epoch,
			expires_at = greatest(f.expires_at, excluded.expires_at)
		WHERE excluded.epoch >= f.epoch OR f.expires_at <= excluded.started_at
		RETURNING count`

	// qTakeProbe: $1 key, $2 epoch, $3 slots, $4 ttl.
	qTakeProbe = `INSERT INTO whizbang_probes AS p (key, epoch, taken, taken_at, expires_at)
		SELECT $1, $2, 1, c.now, c.now + $4 FROM (SELECT {now} AS now) AS c WHERE true
		ON CONFLICT (key) DO UPDATE SET
			taken = CASE WHEN excluded.epoch > p.epoch OR p.expires_at <= excluded.taken_at
				THEN 1 ELSE p.taken + 1 END,
			epoch = excluded.epoch, taken_at = excluded.taken_at, expires_at = excluded.expires_at
		WHERE excluded.epoch > p.epoch OR (excluded.epoch = p.epoch
			AND (p.expires_at <= excluded.taken_at OR p.taken < $3))
		RETURNING taken`

	qReleaseProbe = `UPDATE whizbang_probes AS p SET taken = p.taken - 1
		FROM (SELECT {now} AS now) AS c
		WHERE p.key = $1 AND p.epoch = $2 AND p.taken > 0 AND p.expires_at > c.now`

	qGet = `SELECT e.value FROM whizbang_entries AS e, (SELECT {now} AS now) AS c
		WHERE e.key = $1 AND e.expires_at > c.now`
	qSet = `INSERT INTO whizbang_entries AS e (key, value, expires_at)
		SELECT $1, $2, c.now + $3 FROM (SELECT {now} AS now) AS c WHERE true
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`
	qDelete = `DELETE FROM whizbang_entries WHERE key = $1`
)

// {later}(x) rounds an expiry time up to the next whole second (see
// laterExpr): a bucket or failure count kept a little longer behaves the
// same (a full bucket is a missing one; the count's window is its own), and
// the row's expires_at (indexed, for the sweeper) then changes once a
// second at most, so that the updates of a busy row stay cheap (PostgreSQL:
// HOT updates, no index writes).

// fresh: the failure count starts afresh (newer epoch, expired, or window
// passed).
const fresh = `(excluded.epoch > f.epoch OR f.expires_at <= excluded.started_at
	OR excluded.started_at - f.started_at >= $4)`

// sweepTables are the tables with an expires_at column.
var sweepTables = []string{"whizbang_breaker", "whizbang_failures", "whizbang_probes", "whizbang_buckets", "whizbang_entries"}

// qTake takes n tokens from every limit's bucket, or none, in one upsert:
// a new row starts full less n ($4: the levels after the take, computed by
// the caller); an existing one is refilled for the time since refilled_at
// (never backwards), and taken from when every bucket has n. Neither
// refilled_at nor expires_at moves backwards: a statement that waited for
// the row's lock (PostgreSQL) carries the time it started, older than the
// row's, and an expiry taken from it would make the next take find the
// bucket expired, hence full.
// $1 key, $2 rates (tokens per microsecond), $3 bursts, $4 initial levels, $5 n,
// $6 ttl (the largest fill time).
const qTakePostgres = `INSERT INTO whizbang_buckets AS b (key, tokens, refilled_at, expires_at, allowed)
	VALUES ($1, $4::float8[], {now}, {later}({now} + $6::bigint), true)
	ON CONFLICT (key) DO UPDATE SET (tokens, allowed, refilled_at, expires_at) = (
		SELECT CASE WHEN bool_and(lvl + 1e-9 >= $5::float8) THEN array_agg(lvl - $5::float8 ORDER BY i)
			ELSE array_agg(lvl ORDER BY i) END,
			bool_and(lvl + 1e-9 >= $5::float8),
			greatest(b.refilled_at, excluded.refilled_at), greatest(b.expires_at, excluded.expires_at)
		FROM (SELECT i, CASE WHEN b.expires_at <= excluded.refilled_at OR t IS NULL THEN burst
				ELSE least(burst, t + rate * greatest(0, excluded.refilled_at - b.refilled_at)) END AS lvl
			FROM unnest(b.tokens, $2::float8[], $3::float8[]) WITH ORDINALITY AS u(t, rate, burst, i)
			WHERE rate IS NOT NULL) AS s)
	RETURNING allowed, tokens`

// The same with JSON arrays for SQLite.
const qTakeSQLite = `INSERT INTO whizbang_buckets AS b (key, tokens, refilled_at, expires_at, allowed)
	VALUES ($1, $4, {now}, {later}({now} + $6), 1)
	ON CONFLICT (key) DO UPDATE SET (tokens, allowed, refilled_at, expires_at) = (
		SELECT CASE WHEN min(lvl + 1e-9 >= $5) THEN json_group_array(lvl - $5) ELSE json_group_array(lvl) END,
			min(lvl + 1e-9 >= $5),
			max(b.refilled_at, excluded.refilled_at), max(b.expires_at, excluded.expires_at)
		FROM (SELECT r.key AS i, CASE WHEN b.expires_at <= excluded.refilled_at OR t.value IS NULL THEN u.value
				ELSE min(u.value, t.value + r.value * max(0, excluded.refilled_at - b.refilled_at)) END AS lvl
			FROM json_each($2) AS r JOIN json_each($3) AS u ON u.key = r.key
			LEFT JOIN json_each(b.tokens) AS t ON t.key = r.key
			ORDER BY r.key))
	RETURNING allowed, tokens`

// qTake1 is qTake for one limit, on scalars (the common case, and
// cheaper: no arrays to build or unnest). The row's format is qTake's, so
// the two mix when a limiter's limits change. $1 key, $2 rate (tokens per
// microsecond), $3 burst, $4 n, $5 ttl. {lvl} is the refilled level.
const qTake1Postgres = `INSERT INTO whizbang_buckets AS b (key, tokens, refilled_at, expires_at, allowed)
	VALUES ($1, ARRAY[$3::float8 - $4::float8], {now}, {later}({now} + $5::bigint), true)
	ON CONFLICT (key) DO UPDATE SET
		tokens = ARRAY[CASE WHEN {lvl} + 1e-9 >= $4::float8 THEN {lvl} - $4::float8 ELSE {lvl} END],
		allowed = {lvl} + 1e-9 >= $4::float8,
		refilled_at = greatest(b.refilled_at, excluded.refilled_at),
		expires_at = greatest(b.expires_at, excluded.expires_at)
	RETURNING allowed, tokens[1]`

const lvl1Postgres = `(CASE WHEN b.expires_at <= excluded.refilled_at OR b.tokens[1] IS NULL THEN $3::float8
	ELSE least($3::float8, b.tokens[1] + $2::float8 * greatest(0, excluded.refilled_at - b.refilled_at)) END)`

const qTake1SQLite = `INSERT INTO whizbang_buckets AS b (key, tokens, refilled_at, expires_at, allowed)
	VALUES ($1, json_array($3 - $4), {now}, {later}({now} + $5), 1)
	ON CONFLICT (key) DO UPDATE SET
		tokens = json_array(CASE WHEN {lvl} + 1e-9 >= $4 THEN {lvl} - $4 ELSE {lvl} END),
		allowed = {lvl} + 1e-9 >= $4,
		refilled_at = max(b.refilled_at, excluded.refilled_at),
		expires_at = max(b.expires_at, excluded.expires_at)
	RETURNING allowed, (tokens ->> 0)`

const lvl1SQLite = `(CASE WHEN b.expires_at <= excluded.refilled_at OR (b.tokens ->> 0) IS NULL THEN $3
	ELSE min($3, (b.tokens ->> 0) + $2 * max(0, excluded.refilled_at - b.refilled_at)) END)`

// laterExpr expands {later}(x) to x rounded up to the next whole second
// (integer division: x in microseconds).
func laterExpr(q string) string {
	for {
		i := strings.Index(q, "{later}(")
		if i < 0 {
			return q
		}
		j := i + len("{later}(")
		depth := 1
		k := j
		for ; k < len(q) && depth > 0; k++ {
			switch q[k] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		q = q[:i] + "(1000000 + 1000000 * ((" + q[j:k-1] + ") / 1000000))" + q[k:]
	}
}

// dialect holds the SQL of one database.
type dialect struct {
	name  string
	q     map[string]string // template -> SQL
	take  string
	take1 string
	tick  time.Duration // the clock's resolution
	// sweep deletes expired rows, by table
	sweep map[string]string
	// arrays: the database has float8[] (PostgreSQL); else qTake's arrays
	// are JSON text (SQLite).
	arrays bool
	// utf8Keys: keys must be valid UTF-8 without NUL bytes (PostgreSQL
	// text).
	utf8Keys bool
}

func (d *dialect) sql(tmpl string) string {
	if s, ok := d.q[tmpl]; ok {
		return s
	}
	panic("sqlstore: unknown query") // every template is rendered in newDialect
}

// floats is v as an array argument of qTake: a float8[], or JSON text.
func (d *dialect) floats(v []float64) any {
	if d.arrays {
		return v
	}
	b := make([]byte, 0, 1+len(v)*8)
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	return string(append(b, ']'))
}

// scanTake scans the result of qTake: whether it took, and the levels, a
// float8[] or JSON text.
func (d *dialect) scanTake(r Row) (allowed bool, levels []float64, err error) {
	if d.arrays {
		err = r.Scan(&allowed, &levels)
		return allowed, levels, err
	}
	var text string
	if err := r.Scan(&allowed, &text); err != nil {
		return false, nil, err
	}
	levels, err = parseFloats(text)
	return allowed, levels, err
}

// parseFloats parses a JSON array of numbers.
func parseFloats(s string) ([]float64, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, fmt.Errorf("bad bucket levels %q", s)
	}
	s = s[1 : len(s)-1]
	out := make([]float64, 0, strings.Count(s, ",")+1)
	for s != "" {
		f, rest, _ := strings.Cut(s, ",")
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("bad bucket levels: %w", err)
		}
		out = append(out, v)
		s = rest
	}
	return out, nil
}

func newDialect(name string, r *strings.Replacer, take, take1, lvl1 string, tick time.Duration) *dialect {
	d := &dialect{name: name, q: make(map[string]string), tick: tick}
	all := []string{qSchemaTable, qSchemaGet, qSchemaSet, qLoad, qSwapNew, qSwapOld, qAddFailures,
		qTakeProbe, qReleaseProbe, qGet, qSet, qDelete}
	for _, m := range migrations {
		all = append(all, m...)
	}
	for _, t := range all {
		d.q[t] = r.Replace(laterExpr(strings.ReplaceAll(t, "{fresh}", fresh)))
	}
	d.take = r.Replace(laterExpr(take))
	// {lvl} goes in after the parameters are renamed, and is renamed too.
	d.take1 = r.Replace(laterExpr(strings.ReplaceAll(take1, "{lvl}", lvl1)))
	d.sweep = make(map[string]string)
	for _, t := range sweepTables {
		d.sweep[t] = r.Replace(`DELETE FROM ` + t + ` WHERE key IN (SELECT key FROM ` + t +
			` WHERE expires_at <= {now} LIMIT 10000)`)
	}
	if name == "postgres" {
		d.arrays, d.utf8Keys = true, true
		// Breaker writes notify the watchers, atomically with the write.
		for _, t := range []string{qSwapNew, qSwapOld} {
			d.q[t] = `WITH w AS (` + d.q[t] + `) SELECT w.version, w.since, pg_notify('` + notifyChannel + `', w.key)::text FROM w`
		}
	} else {
		for _, t := range []string{qSwapNew, qSwapOld} {
			d.q[t] = strings.Replace(d.q[t], "RETURNING key, version, since", "RETURNING version, since, ''", 1)
		}
	}
	return d
}

// dialects are the dialects by name (Driver.Dialect).
var dialects = map[string]*dialect{
	"postgres": newDialect("postgres", strings.NewReplacer(
		"{now}", "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
		"{text}", "text", "{i8}", "bigint", "{f8}", "float8", "{floats}", "float8[]",
		"{bool}", "boolean", "{blob}", "bytea", "{norowid}", " WITH (fillfactor = 50)",
		// untyped parameters of the shared templates
		"c.now + $5", "c.now + $5::bigint", "c.now + $4", "c.now + $4::bigint", "c.now + $3", "c.now + $3::bigint",
		">= $4)", ">= $4::bigint)",
	), qTakePostgres, qTake1Postgres, lvl1Postgres, time.Microsecond),
	"sqlite": newDialect("sqlite", strings.NewReplacer(
		"{now}", "(CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000)",
		"{text}", "TEXT", "{i8}", "INTEGER", "{f8}", "REAL", "{floats}", "TEXT",
		"{bool}", "INTEGER", "{blob}", "BLOB", "{norowid}", " WITHOUT ROWID",
		"greatest(", "max(", "least(", "min(", "$", "?",
	), qTakeSQLite, qTake1SQLite, lvl1SQLite, time.Millisecond),
}
