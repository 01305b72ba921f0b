// Package postgres implements mfad.Store on PostgreSQL through
// github.com/jackc/pgx/v5, for several mfad instances sharing one database.
//
// Every method is one transaction at READ COMMITTED. The compare-and-set
// operations rely on PostgreSQL's row locks: a conditional UPDATE that waits
// for a concurrent one re-checks its WHERE clause against the committed row,
// so of concurrent submissions of one TOTP step exactly one succeeds on any
// instance, and attempt counters are read and written under SELECT ... FOR
// UPDATE. Transactions that hit a deadlock or a serialization failure are
// retried.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/sqlmig"
	"github.com/mfad/mfad/internal/sqlrow"
	"github.com/mfad/mfad/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune the connection pool.
type Options struct {
	MaxConns       int           // open connections at most (default 16)
	ConnectTimeout time.Duration // to open one connection (default 5 s)
	QueryTimeout   time.Duration // statement_timeout and lock_timeout (default 10 s)
	// SessionCache lets this instance answer session checks from memory
	// while it is the only mfad process writing to the database (see
	// sole.go); mfad serve turns it on, the command-line tools do not.
	SessionCache bool
}

// Store is the PostgreSQL implementation of mfad.Store: the shared SQL
// implementation (internal/sqlstore) with PostgreSQL's dialect, and two
// methods of its own that send their statements as one pipelined batch
// (AdvanceLogin, and CreateSession for a limited session).
type Store struct {
	*sqlstore.Store
	db  *sql.DB
	cfg *pgx.ConnConfig // for the sole instance's own connection

	sole     sole
	quit     chan struct{} // closed by Close
	once     sync.Once
	soleDone chan struct{} // closed when soleLoop has returned (or was never started)
}

var _ mfad.Store = (*Store)(nil)

// IsURL reports whether s names a PostgreSQL database.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url and applies the migrations under a
// PostgreSQL advisory lock, so instances starting together migrate once.
func Open(ctx context.Context, url string, o Options) (*Store, error) {
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 10 * time.Second
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL with its password.
		return nil, errors.New("postgres: cannot parse the database URL")
	}
	cfg.ConnectTimeout = o.ConnectTimeout
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	timeout := strconv.FormatInt(o.QueryTimeout.Milliseconds(), 10)
	cfg.RuntimeParams["statement_timeout"] = timeout
	cfg.RuntimeParams["lock_timeout"] = timeout
	cfg.RuntimeParams["application_name"] = "mfad"
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(o.MaxConns)
	db.SetMaxIdleConns(o.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, scrub(err))
	}
	if err := migrate(ctx, db, cfg); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, cfg: cfg.Copy(), quit: make(chan struct{}), soleDone: make(chan struct{})}
	s.Store = sqlstore.New(s.dialect())
	if o.SessionCache {
		s.Store.Cache = sqlstore.NewLeasedSessionCache(sqlstore.CacheSessions)
		go s.soleLoop()
	} else {
		close(s.soleDone)
	}
	return s, nil
}

var ms = sqlrow.MS

// lockLimitedSQL makes the creation of a user's limited sessions one at a
// time, to the end of the transaction: an advisory lock on the user, which
// waits for nothing else (not for a step or an admin call that holds the
// user's row).
const lockLimitedSQL = "SELECT pg_advisory_xact_lock(hashtextextended('mfad limited sessions ' || $1, 0))"

// dialect is PostgreSQL's part of the shared implementation.
func (s *Store) dialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name: "postgres",
		Write: func(ctx context.Context, _ bool, fn func(sqlstore.Querier) error) error {
			return s.write(func(share bool) error {
				return retry(func() error { return s.tx1(ctx, share, fn) })
			})
		},
		Exec1: func(ctx context.Context, q string, args ...any) (sql.Result, error) {
			return s.exec1(ctx, q, args...)
		},
		Read:    func(ctx context.Context) sqlstore.Reader { return querier{ctx: ctx, db: s.db} },
		ScanOne: s.scanOne,
		Err:     dbErr,
		UniqueEmail: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "23505" && strings.Contains(pe.ConstraintName, "email")
		},
		Dollar:      true,
		Locks:       true,
		IDs:         func(ids []string) any { return ids },
		InIDs:       func(col string) string { return col + " = ANY(?)" },
		LockLimited: strings.Replace(lockLimitedSQL, "$1", "?", 1),
		// One statement makes the row exist and locks it, even when a
		// concurrent success deletes it (ResetThrottle) meanwhile.
		LockThrottle: `INSERT INTO throttle(key, count, window_start, locked_until) VALUES(?, 0, 0, 0)
			ON CONFLICT (key) DO UPDATE SET key = excluded.key
			RETURNING count, window_start, locked_until`,
		Greatest: "GREATEST",
	}
}

