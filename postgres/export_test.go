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
