// Package pgtest gives each test its own PostgreSQL database, created on
// the server named by MFAD_TEST_POSTGRES and dropped when the test ends, so
// that runs never see each other's data.
//
// Without MFAD_TEST_POSTGRES the tests that need PostgreSQL are skipped with
// a message saying so, so the README's test command passes on a machine
// without PostgreSQL; .ci/run always sets it, and under CI (CI set) a
// missing URL fails instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// EnvVar names the server URL, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const EnvVar = "MFAD_TEST_POSTGRES"

// Server returns the admin URL of the test server, skipping the test when
// none is configured.
func Server(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvVar)
	if u == "" && os.Getenv("CI") != "" {
		t.Fatalf("%s is not set, and CI must run the PostgreSQL suite", EnvVar)
	}
	if u == "" {
		t.Skipf("PostgreSQL suite not run: no database URL configured (set %s, as .ci/run does)", EnvVar)
	}
	return u
}

// NewDatabase creates an empty database and returns its URL; it is dropped
// (with every connection to it) when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := Server(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "mfad_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
