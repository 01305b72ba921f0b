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
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/sqlmig"
	"github.com/mfad/mfad/internal/sqlrow"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune the connection pool.
type Options struct {
	MaxConns       int           // open connections at most (default 16)
	ConnectTimeout time.Duration // to open one connection (default 5 s)
	QueryTimeout   time.Duration // statement_timeout and lock_timeout (default 10 s)
}

// Store is the PostgreSQL implementation of mfad.Store.
type Store struct {
	db *sql.DB
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
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// scrub drops the connection string from connection errors.
func scrub(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return ce.Unwrap()
	}
	return err
}

func migrate(ctx context.Context, db *sql.DB) error {
	p, err := migrator(db)
	if err != nil {
		return err
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
		goose.WithGoMigrations(sqlmig.RekeyEmails(func(n int) string { return "$" + strconv.Itoa(n) })))
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	return p, nil
}

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

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

// tx runs fn in one transaction and commits, retrying after a deadlock or a
// serialization failure.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return retry(func() error { return s.tx1(ctx, fn) })
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

func (s *Store) tx1(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
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

func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = $1", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", mfad.ErrNotFound
	}
	return v, dbErr(err)
}

func (s *Store) PutMetaIfAbsent(ctx context.Context, key, value string) (string, error) {
	var v string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT (key) DO NOTHING", key, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = $1", key).Scan(&v)
	})
	return v, err
}

func (s *Store) Purge(ctx context.Context, now time.Time) error {
	n, day := ms(now), int64(24*time.Hour/time.Millisecond)
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires <= $1", n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM pending_totp WHERE created <= $1", n-day); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM throttle WHERE locked_until <= $1 AND window_start <= $2", n, n-day)
		return err
	})
}

// ---- accounts

func (s *Store) CreateAccount(ctx context.Context, a *mfad.Account, admin *mfad.User) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO accounts(id, title, force_2fa, created, modified) VALUES($1, $2, $3, $4, $5)",
			a.ID, a.Title, a.Forced2FA, ms(a.Created), ms(a.Modified)); err != nil {
			return err
		}
		return insertUser(ctx, tx, admin)
	})
}

func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM accounts").Scan(&n)
	return n, dbErr(err)
}

func (s *Store) Account(ctx context.Context, id string) (*mfad.Account, error) {
	var a mfad.Account
	var created, modified int64
	err := s.db.QueryRowContext(ctx, "SELECT id, title, force_2fa, created, modified FROM accounts WHERE id = $1", id).
		Scan(&a.ID, &a.Title, &a.Forced2FA, &created, &modified)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mfad.ErrNotFound
	}
	if err != nil {
		return nil, dbErr(err)
	}
	a.Created, a.Modified = fromMS(created), fromMS(modified)
	return &a, nil
}

func (s *Store) SetAccountForce2FA(ctx context.Context, id string, on bool, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE accounts SET force_2fa = $1, modified = $2 WHERE id = $3", on, ms(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mfad.ErrNotFound
		}
		return nil
	})
}

// ---- users

// The shared row helpers, under the short names the queries use.
var (
	ms, fromMS, nullStr = sqlrow.MS, sqlrow.FromMS, sqlrow.NullStr
	userColsU           = sqlrow.Qualify(userCols, "u") // userCols of the table aliased u
)

const userCols = `id, account_id, name, email, super_admin, password_hash, has_2fa, forced_2fa,
	totp_seal, totp_gen, totp_last, has_pin, forced_pin, pin_hash, created, modified, last_login`

func insertUser(ctx context.Context, tx *sql.Tx, u *mfad.User) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO users(`+userCols+`, email_key)
		VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		u.ID, u.AccountID, u.Name, u.Email, u.SuperAdmin, u.PasswordHash, u.Has2FA, u.Forced2FA,
		u.TOTPSeal, u.TOTPGen, u.TOTPLast, u.HasPIN, u.ForcedPIN, nullStr(u.PINHash),
		ms(u.Created), ms(u.Modified), ms(u.LastLogin), mfad.EmailKey(u.Email))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && strings.Contains(pe.ConstraintName, "email") {
		return mfad.ErrEmailTaken
	}
	return err
}

