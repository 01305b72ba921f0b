// Package sqlite implements mfad.Store on an embedded SQLite database through
// the cgo-free modernc.org/sqlite driver.
//
// Writes go through one goroutine that owns the one writer connection
// (SQLite has one writer at a time), so writers queue in the process, in
// arrival order, instead of failing with "database is locked"; the writes
// that queue during a commit are committed together (see Store.tx). Reads
// use a pool of read-only connections that WAL mode lets run beside the
// writer. synchronous=FULL makes every commit durable before the call
// returns.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"math"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	sqlite3 "modernc.org/sqlite"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/sqlmig"
	"github.com/mfad/mfad/internal/sqlrow"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of mfad.Store.
type Store struct {
	w       *sql.DB       // the single writer connection, used by the writer goroutine only
	r       *rdb          // read-only connections
	writes  chan *write   // to the writer goroutine (unbuffered: senders queue in arrival order)
	quit    chan struct{} // closed by Close
	once    sync.Once     // closes quit
	stopped chan struct{} // closed when the writer goroutine has returned
	grouped atomic.Int64  // writes committed in a group of more than one

	// The writer's kept statements (see stmt.go); the writer goroutine
	// alone uses them.
	wstmts map[string]*sql.Stmt // nil: could not be prepared
	wwant  map[string]bool      // to prepare after the current commit
}

var _ mfad.Store = (*Store)(nil)

// Open opens (creating if needed, with mode 0600) the database file at path
// and applies the migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// Options tune the database.
type Options struct {
	// Synchronous is SQLite's synchronous setting: "full" (the default)
	// makes every commit durable against power loss; "normal" keeps commits
	// durable against a killed process (WAL mode) but not against a power
	// failure, and makes each commit several times cheaper.
	Synchronous string
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	sync := "FULL"
	switch strings.ToLower(o.Synchronous) {
	case "", "full":
	case "normal":
		sync = "NORMAL"
	default:
		return nil, fmt.Errorf("sqlite: synchronous %q: use full or normal", o.Synchronous)
	}
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	dsn := func(extra string) string {
		q := url.Values{}
		for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(" + sync + ")", "temp_store(MEMORY)"} {
			q.Add("_pragma", p)
		}
		if extra != "" {
			q.Add("_pragma", extra)
		} else {
			q.Set("_txlock", "immediate")
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s := &Store{w: w, r: &rdb{DB: r}, wstmts: map[string]*sql.Stmt{}, wwant: map[string]bool{}, writes: make(chan *write), quit: make(chan struct{}), stopped: make(chan struct{})}
	go s.writer()
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	p, err := migrator(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// migrator returns the migrations of the schema: the SQL files and the Go
// migrations both stores share.
func migrator(db *sql.DB) (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"),
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(sqlmig.RekeyEmails(func(int) string { return "?" })))
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	return p, nil
}

// Close stops the writer and closes both pools. Writes after Close fail
// with mfad.ErrUnavailable.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.quit) })
	<-s.stopped
	return errors.Join(s.r.Close(), s.w.Close())
}

// IntegrityCheck runs PRAGMA integrity_check and returns its first line.
func (s *Store) IntegrityCheck(ctx context.Context) (string, error) {
	var res string
	err := s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res)
	return res, err
}

// dbErr marks errors that mean the database cannot serve (I/O, read-only,
// locked past the busy timeout, disk full) as mfad.ErrUnavailable.
func dbErr(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 5, 6, 8, 10, 11, 13, 14, 26: // BUSY LOCKED READONLY IOERR CORRUPT FULL CANTOPEN NOTADB
			return fmt.Errorf("%w: %v", mfad.ErrUnavailable, err)
		}
	}
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "database is closed") {
		return fmt.Errorf("%w: %v", mfad.ErrUnavailable, err)
	}
	return err
}