// scanOne runs q on a connection of the pool through pgx's own interface
// and scans its one row into dest (pgx.ErrNoRows, which is sql.ErrNoRows,
// when there is none).
func (s *Store) scanOne(ctx context.Context, q string, args []any, dest ...any) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		return dc.(*stdlib.Conn).Conn().QueryRow(ctx, q, args...).Scan(dest...)
	})
}

// querier runs statements under one context: in a transaction, or (tx
// nil) on the pool, for reads.
type querier struct {
	ctx context.Context
	tx  *sql.Tx
	db  *sql.DB
}

func (q querier) Exec(query string, args ...any) (sql.Result, error) {
	return q.tx.ExecContext(q.ctx, query, args...)
}

func (q querier) QueryRow(query string, args ...any) sqlstore.Row {
	if q.tx != nil {
		return q.tx.QueryRowContext(q.ctx, query, args...)
	}
	return q.db.QueryRowContext(q.ctx, query, args...)
}

func (q querier) Query(query string, args ...any) (sqlstore.Rows, error) {
	var rows *sql.Rows
	var err error
	if q.tx != nil {
		rows, err = q.tx.QueryContext(q.ctx, query, args...)
	} else {
		rows, err = q.db.QueryContext(q.ctx, query, args...)
	}
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return rows, nil
}

// scrub drops the connection string from connection errors.
func scrub(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return ce.Unwrap()
	}
	return err
}

func migrate(ctx context.Context, db *sql.DB, cfg *pgx.ConnConfig) error {
	p, err := migrator(db)
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if !pending {
		return nil
	}
	// A migration may rewrite users' rows: like every write, it waits
	// for a sole instance (sole.go) to give its session cache up, and
	// holds the lock in shared mode until it is done, on a connection of
	// its own (the pool may have but one, which the migrations need).
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", scrub(err))
	}
	defer conn.Close(context.WithoutCancel(ctx)) // its end releases the lock
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock_shared($1)", instanceLock); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// migrator returns the migrations of the schema (the SQL files and the Go
// migrations both stores share), run under a PostgreSQL advisory lock.
func migrator(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// Poll for the lock every second, for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("postgres: migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker),
		goose.WithGoMigrations(sqlmig.Migrations(func(n int) string { return "$" + strconv.Itoa(n) })...))
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	return p, nil
}

// Close stops the sole instance's loop (its connection's end releases the
// lock) and closes the pool.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.quit) })
	<-s.soleDone
	return s.db.Close()
}

// dbErr marks errors that mean the database cannot serve (a lost or refused
// connection, a server shutting down, a timeout) as mfad.ErrUnavailable.
func dbErr(err error) error {
	if err == nil || errors.Is(err, mfad.ErrUnavailable) {
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: %v", mfad.ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"), // insufficient resources
			strings.HasPrefix(pe.Code, "57"), // operator intervention: shutdown, terminated, timeout
			pe.Code == "55P03",               // lock_not_available (lock_timeout)
			pe.Code == "25006":               // read_only_sql_transaction: a read-only database or replica
			return fmt.Errorf("%w: %v", mfad.ErrUnavailable, err)
		}
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "bad connection") || strings.Contains(err.Error(), "database is closed") ||
		strings.Contains(err.Error(), "unexpected EOF") || strings.Contains(err.Error(), "failed to connect") {
		return fmt.Errorf("%w: %v", mfad.ErrUnavailable, err)
	}
	return err
}

// retryable reports a transaction PostgreSQL aborted to resolve a conflict.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// retry runs a transaction, attempt, up to four times while it fails with
// a deadlock or a serialization failure.
func retry(attempt func() error) error {
	var err error
	for range 4 {
		if err = attempt(); !retryable(err) {
			break
		}
	}
	return dbErr(err)
}