func scanUser(row sqlrow.Scanner) (*mfad.User, error) {
	var u mfad.User
	var pin sql.NullString
	var created, modified, last int64
	if err := row.Scan(&u.ID, &u.AccountID, &u.Name, &u.Email, &u.SuperAdmin, &u.PasswordHash, &u.Has2FA, &u.Forced2FA,
		&u.TOTPSeal, &u.TOTPGen, &u.TOTPLast, &u.HasPIN, &u.ForcedPIN, &pin, &created, &modified, &last); err != nil {
		return nil, err
	}
	u.PINHash = pin.String
	u.Created, u.Modified, u.LastLogin = fromMS(created), fromMS(modified), fromMS(last)
	return &u, nil
}

func (s *Store) CreateUser(ctx context.Context, u *mfad.User) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertUser(ctx, tx, u) })
}

func (s *Store) oneUser(ctx context.Context, where string, arg any) (*mfad.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mfad.ErrNotFound
	}
	return u, dbErr(err)
}

func (s *Store) User(ctx context.Context, id string) (*mfad.User, error) {
	return s.oneUser(ctx, "id = $1", id)
}

func (s *Store) UserByEmail(ctx context.Context, email string) (*mfad.User, error) {
	return s.oneUser(ctx, "email_key = $1", mfad.EmailKey(email))
}

func (s *Store) Users(ctx context.Context, accountID string) ([]*mfad.User, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+userCols+" FROM users WHERE account_id = $1 ORDER BY created, id", accountID)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	users := []*mfad.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, dbErr(err)
		}
		users = append(users, u)
	}
	return users, dbErr(rows.Err())
}

// lockIDs locks the users' rows (in id order, so concurrent bulk requests
// cannot deadlock) and fails with ErrUnknownIDs unless every id is a user of
// the account. It returns the distinct ids.
func lockIDs(ctx context.Context, tx *sql.Tx, accountID string, ids []string) ([]string, error) {
	distinct := slices.Clone(ids)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	if len(distinct) == 0 {
		return nil, mfad.ErrUnknownIDs
	}
	rows, err := tx.QueryContext(ctx, "SELECT id FROM users WHERE account_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE", accountID, distinct)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		found++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if found != len(distinct) {
		return nil, mfad.ErrUnknownIDs
	}
	return distinct, nil
}

func (s *Store) DeleteUsers(ctx context.Context, accountID string, ids []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		list, err := lockIDs(ctx, tx, accountID, ids)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM users WHERE id = ANY($1)", list) // sessions cascade
		return err
	})
}

// ---- sessions

func (s *Store) CreateSession(ctx context.Context, se *mfad.Session) error {
	if se.Kind != mfad.SessionLimited {
		return s.tx(ctx, func(tx *sql.Tx) error { return insertSession(ctx, tx, se) })
	}
	return retry(func() error {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Raw(func(dc any) error { return createLimitedOn(ctx, dc.(*stdlib.Conn).Conn(), se) })
	})
}

