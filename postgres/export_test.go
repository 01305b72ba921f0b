package postgres

import (
	"context"
	"database/sql"
)

// MigrateTo migrates the database db to version and no further: a database
// as an earlier version of mfad left it, for upgrade tests.
func MigrateTo(ctx context.Context, db *sql.DB, version int64) error {
	p, err := migrator(db)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// IsSole reports whether s holds the lock that makes it the sole instance
// (and lets its session cache answer).
func (s *Store) IsSole() bool { return s.sole.held.Load() }

// SoleLease is how long the cache answers after the last proof that the
// lock is held.
const SoleLease = soleLease

// QueryRowForTest runs q on the pool and scans its one row into dest.
func (s *Store) QueryRowForTest(ctx context.Context, q string, dest ...any) error {
	return s.db.QueryRowContext(ctx, q).Scan(dest...)
}