// tx runs fn in a write transaction and returns once that transaction has
// committed (or failed). fn must do all its work through tx and may be
// called at most once.
//
// One goroutine owns the writer connection. Writes reach it in arrival order
// (blocked senders on an unbuffered channel are served first come, first
// served), so a burst of writes cannot starve one request. Writes that queue
// while a commit is being synced are committed together, each inside its own
// savepoint: one that fails is rolled back alone, and one fsync makes the
// whole group durable (group commit). Every caller learns its outcome only
// after that commit, so no change is acknowledged before it is durable.
func (s *Store) tx(ctx context.Context, fn func(*wtx) error) error {
	return s.submit(ctx, fn, false)
}

// txSolo is tx for a large write (an admin call on up to thousands of
// users): it is committed alone, not in a group, so that the savepoint
// journals of many large writes do not pile up in memory at once.
func (s *Store) txSolo(ctx context.Context, fn func(*wtx) error) error {
	return s.submit(ctx, fn, true)
}

func (s *Store) submit(ctx context.Context, fn func(*wtx) error, solo bool) error {
	if err := ctx.Err(); err != nil {
		return dbErr(err)
	}
	w := &write{ctx: ctx, fn: fn, solo: solo, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-ctx.Done():
		return dbErr(ctx.Err())
	case <-s.quit:
		return errClosed
	}
	// Once handed over, the write is waited for even if ctx ends: its
	// outcome is known only after the commit.
	return dbErr(<-w.done)
}

var errClosed = fmt.Errorf("%w: database is closed", mfad.ErrUnavailable)

// A write is one transaction's work, queued for the writer goroutine.
type write struct {
	ctx  context.Context
	fn   func(*wtx) error
	solo bool       // committed alone (see txSolo)
	done chan error // buffered: the writer never blocks on it
}

// run calls the write's function; a panic in it fails that write instead
// of the writer goroutine (and with it the process).
func (w *write) run(tx *wtx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlite: panic in a write: %v", p)
		}
	}()
	return w.fn(tx)
}

// maxGroup bounds the writes committed together.
const maxGroup = 128

func (s *Store) writer() {
	defer close(s.stopped)
	group := make([]*write, 0, maxGroup)
	var next *write // a solo write that ended the last gathering
	for {
		if next != nil {
			group, next = append(group[:0], next), nil
		} else {
			select {
			case w := <-s.writes:
				group = append(group[:0], w)
			case <-s.quit:
				return
			}
		}
	gather:
		for len(group) < maxGroup && !group[0].solo {
			select {
			case w := <-s.writes:
				if w.solo {
					next = w // after this group, in arrival order
					break gather
				}
				group = append(group, w)
			default:
				break gather
			}
		}
		if len(group) == 1 {
			group[0].done <- s.commitOne(group[0])
		} else {
			s.grouped.Add(int64(len(group)))
			s.commitGroup(group)
		}
		s.prepareWanted()
	}
}

// commitOne runs a write alone in its own transaction.
func (s *Store) commitOne(w *write) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	btx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	tx := &wtx{tx: btx, s: s, ctx: w.ctx}
	if err := w.run(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// commitGroup runs the writes of group in one transaction, each in a
// savepoint, and commits them together.
func (s *Store) commitGroup(group []*write) {
	bg := context.Background()
	errs := make([]error, len(group))
	fail := func(err error) {
		for i, w := range group {
			if errs[i] == nil {
				errs[i] = err
			}
			w.done <- errs[i]
		}
	}
	btx, err := s.w.BeginTx(bg, nil)
	if err != nil {
		fail(err)
		return
	}
	tx := &wtx{tx: btx, s: s, ctx: bg}
	for i, w := range group {
		if err := w.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(err)
			return
		}
		if errs[i] = w.run(tx); errs[i] != nil {
			// Undo this write alone. If SQLite has rolled the whole
			// transaction back already (an I/O error, an interrupted
			// statement), nothing of the group is committed: all fail.
			if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
				tx.Rollback()
				fail(err)
				return
			}
		}
		if _, err := tx.Exec("RELEASE w"); err != nil {
			tx.Rollback()
			fail(err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(err)
		return
	}
	for i, w := range group {
		w.done <- errs[i]
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return dbErr(err)
	}
	// A read-only or vanished database still answers reads: check that the
	// writer can take the write lock too.
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.Exec("UPDATE meta SET value = value WHERE key = 'ping'")
		return err
	})
}