// createLimitedOn stores a limited session and closes the user's oldest
// limited sessions beyond mfad.MaxLimitedSessions, in one transaction whose
// statements travel as one batch (three round trips, as for a plain
// insert). The batch first takes a transaction advisory lock on the user:
// one limited login of a user at a time, so the cap, a statement of its own
// (which sees what was committed before it starts), counts every other
// login's session, and concurrent logins cannot each keep ten. The lock
// waits for nothing else: not for a step or an admin call that holds the
// user's row. Like advanceOn, it leaves no transaction open on the
// connection.
func createLimitedOn(ctx context.Context, pc *pgx.Conn, se *mfad.Session) error {
	tx, err := pc.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // after Commit, nothing to do
	var b pgx.Batch
	b.Queue("SELECT pg_advisory_xact_lock(hashtextextended('mfad limited sessions ' || $1, 0))", se.UserID)
	b.Queue(insertSessionSQL, se.Hash, se.UserID, string(se.Kind), int(se.Step), ms(se.Created), ms(se.LastSeen), ms(se.Expires), se.Failures)
	b.Queue(capLimitedSQL, se.UserID, se.Hash, mfad.MaxLimitedSessions-1)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// capLimitedSQL closes a user's limited sessions but the new one ($2) and
// the newest others (the limit, $3): ties in created are broken by hash.
const capLimitedSQL = `DELETE FROM sessions WHERE user_id = $1 AND kind = 'limited' AND hash <> $2
	AND hash NOT IN (SELECT hash FROM sessions WHERE user_id = $1 AND kind = 'limited' AND hash <> $2
		ORDER BY created DESC, hash DESC LIMIT $3)`

// insertSession stores se; a full session is a login, recorded as the
// user's last_login.
func insertSession(ctx context.Context, tx *sql.Tx, se *mfad.Session) error {
	return insertSessionLogin(ctx, tx, se, se.Kind == mfad.SessionFull)
}

// insertSessionLogin is insertSession; login says whether to record the
// user's last_login (false when the caller has).
func insertSessionLogin(ctx context.Context, tx *sql.Tx, se *mfad.Session, login bool) error {
	if login {
		if _, err := tx.ExecContext(ctx, "UPDATE users SET last_login = $1 WHERE id = $2", ms(se.Created), se.UserID); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, insertSessionSQL,
		se.Hash, se.UserID, string(se.Kind), int(se.Step), ms(se.Created), ms(se.LastSeen), ms(se.Expires), se.Failures)
	return err
}

const insertSessionSQL = `INSERT INTO sessions(hash, user_id, kind, step, created, last_seen, expires, failures)
	VALUES($1, $2, $3, $4, $5, $6, $7, $8)`

func (s *Store) Session(ctx context.Context, hash []byte) (*mfad.Session, error) {
	var se mfad.Session
	var kind string
	var step int
	var created, seen, expires int64
	err := s.db.QueryRowContext(ctx, "SELECT hash, user_id, kind, step, created, last_seen, expires, failures FROM sessions WHERE hash = $1", hash).
		Scan(&se.Hash, &se.UserID, &kind, &step, &created, &seen, &expires, &se.Failures)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mfad.ErrNotFound
	}
	if err != nil {
		return nil, dbErr(err)
	}
	se.Kind, se.Step = mfad.SessionKind(kind), mfad.Step(step)
	se.Created, se.LastSeen, se.Expires = fromMS(created), fromMS(seen), fromMS(expires)
	return &se, nil
}

func (s *Store) TouchSession(ctx context.Context, hash []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx, "UPDATE sessions SET last_seen = $1 WHERE hash = $2 AND last_seen < $1", ms(now), hash)
	return dbErr(err)
}

func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE hash = $1", hash)
	return dbErr(err)
}

func (s *Store) FailSession(ctx context.Context, hash []byte, max int) (bool, error) {
	closed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		closed = false
		var n int
		err := tx.QueryRowContext(ctx, "UPDATE sessions SET failures = failures + 1 WHERE hash = $1 AND kind = 'limited' RETURNING failures", hash).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			closed = true
			return nil
		}
		if err != nil {
			return err
		}
		if n >= max {
			closed = true
			_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE hash = $1", hash)
		}
		return err
	})
	return closed, err
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
	return retry(func() error { return s.advance(ctx, a) })
}

func (s *Store) advance(ctx context.Context, a mfad.Advance) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error { return advanceOn(ctx, dc.(*stdlib.Conn).Conn(), a) })
}

