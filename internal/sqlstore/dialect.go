// Package sqlstore is mfad.Store written once, in SQL, over database/sql:
// the SQLite and PostgreSQL stores are this implementation with a Dialect
// each. The dialect supplies what really differs between the two: how a
// write transaction runs (SQLite's one writer goroutine with group commit;
// PostgreSQL's pooled transactions retried after a deadlock), how errors
// are classified, placeholders, lists of ids as one parameter, and row
// locks (PostgreSQL takes them; SQLite's writer is alone, so it needs none).
// A store package may still answer a method itself where its database
// does better (PostgreSQL's pipelined login step and limited-session
// creation): it wraps *Store and defines that method.
package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// Row is the result of a query of one row, as *sql.Row: Scan returns
// sql.ErrNoRows when there is none.
type Row interface {
	Scan(dest ...any) error
}

// Rows is the result of a query, as *sql.Rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Reader runs the reads of one request, under the context it was made
// with. database/sql's *sql.Row and *sql.Rows are its results on
// PostgreSQL and on SQLite's read connections; SQLite's writer runs its
// statements through the driver's own interface (sqlite/stmt.go).
type Reader interface {
	QueryRow(q string, args ...any) Row
	Query(q string, args ...any) (Rows, error)
}

// Querier runs the statements of one write transaction, under the
// transaction's context.
type Querier interface {
	Reader
	Exec(q string, args ...any) (sql.Result, error)
}

// Dialect is what a database supplies to Store.
type Dialect struct {
	// Name prefixes the errors of the store ("sqlite", "postgres").
	Name string

	// Write runs fn in one write transaction and commits it, retrying it
	// if the database asks to; it returns fn's error, or the commit's,
	// classified by Err. solo marks a large write (up to thousands of
	// rows): SQLite commits it alone instead of in a group; PostgreSQL
	// makes no difference.
	Write func(ctx context.Context, solo bool, fn func(Querier) error) error
	// Exec1 runs one statement as a write of its own. SQLite runs it
	// through Write (its one writer); PostgreSQL sends it outside an
	// explicit transaction (a statement alone is one), sparing the round
	// trips of BEGIN and COMMIT.
	Exec1 func(ctx context.Context, q string, args ...any) (sql.Result, error)
	// Read returns a Reader for the reads of ctx.
	Read func(ctx context.Context) Reader
	// ScanOne, when set, runs the query of one row that every
	// authenticated request makes (Statements.SessionUser) through the
	// driver's own interface and scans it into dest, returning what Scan
	// of *sql.Row would (sql.ErrNoRows for no row). PostgreSQL sets it:
	// database/sql's rows and its conversion of each column were about as
	// much CPU as the rest of a session check.
	ScanOne func(ctx context.Context, q string, args []any, dest ...any) error
	// Err marks the errors that mean the database cannot serve (lost,
	// refused, read-only, full) with mfad.ErrUnavailable.
	Err func(error) error
	// UniqueEmail reports the violation of the unique email key.
	UniqueEmail func(error) bool

	// Dollar: placeholders are $1, $2, ... (PostgreSQL) instead of ?.
	Dollar bool
	// Locks: the database takes row locks (SELECT ... FOR UPDATE); the
	// statements that read what they are about to change take them.
	Locks bool
	// IDs binds a list of ids as one parameter, and InIDs is the
	// condition "column is one of them" on that parameter.
	IDs   func(ids []string) any
	InIDs func(column string) string
	// LockLimited, when set, is a statement (one parameter: the user id)
	// that makes the creation of a user's limited sessions one at a time,
	// until the end of the transaction.
	LockLimited string
	// LockThrottle is a statement that reads the throttle row of its one
	// parameter, the key (count, window_start, locked_until), and holds it
	// until the end of the transaction. It may return no row, or make a
	// new one of zeros.
	LockThrottle string
	// LastInsertID: the driver's Result.LastInsertId is the id of the row
	// an INSERT added. The audit insert then runs as an Exec instead of a
	// query returning the id: no rows to open, scan and close.
	LastInsertID bool
	// Greatest is the function of the larger of two values.
	Greatest string
	// NoIndex prefixes a column so that the planner does not use its index
	// (SQLite's unary +): lists of ids are looked up by primary key.
	NoIndex string
}

// q spells a statement written with ? placeholders and the markers below in
// the dialect's SQL.
//
//	{FOR UPDATE}  FOR UPDATE where the database takes row locks
//	{FOR SHARE}   FOR SHARE  where the database takes row locks
//	{GREATEST}    the function of the larger of two values
//	{NOINDEX}     the dialect's NoIndex
func (d *Dialect) q(s string) string {
	lock, share := "", ""
	if d.Locks {
		lock, share = " FOR UPDATE", " FOR SHARE"
	}
	s = strings.NewReplacer("{FOR UPDATE}", lock, "{FOR SHARE}", share, "{GREATEST}", d.Greatest, "{NOINDEX}", d.NoIndex).Replace(s)
	if !d.Dollar {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
