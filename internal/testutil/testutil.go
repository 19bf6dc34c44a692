// Package testutil holds helpers shared by Crowd's tests: databases on
// SQLite and PostgreSQL, and polling with a deadline.
package testutil

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strconv"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// EnvInt returns the positive integer of the environment variable name, or
// def where it is unset or not one: a benchmark's sizes.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// PostgresBase is the PostgreSQL server the scale-out tests use; override
// with CROWD_TEST_POSTGRES.
func PostgresBase() string {
	if u := os.Getenv("CROWD_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// NATSURL is the external NATS JetStream server the scale-out tests use;
// override with CROWD_TEST_NATS.
func NATSURL() string {
	if u := os.Getenv("CROWD_TEST_NATS"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// Required reports whether scale-out services must be reachable: in CI they
// must, and a test that cannot reach them fails instead of skipping.
func Required() bool { return os.Getenv("CI") != "" }

// PostgresURL creates a fresh schema on the test PostgreSQL server and
// returns a URL whose connections use it; the schema is dropped after the
// test. Without a server it skips the test (fails in CI).
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := PostgresBase()
	db, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		if Required() {
			tb.Fatalf("PostgreSQL at %s is required in CI: %v", base, err)
		}
		tb.Skipf("PostgreSQL not reachable at %s: %v", base, err)
	}
	schema := "t_" + RandomHex(8)
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		db.Close()
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		db.Close()
	})
	sep := "?"
	for i := 0; i < len(base); i++ {
		if base[i] == '?' {
			sep = "&"
		}
	}
	return base + sep + "search_path=" + schema
}

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Eventually polls cond every 10 ms until it returns true or d passes, and
// fails the test with msg then.
func Eventually(tb testing.TB, d time.Duration, msg string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