// advanceOn is advance on one connection of the pool. Should its rollback
// fail, the pool drops the connection rather than hand it out with a
// transaction open (pgx's stdlib checks that before each use).
func advanceOn(ctx context.Context, pc *pgx.Conn, a mfad.Advance) error {
	tx, err := pc.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // after Commit, nothing to do
	// The checks are made once every result is in, in the order of the
	// statements (a check failing inside the batch would make pgx drop
	// its prepared statements).
	var b pgx.Batch
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
		b.Queue("SELECT locked_until FROM throttle WHERE key = $1", a.CheckKey).QueryRow(func(r pgx.Row) error {
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
	wantOne(b.Queue("DELETE FROM sessions WHERE hash = $1 AND kind = 'limited' AND user_id = $2", a.LimitedHash, a.UserID), mfad.ErrSessionGone)
	full := a.Next.Kind == mfad.SessionFull
	login := full // last_login still to record
	if a.PendingID != "" {
		// The statements of activatePending, checked as it checks them.
		wantOne(b.Queue(lockPendingSQL, a.UserID, a.PendingID), mfad.ErrNoPending)
		wantOne(b.Queue(activatePendingSQL, a.UserID, a.PendingID, a.TOTPStep, ms(a.Now)), mfad.ErrReplay)
		b.Queue(dropPendingSQL, a.UserID)
	} else if a.TOTPStep > 0 {
		// The step is consumed, and a completed login recorded, in one
		// statement.
		login = false
		wantOne(b.Queue(`UPDATE users SET totp_last = $1, last_login = CASE WHEN $4 THEN $5 ELSE last_login END
				WHERE id = $2 AND totp_last < $1 AND totp_gen = $3 AND totp_seal IS NOT NULL`,
			a.TOTPStep, a.UserID, a.TOTPGen, full, ms(a.Next.Created)), mfad.ErrReplay)
	}
	if login {
		b.Queue("UPDATE users SET last_login = $1 WHERE id = $2", ms(a.Next.Created), a.UserID)
	}
	se := a.Next
	b.Queue(insertSessionSQL, se.Hash, se.UserID, string(se.Kind), int(se.Step), ms(se.Created), ms(se.LastSeen), ms(se.Expires), se.Failures)
	if a.ResetKey != "" {
		b.Queue("DELETE FROM throttle WHERE key = $1", a.ResetKey)
	}
	if a.ReleaseKey != "" {
		b.Queue(releaseSQL, a.ReleaseLimit, a.ReleaseKey)
	}
	for _, e := range a.Audit {
		b.Queue(insertAuditRow, e.AccountID, e.ActorID, e.UserID, e.Event, e.Outcome, e.Addr, e.Detail, ms(e.Time)).
			QueryRow(func(r pgx.Row) error { return r.Scan(&e.ID) })
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

// activatePending makes the pending secret id the user's active one and
// consumes step, failing with ErrNoPending if it was replaced and ErrReplay
// if the step is not after the last accepted one.
func activatePending(ctx context.Context, tx *sql.Tx, userID, pendingID string, step, now int64) error {
	res, err := tx.ExecContext(ctx, lockPendingSQL, userID, pendingID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return mfad.ErrNoPending
	}
	res, err = tx.ExecContext(ctx, activatePendingSQL, userID, pendingID, step, now)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return mfad.ErrReplay
	}
	_, err = tx.ExecContext(ctx, dropPendingSQL, userID)
	return err
}

// The statements of activatePending, also sent in AdvanceLogin's batch:
// the pending secret is locked first, then made the active one while the
// step is after the last accepted one, then dropped.
const (
	lockPendingSQL     = "SELECT 1 FROM pending_totp WHERE user_id = $1 AND id = $2 FOR UPDATE"
	activatePendingSQL = `UPDATE users SET totp_seal = p.seal, totp_gen = users.totp_gen + 1, totp_last = $3, has_2fa = true, modified = $4
		FROM pending_totp p WHERE users.id = $1 AND p.user_id = $1 AND p.id = $2 AND users.totp_last < $3`
	dropPendingSQL = "DELETE FROM pending_totp WHERE user_id = $1"
)

// ---- factors

func (s *Store) PutPendingTOTP(ctx context.Context, p *mfad.PendingTOTP) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO pending_totp(user_id, id, seal, created) VALUES($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, seal = excluded.seal, created = excluded.created`,
		p.UserID, p.ID, p.Seal, ms(p.Created))
	return dbErr(err)
}

func (s *Store) PendingTOTP(ctx context.Context, userID string) (*mfad.PendingTOTP, error) {
	var p mfad.PendingTOTP
	var created int64
	err := s.db.QueryRowContext(ctx, "SELECT user_id, id, seal, created FROM pending_totp WHERE user_id = $1", userID).
		Scan(&p.UserID, &p.ID, &p.Seal, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mfad.ErrNotFound
	}
	if err != nil {
		return nil, dbErr(err)
	}
	p.Created = fromMS(created)
	return &p, nil
}

func (s *Store) EnrollTOTP(ctx context.Context, e mfad.Enroll) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := activatePending(ctx, tx, e.UserID, e.PendingID, e.Step, ms(e.Now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = $1 AND hash IS DISTINCT FROM $2", e.UserID, e.KeepHash)
		return err
	})
}

func (s *Store) SetPIN(ctx context.Context, userID, hash string, keepHash []byte, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET has_pin = true, pin_hash = $1, modified = $2 WHERE id = $3", hash, ms(now), userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return mfad.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = $1 AND hash IS DISTINCT FROM $2", userID, keepHash)
		return err
	})
}

func (s *Store) RemoveFactor(ctx context.Context, userID string, t mfad.AuthType, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var forced2, forcedPIN, account2 bool
		// Lock the user, and the account row against a concurrent change of
		// its forced 2FA.
		err := tx.QueryRowContext(ctx, `SELECT u.forced_2fa, u.forced_pin, a.force_2fa
			FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = $1 FOR UPDATE`, userID).Scan(&forced2, &forcedPIN, &account2)
		if errors.Is(err, sql.ErrNoRows) {
			return mfad.ErrNotFound
		}
		if err != nil {
			return err
		}
		switch t {
		case mfad.AuthTOTP:
			if forced2 || account2 {
				return mfad.ErrForced
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM pending_totp WHERE user_id = $1", userID); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `UPDATE users SET has_2fa = false, totp_seal = NULL, totp_gen = totp_gen + 1, modified = $1
				WHERE id = $2 AND (has_2fa OR totp_seal IS NOT NULL)`, ms(now), userID)
		case mfad.AuthPIN:
			if forcedPIN {
				return mfad.ErrForced
			}
			_, err = tx.ExecContext(ctx, "UPDATE users SET has_pin = false, pin_hash = NULL, modified = $1 WHERE id = $2 AND (has_pin OR pin_hash IS NOT NULL)", ms(now), userID)
		default:
			return fmt.Errorf("postgres: unknown factor %q", t)
		}
		return err
	})
}

func (s *Store) AdminSetFactor(ctx context.Context, accountID string, ids []string, t mfad.AuthType, pinHash string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		list, err := lockIDs(ctx, tx, accountID, ids)
		if err != nil {
			return err
		}
		switch t {
		case mfad.AuthTOTP:
			_, err = tx.ExecContext(ctx, "UPDATE users SET has_2fa = true, forced_2fa = true, modified = $1 WHERE id = ANY($2)", ms(now), list)
		case mfad.AuthPIN:
			_, err = tx.ExecContext(ctx, "UPDATE users SET has_pin = true, forced_pin = true, pin_hash = $1, modified = $2 WHERE id = ANY($3)", pinHash, ms(now), list)
		default:
			return fmt.Errorf("postgres: unknown factor %q", t)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ANY($1)", list)
		return err
	})
}

func (s *Store) AdminRemoveFactor(ctx context.Context, accountID string, ids []string, t mfad.AuthType, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		list, err := lockIDs(ctx, tx, accountID, ids)
		if err != nil {
			return err
		}
		switch t {
		case mfad.AuthTOTP:
			var force bool
			if err := tx.QueryRowContext(ctx, "SELECT force_2fa FROM accounts WHERE id = $1 FOR SHARE", accountID).Scan(&force); err != nil {
				return err
			}
			if force {
				return mfad.ErrForced
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM pending_totp WHERE user_id = ANY($1)", list); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `UPDATE users SET has_2fa = false, forced_2fa = false, totp_seal = NULL,
				totp_gen = totp_gen + 1, modified = $1 WHERE id = ANY($2)`, ms(now), list)
		case mfad.AuthPIN:
			_, err = tx.ExecContext(ctx, "UPDATE users SET has_pin = false, forced_pin = false, pin_hash = NULL, modified = $1 WHERE id = ANY($2)", ms(now), list)
		default:
			return fmt.Errorf("postgres: unknown factor %q", t)
		}
		return err
	})
}

func (s *Store) AdminResetTOTP(ctx context.Context, accountID string, ids []string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		list, err := lockIDs(ctx, tx, accountID, ids)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM pending_totp WHERE user_id = ANY($1)", list); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET totp_seal = NULL, totp_gen = totp_gen + 1, modified = $1 WHERE id = ANY($2)", ms(now), list); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ANY($1)", list)
		return err
	})
}

// ---- throttling

func (s *Store) Reserve(ctx context.Context, key string, p mfad.Throttle, now time.Time) (mfad.Reservation, error) {
	var res mfad.Reservation
	n := ms(now)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res = mfad.Reservation{}
		// One statement makes the row exist and locks it, even when a
		// concurrent success deletes it (ResetThrottle) meanwhile.
		var count int
		var start, locked int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO throttle(key, count, window_start, locked_until) VALUES($1, 0, $2, 0)
			ON CONFLICT (key) DO UPDATE SET key = excluded.key
			RETURNING count, window_start, locked_until`, key, n).Scan(&count, &start, &locked); err != nil {
			return err
		}
		if locked > n {
			res.RetryAfter = time.Duration(locked-n) * time.Millisecond
			return nil
		}
		if start+p.Window.Milliseconds() <= n {
			count, start = 0, n
		}
		count++
		locked = 0
		if count >= p.Limit {
			locked = n + p.Lock.Milliseconds()
			res.Locks = true
		}
		_, err := tx.ExecContext(ctx, "UPDATE throttle SET count = $1, window_start = $2, locked_until = $3 WHERE key = $4", count, start, locked, key)
		return err
	})
	return res, err
}