func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", mfad.ErrNotFound
	}
	return v, dbErr(err)
}

func (s *Store) PutMetaIfAbsent(ctx context.Context, key, value string) (string, error) {
	var v string
	err := s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.Exec("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO NOTHING", key, value); err != nil {
			return err
		}
		return tx.QueryRow("SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	})
	return v, err
}

func (s *Store) Purge(ctx context.Context, now time.Time) error {
	n := ms(now)
	return s.txSolo(ctx, func(tx *wtx) error {
		if _, err := tx.Exec("DELETE FROM sessions WHERE expires <= ?", n); err != nil {
			return err
		}
		if _, err := tx.Exec("DELETE FROM pending_totp WHERE created <= ?", n-int64(24*time.Hour/time.Millisecond)); err != nil {
			return err
		}
		// A throttle row matters while locked or while its window is open;
		// windows are at most a day long.
		_, err := tx.Exec("DELETE FROM throttle WHERE locked_until <= ? AND window_start <= ?", n, n-int64(24*time.Hour/time.Millisecond))
		return err
	})
}

// ---- accounts

func (s *Store) CreateAccount(ctx context.Context, a *mfad.Account, admin *mfad.User) error {
	return s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.Exec("INSERT INTO accounts(id, title, force_2fa, created, modified) VALUES(?, ?, ?, ?, ?)",
			a.ID, a.Title, b2i(a.Forced2FA), ms(a.Created), ms(a.Modified)); err != nil {
			return err
		}
		return insertUser(tx, admin)
	})
}

func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM accounts").Scan(&n)
	return n, dbErr(err)
}

func (s *Store) Account(ctx context.Context, id string) (*mfad.Account, error) {
	var a mfad.Account
	var force int
	var created, modified int64
	err := s.r.QueryRowContext(ctx, "SELECT id, title, force_2fa, created, modified FROM accounts WHERE id = ?", id).
		Scan(&a.ID, &a.Title, &force, &created, &modified)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mfad.ErrNotFound
	}
	if err != nil {
		return nil, dbErr(err)
	}
	a.Forced2FA, a.Created, a.Modified = force != 0, fromMS(created), fromMS(modified)
	return &a, nil
}