// tx1 runs fn in one transaction, after the shared instanceLock when
// share, and commits it.
func (s *Store) tx1(ctx context.Context, share bool, fn func(sqlstore.Querier) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := shareLock(ctx, tx, share); err != nil {
		tx.Rollback()
		return err
	}
	if err := fn(querier{ctx: ctx, tx: tx}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Ping checks that the database answers and takes writes (a read-only
// database or a standby cannot serve logins).
func (s *Store) Ping(ctx context.Context) error {
	var readOnly string
	if err := s.db.QueryRowContext(ctx, "SELECT current_setting('transaction_read_only')").Scan(&readOnly); err != nil {
		return dbErr(err)
	}
	if readOnly == "on" {
		return fmt.Errorf("%w: the database is read-only", mfad.ErrUnavailable)
	}
	return nil
}

// ---- sessions

// CreateSession stores a session. A limited one goes with its cap in one
// batch (createLimitedOn).
func (s *Store) CreateSession(ctx context.Context, se *mfad.Session) error {
	if se.Kind != mfad.SessionLimited {
		return s.Store.CreateSession(ctx, se)
	}
	defer s.Cache.ForgetUsers(se.UserID) // the cap may close the user's other limited sessions
	return s.write(func(share bool) error {
		return s.onConn(ctx, func(pc *pgx.Conn) error { return s.createLimitedOn(ctx, pc, share, se) })
	})
}

// onConn runs fn on a connection of the pool, retrying after a deadlock or
// a serialization failure. Should fn leave a transaction open (its rollback
// failed), the pool drops the connection rather than hand it out so (pgx's
// stdlib checks that before each use).
func (s *Store) onConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	return retry(func() error {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Raw(func(dc any) error { return fn(dc.(*stdlib.Conn).Conn()) })
	})
}

// createLimitedOn stores a limited session and closes the user's oldest
// limited sessions beyond mfad.MaxLimitedSessions, in one transaction whose
// statements travel as one batch (three round trips, as for a plain
// insert): the lock on the user's limited sessions (lockLimitedSQL), the
// insert, and the cap, a statement of its own that sees every session
// committed before it starts, so that concurrent logins cannot each keep
// ten. The cap runs whatever the count: a count first would cost a round
// trip.
func (s *Store) createLimitedOn(ctx context.Context, pc *pgx.Conn, share bool, se *mfad.Session) error {
	tx, err := pc.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // after Commit, nothing to do
	var b pgx.Batch
	batchShareLock(&b, share)
	b.Queue(lockLimitedSQL, se.UserID)
	b.Queue(s.SQL.InsertSession, sqlstore.SessionArgs(se)...)
	b.Queue(s.SQL.CapLimited, se.UserID, se.Hash, se.UserID, se.Hash, mfad.MaxLimitedSessions-1)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// AdvanceLogin sends the step's statements to PostgreSQL together, as one
// pipelined batch inside the transaction, and reads their results in order:
// three round trips (BEGIN, the batch, COMMIT) instead of one per statement,
// which made a login's time and a good part of both sides' CPU. A statement
// whose check fails (the email locked, the limited session gone, a replayed
// step) does not stop the later ones from running, but their work is rolled
// back with the transaction, and the error is the first failed check's, as
// when they ran one after the other.
func (s *Store) AdvanceLogin(ctx context.Context, a mfad.Advance) error {
	defer s.Cache.ForgetUsers(a.UserID) // the limited session is one of the user's
	return s.write(func(share bool) error {
		return s.onConn(ctx, func(pc *pgx.Conn) error { return s.advanceOn(ctx, pc, share, a) })
	})
}

// advanceOn is AdvanceLogin on one connection of the pool, with the
// statements of the shared implementation, checked as it checks them.
func (s *Store) advanceOn(ctx context.Context, pc *pgx.Conn, share bool, a mfad.Advance) error {
	tx, err := pc.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // after Commit, nothing to do
	// The checks are made once every result is in, in the order of the
	// statements (a check failing inside the batch would make pgx drop
	// its prepared statements).
	var b pgx.Batch
	batchShareLock(&b, share)
	var checks []func() error
	wantOne := func(q *pgx.QueuedQuery, otherwise error) {
		var n int64
		q.Exec(func(ct pgconn.CommandTag) error { n = ct.RowsAffected(); return nil })
		checks = append(checks, func() error {
			if n != 1 {
				return otherwise
			}
			return nil
		})
	}
	if a.CheckKey != "" {
		var locked int64
		b.Queue(s.SQL.LockedUntil, a.CheckKey).QueryRow(func(r pgx.Row) error {
			if err := r.Scan(&locked); !errors.Is(err, pgx.ErrNoRows) {
				return err // nil when the key has a row
			}
			return nil // no row: not locked
		})
		checks = append(checks, func() error {
			if n := ms(a.Now); locked > n {
				return &mfad.LockedError{RetryAfter: time.Duration(locked-n) * time.Millisecond}
			}
			return nil
		})
	}
	wantOne(b.Queue(s.SQL.CloseLimited, a.LimitedHash, a.UserID), mfad.ErrSessionGone)
	login := a.Next.Kind == mfad.SessionFull // last_login still to record
	if a.PendingID != "" {
		// The statements of the shared activatePending: the pending secret
		// locked, made the active one, dropped.
		wantOne(b.Queue(s.SQL.LockPending, a.UserID, a.PendingID), mfad.ErrNoPending)
		wantOne(b.Queue(s.SQL.ActivatePending, sqlstore.ActivatePendingArgs(a.UserID, a.PendingID, a.TOTPStep, ms(a.Now))...), mfad.ErrReplay)
		b.Queue(s.SQL.DropPending, a.UserID)
	} else if a.TOTPStep > 0 {
		login = false // recorded by the statement that consumes the step
		wantOne(b.Queue(s.SQL.ConsumeStep, sqlstore.ConsumeStepArgs(a)...), mfad.ErrReplay)
	}
	if a.RecoveryHash != nil {
		wantOne(b.Queue(s.SQL.UseRecovery, a.UserID, a.RecoveryHash), mfad.ErrReplay)
	}
	if a.Passkey != nil {
		wantOne(b.Queue(s.SQL.UsePasskey, sqlstore.UsePasskeyArgs(a)...), mfad.ErrReplay)
	}
	if login {
		b.Queue(s.SQL.RecordLogin, ms(a.Next.Created), a.UserID)
	}
	b.Queue(s.SQL.InsertSession, sqlstore.SessionArgs(a.Next)...)
	if a.ResetKey != "" {
		b.Queue(s.SQL.ResetKey, a.ResetKey)
	}
	if a.ReleaseKey != "" {
		b.Queue(s.SQL.Release, a.ReleaseLimit, a.ReleaseKey)
	}
	for _, e := range a.Audit {
		b.Queue(s.SQL.InsertAudit, sqlstore.AuditArgs(e)...).QueryRow(func(r pgx.Row) error { return r.Scan(&e.ID) })
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// RecordAudit appends the events in one transaction; many of them (an
// admin call on up to thousands of users) in two round trips instead of one
// per row.
func (s *Store) RecordAudit(ctx context.Context, events []*mfad.AuditEvent) error {
	if len(events) <= 1 {
		return s.Store.RecordAudit(ctx, events)
	}
	return retry(func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := insertAudit(ctx, tx, events); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// insertAudit appends two or more events: the ids first, so that each
// event learns its own, then every row in one INSERT.
func insertAudit(ctx context.Context, tx *sql.Tx, events []*mfad.AuditEvent) error {
	rows, err := tx.QueryContext(ctx, "SELECT nextval(pg_get_serial_sequence('audit', 'id')) FROM generate_series(1, $1)", len(events))
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(events))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if len(ids) != len(events) {
		return fmt.Errorf("postgres: %d audit ids for %d events", len(ids), len(events))
	}
	slices.Sort(ids) // the events' order is the trail's order
	cols := make([][]string, 7)
	for i := range cols {
		cols[i] = make([]string, len(events))
	}
	at := make([]int64, len(events))
	for i, e := range events {
		e.ID = ids[i]
		cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i], cols[5][i], cols[6][i] = e.AccountID, e.ActorID, e.UserID, e.Event, e.Outcome, e.Addr, e.Detail
		at[i] = ms(e.Time)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit(id, account_id, actor_id, user_id, event, outcome, addr, detail, at)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[])`,
		ids, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], at)
	return err
}

// Pools are the database/sql pools, for metrics.