func (s *Store) Release(ctx context.Context, key string, p mfad.Throttle) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return release(ctx, tx, key, p.Limit) })
}

func release(ctx context.Context, tx *sql.Tx, key string, limit int) error {
	_, err := tx.ExecContext(ctx, releaseSQL, limit, key)
	return err
}

const releaseSQL = `UPDATE throttle SET count = GREATEST(count - 1, 0),
	locked_until = CASE WHEN count - 1 < $1 THEN 0 ELSE locked_until END WHERE key = $2`

func (s *Store) ResetThrottle(ctx context.Context, key string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM throttle WHERE key = $1", key)
	return dbErr(err)
}

// ---- audit trail

func (s *Store) RecordAudit(ctx context.Context, events []*mfad.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return insertAudit(ctx, tx, events) })
}

const insertAuditRow = `INSERT INTO audit(account_id, actor_id, user_id, event, outcome, addr, detail, at)
	VALUES($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`

func insertAudit(ctx context.Context, tx *sql.Tx, events []*mfad.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	if len(events) == 1 {
		e := events[0]
		return tx.QueryRowContext(ctx, insertAuditRow,
			e.AccountID, e.ActorID, e.UserID, e.Event, e.Outcome, e.Addr, e.Detail, ms(e.Time)).Scan(&e.ID)
	}
	// Many rows (an admin call on up to thousands of users) in two round
	// trips instead of one per row: the ids first, so that each event
	// learns its own, then every row in one INSERT.
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

func (s *Store) AuditEvents(ctx context.Context, accountID string, before int64, limit int) ([]*mfad.AuditEvent, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, account_id, actor_id, user_id, event, outcome, addr, detail, at
		FROM audit WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, accountID, before, limit)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	events := []*mfad.AuditEvent{}
	for rows.Next() {
		var e mfad.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.ActorID, &e.UserID, &e.Event, &e.Outcome, &e.Addr, &e.Detail, &at); err != nil {
			return nil, dbErr(err)
		}
		e.Time = fromMS(at)
		events = append(events, &e)
	}
	return events, dbErr(rows.Err())
}