func (s *Store) SetAccountForce2FA(ctx context.Context, id string, on bool, now time.Time) error {
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.Exec("UPDATE accounts SET force_2fa = ?, modified = ? WHERE id = ?", b2i(on), ms(now), id)
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

func insertUser(tx *wtx, u *mfad.User) error {
	_, err := tx.Exec(`INSERT INTO users(`+userCols+`, email_key)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.AccountID, u.Name, u.Email, b2i(u.SuperAdmin), u.PasswordHash, b2i(u.Has2FA), b2i(u.Forced2FA),
		u.TOTPSeal, u.TOTPGen, u.TOTPLast, b2i(u.HasPIN), b2i(u.ForcedPIN), nullStr(u.PINHash),
		ms(u.Created), ms(u.Modified), ms(u.LastLogin), mfad.EmailKey(u.Email))
	var se *sqlite3.Error
	if errors.As(err, &se) && se.Code() == 2067 { // SQLITE_CONSTRAINT_UNIQUE
		return mfad.ErrEmailTaken
	}
	return err
}

func scanUser(row sqlrow.Scanner) (*mfad.User, error) {
	var u mfad.User
	var admin, has2, f2, hasPIN, fPIN int
	var pin sql.NullString
	var created, modified, last int64
	if err := row.Scan(&u.ID, &u.AccountID, &u.Name, &u.Email, &admin, &u.PasswordHash, &has2, &f2,
		&u.TOTPSeal, &u.TOTPGen, &u.TOTPLast, &hasPIN, &fPIN, &pin, &created, &modified, &last); err != nil {
		return nil, err
	}
	u.SuperAdmin, u.Has2FA, u.Forced2FA, u.HasPIN, u.ForcedPIN = admin != 0, has2 != 0, f2 != 0, hasPIN != 0, fPIN != 0
	u.PINHash = pin.String
	u.Created, u.Modified, u.LastLogin = fromMS(created), fromMS(modified), fromMS(last)
	return &u, nil
}

func (s *Store) CreateUser(ctx context.Context, u *mfad.User) error {
	return s.tx(ctx, func(tx *wtx) error { return insertUser(tx, u) })
}

func (s *Store) oneUser(ctx context.Context, where string, arg any) (*mfad.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mfad.ErrNotFound
	}
	return u, dbErr(err)
}

func (s *Store) User(ctx context.Context, id string) (*mfad.User, error) {
	return s.oneUser(ctx, "id = ?", id)
}

func (s *Store) UserByEmail(ctx context.Context, email string) (*mfad.User, error) {
	return s.oneUser(ctx, "email_key = ?", mfad.EmailKey(email))
}

func (s *Store) Users(ctx context.Context, accountID string) ([]*mfad.User, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+userCols+" FROM users WHERE account_id = ? ORDER BY created, id", accountID)
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

// checkIDs fails with ErrUnknownIDs unless every id is a user of the account.
// The ids are bound through a JSON array, so any number fits in one statement.
// The unary + keeps SQLite from scanning the whole account through its index
// instead of looking each id up by primary key.
func checkIDs(tx *wtx, accountID string, ids []string) (string, error) {
	list := jsonArray(ids)
	var want, got int
	err := tx.QueryRow(`SELECT
		(SELECT count(DISTINCT value) FROM json_each(?)),
		(SELECT count(*) FROM users WHERE +account_id = ? AND id IN (SELECT value FROM json_each(?)))`,
		list, accountID, list).Scan(&want, &got)
	if err != nil {
		return "", err
	}
	if want != got || want == 0 {
		return "", mfad.ErrUnknownIDs
	}
	return list, nil
}

func jsonArray(ids []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		// ids are validated UUIDs before they reach the store; quote anyway.
		b.WriteString(fmt.Sprintf("%q", id))
	}
	b.WriteByte(']')
	return b.String()
}

const inIDs = "id IN (SELECT value FROM json_each(?))"
const userInIDs = "user_id IN (SELECT value FROM json_each(?))"

func (s *Store) DeleteUsers(ctx context.Context, accountID string, ids []string) error {
	return s.txSolo(ctx, func(tx *wtx) error {
		list, err := checkIDs(tx, accountID, ids)
		if err != nil {
			return err
		}
		if _, err := tx.Exec("DELETE FROM sessions WHERE "+userInIDs, list); err != nil {
			return err
		}
		_, err = tx.Exec("DELETE FROM users WHERE "+inIDs, list)
		return err
	})
}

// ---- sessions

func (s *Store) CreateSession(ctx context.Context, se *mfad.Session) error {
	return s.tx(ctx, func(tx *wtx) error {
		if err := insertSession(tx, se); err != nil || se.Kind != mfad.SessionLimited {
			return err
		}
		// Writes are serial (one writer): the count is exact. Counting
		// (in the index on user_id, kind) first spares the usual login,
		// under the limit, the dearer DELETE.
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM sessions WHERE user_id = ? AND kind = 'limited'", se.UserID).Scan(&n); err != nil {
			return err
		}
		if n <= mfad.MaxLimitedSessions {
			return nil
		}
		_, err := tx.Exec(capLimitedSQL, se.UserID, se.Hash, se.UserID, se.Hash, mfad.MaxLimitedSessions-1)
		return err
	})
}

// capLimitedSQL closes a user's limited sessions but the new one (hash) and
// the newest others (the limit): ties in created are broken by hash.
const capLimitedSQL = `DELETE FROM sessions WHERE user_id = ? AND kind = 'limited' AND hash <> ?
	AND hash NOT IN (SELECT hash FROM sessions WHERE user_id = ? AND kind = 'limited' AND hash <> ?
		ORDER BY created DESC, hash DESC LIMIT ?)`

// insertSession stores se; a full session is a login, recorded as the
// user's last_login.
func insertSession(tx *wtx, se *mfad.Session) error {
	return insertSessionLogin(tx, se, se.Kind == mfad.SessionFull)
}

// insertSessionLogin is insertSession; login says whether to record the
// user's last_login (false when the caller has).
func insertSessionLogin(tx *wtx, se *mfad.Session, login bool) error {
	if login {
		if _, err := tx.Exec("UPDATE users SET last_login = ? WHERE id = ?", ms(se.Created), se.UserID); err != nil {
			return err
		}
	}
	_, err := tx.Exec(`INSERT INTO sessions(hash, user_id, kind, step, created, last_seen, expires, failures)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?)`,
		se.Hash, se.UserID, string(se.Kind), int(se.Step), ms(se.Created), ms(se.LastSeen), ms(se.Expires), se.Failures)
	return err
}

func (s *Store) Session(ctx context.Context, hash []byte) (*mfad.Session, error) {
	var se mfad.Session
	var kind string
	var step int
	var created, seen, expires int64
	err := s.r.QueryRowContext(ctx, "SELECT hash, user_id, kind, step, created, last_seen, expires, failures FROM sessions WHERE hash = ?", hash).
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
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.Exec("UPDATE sessions SET last_seen = ? WHERE hash = ? AND last_seen < ?", ms(now), hash, ms(now))
		return err
	})
}

func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.Exec("DELETE FROM sessions WHERE hash = ?", hash)
		return err
	})
}

func (s *Store) FailSession(ctx context.Context, hash []byte, max int) (bool, error) {
	closed := false
	err := s.tx(ctx, func(tx *wtx) error {
		var n int
		err := tx.QueryRow("UPDATE sessions SET failures = failures + 1 WHERE hash = ? AND kind = 'limited' RETURNING failures", hash).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			closed = true
			return nil
		}
		if err != nil {
			return err
		}
		if n >= max {
			closed = true
			_, err = tx.Exec("DELETE FROM sessions WHERE hash = ?", hash)
		}
		return err
	})
	return closed, err
}

func (s *Store) AdvanceLogin(ctx context.Context, a mfad.Advance) error {
	return s.tx(ctx, func(tx *wtx) error {
		if a.CheckKey != "" {
			var locked int64
			err := tx.QueryRow("SELECT locked_until FROM throttle WHERE key = ?", a.CheckKey).Scan(&locked)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if n := ms(a.Now); locked > n {
				return &mfad.LockedError{RetryAfter: time.Duration(locked-n) * time.Millisecond}
			}
		}
		res, err := tx.Exec("DELETE FROM sessions WHERE hash = ? AND kind = 'limited' AND user_id = ?", a.LimitedHash, a.UserID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return mfad.ErrSessionGone
		}
		now := ms(a.Now)
		full := a.Next.Kind == mfad.SessionFull
		recorded := false // last_login already set
		if a.PendingID != "" {
			if err := activatePending(tx, a.UserID, a.PendingID, a.TOTPStep, now); err != nil {
				return err
			}
		} else if a.TOTPStep > 0 {
			recorded = true
			// The step is consumed, and a completed login recorded, in one
			// statement.
			res, err := tx.Exec(`UPDATE users SET totp_last = ?, last_login = CASE WHEN ? THEN ? ELSE last_login END
				WHERE id = ? AND totp_last < ? AND totp_gen = ? AND totp_seal IS NOT NULL`,
				a.TOTPStep, full, ms(a.Next.Created), a.UserID, a.TOTPStep, a.TOTPGen)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return mfad.ErrReplay
			}
		}
		if err := insertSessionLogin(tx, a.Next, full && !recorded); err != nil {
			return err
		}
		if a.ResetKey != "" {
			if _, err := tx.Exec("DELETE FROM throttle WHERE key = ?", a.ResetKey); err != nil {
				return err
			}
		}
		if a.ReleaseKey != "" {
			if err := release(tx, a.ReleaseKey, a.ReleaseLimit); err != nil {
				return err
			}
		}
		return insertAudit(tx, a.Audit)
	})
}

// activatePending makes the pending secret id the user's active one and
// consumes step, failing with ErrNoPending if it was replaced and ErrReplay
// if the step is not after the last accepted one.
func activatePending(tx *wtx, userID, pendingID string, step, now int64) error {
	res, err := tx.Exec(`UPDATE users SET
			totp_seal = (SELECT seal FROM pending_totp WHERE user_id = ? AND id = ?),
			totp_gen = totp_gen + 1, totp_last = ?, has_2fa = 1, modified = ?
		WHERE id = ? AND totp_last < ? AND EXISTS (SELECT 1 FROM pending_totp WHERE user_id = ? AND id = ?)`,
		userID, pendingID, step, now, userID, step, userID, pendingID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		var exists int
		if err := tx.QueryRow("SELECT count(*) FROM pending_totp WHERE user_id = ? AND id = ?", userID, pendingID).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return mfad.ErrNoPending
		}
		return mfad.ErrReplay
	}
	_, err = tx.Exec("DELETE FROM pending_totp WHERE user_id = ?", userID)
	return err
}

// ---- factors

func (s *Store) PutPendingTOTP(ctx context.Context, p *mfad.PendingTOTP) error {
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`INSERT INTO pending_totp(user_id, id, seal, created) VALUES(?, ?, ?, ?)
			ON CONFLICT(user_id) DO UPDATE SET id = excluded.id, seal = excluded.seal, created = excluded.created`,
			p.UserID, p.ID, p.Seal, ms(p.Created))
		return err
	})
}

func (s *Store) PendingTOTP(ctx context.Context, userID string) (*mfad.PendingTOTP, error) {
	var p mfad.PendingTOTP
	var created int64
	err := s.r.QueryRowContext(ctx, "SELECT user_id, id, seal, created FROM pending_totp WHERE user_id = ?", userID).
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
	return s.tx(ctx, func(tx *wtx) error {
		if err := activatePending(tx, e.UserID, e.PendingID, e.Step, ms(e.Now)); err != nil {
			return err
		}
		_, err := tx.Exec("DELETE FROM sessions WHERE user_id = ? AND hash IS NOT ?", e.UserID, e.KeepHash)
		return err
	})
}

func (s *Store) SetPIN(ctx context.Context, userID, hash string, keepHash []byte, now time.Time) error {
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.Exec("UPDATE users SET has_pin = 1, pin_hash = ?, modified = ? WHERE id = ?", hash, ms(now), userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return mfad.ErrNotFound
		}
		_, err = tx.Exec("DELETE FROM sessions WHERE user_id = ? AND hash IS NOT ?", userID, keepHash)
		return err
	})
}

func (s *Store) RemoveFactor(ctx context.Context, userID string, t mfad.AuthType, now time.Time) error {
	return s.tx(ctx, func(tx *wtx) error {
		var forced2, forcedPIN, account2 int
		err := tx.QueryRow(`SELECT u.forced_2fa, u.forced_pin, a.force_2fa
			FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = ?`, userID).Scan(&forced2, &forcedPIN, &account2)
		if errors.Is(err, sql.ErrNoRows) {
			return mfad.ErrNotFound
		}
		if err != nil {
			return err
		}
		switch t {
		case mfad.AuthTOTP:
			if forced2 != 0 || account2 != 0 {
				return mfad.ErrForced
			}
			if _, err := tx.Exec("DELETE FROM pending_totp WHERE user_id = ?", userID); err != nil {
				return err
			}
			_, err = tx.Exec(`UPDATE users SET has_2fa = 0, totp_seal = NULL, totp_gen = totp_gen + 1, modified = ?
				WHERE id = ? AND (has_2fa = 1 OR totp_seal IS NOT NULL)`, ms(now), userID)
		case mfad.AuthPIN:
			if forcedPIN != 0 {
				return mfad.ErrForced
			}
			_, err = tx.Exec("UPDATE users SET has_pin = 0, pin_hash = NULL, modified = ? WHERE id = ? AND (has_pin = 1 OR pin_hash IS NOT NULL)", ms(now), userID)
		default:
			return fmt.Errorf("sqlite: unknown factor %q", t)
		}
		return err
	})
}

func (s *Store) AdminSetFactor(ctx context.Context, accountID string, ids []string, t mfad.AuthType, pinHash string, now time.Time) error {
	return s.txSolo(ctx, func(tx *wtx) error {
		list, err := checkIDs(tx, accountID, ids)
		if err != nil {
			return err
		}
		switch t {
		case mfad.AuthTOTP:
			_, err = tx.Exec("UPDATE users SET has_2fa = 1, forced_2fa = 1, modified = ? WHERE "+inIDs, ms(now), list)
		case mfad.AuthPIN:
			_, err = tx.Exec("UPDATE users SET has_pin = 1, forced_pin = 1, pin_hash = ?, modified = ? WHERE "+inIDs, pinHash, ms(now), list)
		default:
			return fmt.Errorf("sqlite: unknown factor %q", t)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec("DELETE FROM sessions WHERE "+userInIDs, list)
		return err
	})
}

func (s *Store) AdminRemoveFactor(ctx context.Context, accountID string, ids []string, t mfad.AuthType, now time.Time) error {
	return s.txSolo(ctx, func(tx *wtx) error {
		list, err := checkIDs(tx, accountID, ids)
		if err != nil {
			return err
		}
		switch t {
		case mfad.AuthTOTP:
			var force int
			if err := tx.QueryRow("SELECT force_2fa FROM accounts WHERE id = ?", accountID).Scan(&force); err != nil {
				return err
			}
			if force != 0 {
				return mfad.ErrForced
			}
			if _, err := tx.Exec("DELETE FROM pending_totp WHERE "+userInIDs, list); err != nil {
				return err
			}
			_, err = tx.Exec(`UPDATE users SET has_2fa = 0, forced_2fa = 0, totp_seal = NULL,
				totp_gen = totp_gen + 1, modified = ? WHERE `+inIDs, ms(now), list)
		case mfad.AuthPIN:
			_, err = tx.Exec("UPDATE users SET has_pin = 0, forced_pin = 0, pin_hash = NULL, modified = ? WHERE "+inIDs, ms(now), list)
		default:
			return fmt.Errorf("sqlite: unknown factor %q", t)
		}
		return err
	})
}

func (s *Store) AdminResetTOTP(ctx context.Context, accountID string, ids []string, now time.Time) error {
	return s.txSolo(ctx, func(tx *wtx) error {
		list, err := checkIDs(tx, accountID, ids)
		if err != nil {
			return err
		}
		if _, err := tx.Exec("DELETE FROM pending_totp WHERE "+userInIDs, list); err != nil {
			return err
		}
		if _, err := tx.Exec("UPDATE users SET totp_seal = NULL, totp_gen = totp_gen + 1, modified = ? WHERE "+inIDs, ms(now), list); err != nil {
			return err
		}
		_, err = tx.Exec("DELETE FROM sessions WHERE "+userInIDs, list)
		return err
	})
}

// ---- throttling

func (s *Store) Reserve(ctx context.Context, key string, p mfad.Throttle, now time.Time) (mfad.Reservation, error) {
	var res mfad.Reservation
	n := ms(now)
	err := s.tx(ctx, func(tx *wtx) error {
		res = mfad.Reservation{} // this run's outcome only
		var count int
		var start, locked int64
		err := tx.QueryRow("SELECT count, window_start, locked_until FROM throttle WHERE key = ?", key).Scan(&count, &start, &locked)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if locked > n {
			res.RetryAfter = time.Duration(locked-n) * time.Millisecond
			return nil
		}
		if errors.Is(err, sql.ErrNoRows) || start+p.Window.Milliseconds() <= n {
			count, start = 0, n
		}
		count++
		locked = 0
		if count >= p.Limit {
			locked = n + p.Lock.Milliseconds()
			res.Locks = true
		}
		_, err = tx.Exec(`INSERT INTO throttle(key, count, window_start, locked_until) VALUES(?, ?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET count = excluded.count, window_start = excluded.window_start, locked_until = excluded.locked_until`,
			key, count, start, locked)
		return err
	})
	return res, err
}

func (s *Store) Release(ctx context.Context, key string, p mfad.Throttle) error {
	return s.tx(ctx, func(tx *wtx) error { return release(tx, key, p.Limit) })
}

func release(tx *wtx, key string, limit int) error {
	_, err := tx.Exec(`UPDATE throttle SET count = max(count - 1, 0),
		locked_until = CASE WHEN count - 1 < ? THEN 0 ELSE locked_until END WHERE key = ?`, limit, key)
	return err
}

func (s *Store) ResetThrottle(ctx context.Context, key string) error {
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.Exec("DELETE FROM throttle WHERE key = ?", key)
		return err
	})
}

// ---- audit trail

func (s *Store) RecordAudit(ctx context.Context, events []*mfad.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	if len(events) > 16 {
		return s.txSolo(ctx, func(tx *wtx) error { return insertAudit(tx, events) })
	}
	return s.tx(ctx, func(tx *wtx) error { return insertAudit(tx, events) })
}

func insertAudit(tx *wtx, events []*mfad.AuditEvent) error {
	for _, e := range events {
		if err := tx.QueryRow(`INSERT INTO audit(account_id, actor_id, user_id, event, outcome, addr, detail, at)
			VALUES(?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.AccountID, e.ActorID, e.UserID, e.Event, e.Outcome, e.Addr, e.Detail, ms(e.Time)).Scan(&e.ID); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) AuditEvents(ctx context.Context, accountID string, before int64, limit int) ([]*mfad.AuditEvent, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, account_id, actor_id, user_id, event, outcome, addr, detail, at
		FROM audit WHERE account_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, accountID, before, limit)
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
	rows, err := s.r.QueryContext(ctx, `SELECT id, 0, totp_seal FROM users WHERE totp_seal IS NOT NULL
		UNION ALL SELECT user_id, 1, seal FROM pending_totp`)
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
	query := "UPDATE users SET totp_seal = ? WHERE id = ? AND totp_seal = ?"
	if old.Pending {
		query = "UPDATE pending_totp SET seal = ? WHERE user_id = ? AND seal = ?"
	}
	done := false
	err := s.tx(ctx, func(tx *wtx) error {
		res, err := tx.Exec(query, seal, old.UserID, old.Seal)
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
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.Exec("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value)
		return err
	})
}

func (s *Store) CountSessions(ctx context.Context, now time.Time) (full, limited int, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN kind = 'full' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN kind = 'limited' THEN 1 ELSE 0 END), 0)
		FROM sessions WHERE expires > ?`, ms(now)).Scan(&full, &limited)
	return full, limited, dbErr(err)
}

// Pools are the database/sql pools, for metrics.
func (s *Store) Pools() map[string]*sql.DB {
	return map[string]*sql.DB{"sqlite_writer": s.w, "sqlite_reader": s.r.DB}
}

func (s *Store) SessionUser(ctx context.Context, hash []byte) (*mfad.Session, *mfad.User, *mfad.Account, error) {
	var se mfad.Session
	var a mfad.Account
	var kind string
	var step int
	var created, seen, expires, aCreated, aModified int64
	var force int
	row := s.r.QueryRowContext(ctx, `SELECT s.hash, s.kind, s.step, s.created, s.last_seen, s.expires, s.failures,
		a.id, a.title, a.force_2fa, a.created, a.modified, `+userColsU+`
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id
		WHERE s.hash = ?`, hash)
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
	a.Forced2FA, a.Created, a.Modified = force != 0, fromMS(aCreated), fromMS(aModified)
	return &se, u, &a, nil
}