// ---- key rotation

func (s *Store) SealedSecrets(ctx context.Context) ([]mfad.SealedSecret, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, false, totp_seal FROM users WHERE totp_seal IS NOT NULL
		UNION ALL SELECT user_id, true, seal FROM pending_totp`)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	var out []mfad.SealedSecret
	for rows.Next() {
		var sec mfad.SealedSecret
		if err := rows.Scan(&sec.UserID, &sec.Pending, &sec.Seal); err != nil {
			return nil, dbErr(err)
		}
		out = append(out, sec)
	}
	return out, dbErr(rows.Err())
}

func (s *Store) Reseal(ctx context.Context, old mfad.SealedSecret, seal []byte) (bool, error) {
	query := "UPDATE users SET totp_seal = $1 WHERE id = $2 AND totp_seal = $3"
	if old.Pending {
		query = "UPDATE pending_totp SET seal = $1 WHERE user_id = $2 AND seal = $3"
	}
	done := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, seal, old.UserID, old.Seal)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		done = n == 1
		return nil
	})
	return done, err
}

func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value)
		return err
	})
}

func (s *Store) CountSessions(ctx context.Context, now time.Time) (full, limited int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN kind = 'full' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN kind = 'limited' THEN 1 ELSE 0 END), 0)
		FROM sessions WHERE expires > $1`, ms(now)).Scan(&full, &limited)
	return full, limited, dbErr(err)
}

// Pools are the database/sql pools, for metrics.
func (s *Store) Pools() map[string]*sql.DB { return map[string]*sql.DB{"postgres": s.db} }

func (s *Store) SessionUser(ctx context.Context, hash []byte) (*mfad.Session, *mfad.User, *mfad.Account, error) {
	var se mfad.Session
	var a mfad.Account
	var kind string
	var step int
	var created, seen, expires, aCreated, aModified int64
	var force bool
	row := s.db.QueryRowContext(ctx, `SELECT s.hash, s.kind, s.step, s.created, s.last_seen, s.expires, s.failures,
		a.id, a.title, a.force_2fa, a.created, a.modified, `+userColsU+`
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id
		WHERE s.hash = $1`, hash)
	u, err := scanUser(sqlrow.Prefixed{Row: row, Lead: []any{&se.Hash, &kind, &step, &created, &seen, &expires, &se.Failures,
		&a.ID, &a.Title, &force, &aCreated, &aModified}})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil, mfad.ErrNotFound
	}
	if err != nil {
		return nil, nil, nil, dbErr(err)
	}
	se.UserID, se.Kind, se.Step = u.ID, mfad.SessionKind(kind), mfad.Step(step)
	se.Created, se.LastSeen, se.Expires = fromMS(created), fromMS(seen), fromMS(expires)
	a.Forced2FA, a.Created, a.Modified = force, fromMS(aCreated), fromMS(aModified)
	return &se, u, &a, nil
}
