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
	"github.com/mfad/mfad/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of mfad.Store: the shared SQL
// implementation (internal/sqlstore) with SQLite's dialect, whose writes go
// through the writer goroutine below.
type Store struct {
	*sqlstore.Store
	w       *sql.DB       // the single writer connection, used by the writer goroutine only
	r       *rdb          // read-only connections
	writes  chan *write   // to the writer goroutine (unbuffered: senders queue in arrival order)
	quit    chan struct{} // closed by Close
	once    sync.Once     // closes quit
	stopped chan struct{} // closed when the writer goroutine has returned
	grouped atomic.Int64  // writes committed in a group of more than one
	rerun   atomic.Int64  // groups run again with savepoints (see commitGroup)

	// careful: the last group had a failing write, so the next one runs
	// with savepoints from the start (see commitGroup). The writer
	// goroutine alone uses it.
	careful bool

	// The checkpointer (see checkpointer).
	ck       *sql.DB       // its one connection
	ckDone   chan struct{} // closed when it has returned
	commits  atomic.Int64  // the writer's commits since it last looked
	ckRuns   atomic.Int64  // checkpoints it ran
	ckFailed atomic.Int64  // of those, the ones that failed

	// The writer's connection: wconn holds it out of the pool for the
	// store's life, wc is the driver's connection in it (see stmt.go),
	// which the writer goroutine alone uses.
	wconn *sql.Conn
	wc    *wconn

	// dataVersion is the writer connection's PRAGMA data_version when last
	// read: it changes when another connection, so another process,
	// commits (this process writes through this connection only).
	dataVersion int64
}

// DataVersionEvery is how often the writer looks for commits of other
// processes, which empty the session cache (sqlstore.SessionCache). A
// change made by another process (mfad user, mfad account create on the
// same file) is therefore seen within DataVersionEvery, plus the time the
// writer takes to finish its current group of writes.
const DataVersionEvery = 250 * time.Millisecond

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
	// NoSessionCache turns the session cache off: every authenticated
	// request reads the database (for comparisons).
	NoSessionCache bool
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
			// The checkpointer copies the WAL back into the database
			// (see checkpointer); the writer does only if the WAL
			// reaches 8,000 pages all the same.
			q.Add("_pragma", "wal_autocheckpoint(8000)")
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
	// The checkpointer's connection never checkpoints on a commit of its
	// own: it commits nothing.
	ck, err := sql.Open("sqlite", dsn("wal_autocheckpoint(0)"))
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	ck.SetMaxIdleConns(1)
	ck.SetConnMaxLifetime(0)
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s := &Store{w: w, r: &rdb{DB: r}, ck: ck, ckDone: make(chan struct{}), writes: make(chan *write), quit: make(chan struct{}), stopped: make(chan struct{})}
	s.Store = sqlstore.New(s.dialect())
	fail := func(err error) (*Store, error) {
		if s.wconn != nil {
			s.wconn.Close()
		}
		r.Close()
		ck.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if !o.NoSessionCache {
		s.Store.Cache = sqlstore.NewSessionCache(sqlstore.CacheSessions)
		if err := w.QueryRowContext(ctx, "PRAGMA data_version").Scan(&s.dataVersion); err != nil {
			return fail(err)
		}
	}
	if s.wconn, err = w.Conn(ctx); err != nil {
		return fail(err)
	}
	if err := s.wconn.Raw(func(dc any) error { _, err := newWConn(dc); return err }); err != nil {
		return fail(err)
	}
	go s.writer()
	go s.checkpointer()
	return s, nil
}

// dialect is SQLite's part of the shared implementation. No statement
// takes a row lock: the one writer makes every write transaction run
// alone.
func (s *Store) dialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name: "sqlite",
		Write: func(ctx context.Context, solo bool, fn func(sqlstore.Querier) error) error {
			return s.submit(ctx, func(tx *wtx) error { return fn(tx) }, solo)
		},
		Exec1: func(ctx context.Context, q string, args ...any) (sql.Result, error) {
			var res sql.Result
			err := s.tx(ctx, func(tx *wtx) error {
				var err error
				res, err = tx.Exec(q, args...)
				return err
			})
			return res, err
		},
		Read: func(ctx context.Context) sqlstore.Reader { return reader{ctx, s.r} },
		Err:  dbErr,
		UniqueEmail: func(err error) bool {
			var se *sqlite3.Error
			return errors.As(err, &se) && se.Code() == 2067 // SQLITE_CONSTRAINT_UNIQUE
		},
		// Lists of ids travel as one JSON array, so any number fits in one
		// statement.
		IDs:          func(ids []string) any { return jsonArray(ids) },
		InIDs:        func(col string) string { return col + " IN (SELECT value FROM json_each(?))" },
		LockThrottle: "SELECT count, window_start, locked_until FROM throttle WHERE key = ?",
		LastInsertID: true,
		Greatest:     "max",
		// The unary + keeps SQLite from scanning a whole account through
		// its index instead of looking each listed id up by primary key.
		NoIndex: "+",
	}
}

// reader runs reads on the read-only connections under one context.
type reader struct {
	ctx context.Context
	r   *rdb
}

func (q reader) QueryRow(query string, args ...any) sqlstore.Row {
	return q.r.QueryRowContext(q.ctx, query, args...)
}

func (q reader) Query(query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.r.QueryContext(q.ctx, query, args...)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return rows, nil
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
		goose.WithGoMigrations(sqlmig.Migrations(func(int) string { return "?" })...))
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
	<-s.ckDone
	return errors.Join(s.r.Close(), s.ck.Close(), s.w.Close())
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
// while a commit is being synced are committed together: one that fails is
// rolled back alone (see commitGroup), and one fsync makes the whole group
// durable (group commit). Every caller learns its outcome only
// after that commit, so no change is acknowledged before it is durable.
func (s *Store) tx(ctx context.Context, fn func(*wtx) error) error {
	return s.submit(ctx, fn, false)
}

// txSolo is tx for a large write (an admin call on up to thousands of
// users): it is committed alone, not in a group, so that the undo
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

// writer runs the writer goroutine's loop on the driver's connection.
func (s *Store) writer() {
	defer close(s.stopped)
	defer s.wconn.Close()
	s.wconn.Raw(func(dc any) error {
		c, err := newWConn(dc) // checked by OpenWith
		if err != nil {
			panic(err)
		}
		s.wc = c
		defer c.close()
		s.writeLoop()
		return nil
	})
}

func (s *Store) writeLoop() {
	group := make([]*write, 0, maxGroup)
	var next *write // a solo write that ended the last gathering
	var tick <-chan time.Time
	if s.Store.Cache != nil {
		t := time.NewTicker(DataVersionEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		if next != nil {
			group, next = append(group[:0], next), nil
		} else {
			select {
			case w := <-s.writes:
				group = append(group[:0], w)
			case <-tick:
				s.checkDataVersion()
				continue
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
			s.answer(group, []error{nil}, s.commitOne(group[0]))
		} else {
			s.grouped.Add(int64(len(group)))
			s.commitGroup(group)
		}
	}
}

// CheckpointEvery is how often the checkpointer copies the WAL back into
// the database while there are commits. A checkpoint's fsync of the
// database file holds up the writer's commits meanwhile, longer the more
// pages it copies: with 150,000 live sessions (each new session's key on a
// random page of a larger index), every 50 ms the second factor's p99 was
// 29.0-29.3 ms, every 20 ms 19.1-24.0, every 200 ms 32.6-39.2; every 10 ms
// cost 10% more CPU per step. With 10,000 sessions 20 ms made no
// difference (17.1 against 18.8 ms).
const CheckpointEvery = 20 * time.Millisecond

// checkpointer copies the WAL back into the database (a passive
// checkpoint) on a connection of its own, every CheckpointEvery while the
// writer commits, so that the writer does not stop to do it: a group whose
// commit also ran the checkpoint took several milliseconds longer, and
// every request waiting behind it with it (the second factor's p99 was
// 8-20% lower with the checkpoints here, both builds loaded at once). The
// copy runs beside the writer's transactions, which SQLite allows: a
// checkpoint copies only committed pages that no reader still needs from
// the WAL. Should it fail or fall behind, the writer checkpoints itself at
// 8,000 pages (wal_autocheckpoint); a failure changes nothing committed.
func (s *Store) checkpointer() {
	defer close(s.ckDone)
	t := time.NewTicker(CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		if s.commits.Swap(0) == 0 {
			continue
		}
		if _, err := s.ck.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			s.ckFailed.Add(1) // SQLITE_BUSY while another process checkpoints, say
		}
		s.ckRuns.Add(1)
	}
}

// checkDataVersion empties the session cache when another process has
// committed since the last look. A failed look empties it too (the safe
// side).
func (s *Store) checkDataVersion() {
	var v int64
	tx := &wtx{c: s.wc, ctx: context.Background()}
	if err := tx.QueryRow("PRAGMA data_version").Scan(&v); err != nil || v != s.dataVersion {
		s.Store.Cache.ForgetAll()
		s.dataVersion = v
	}
}

// commitOne runs a write alone in its own transaction.
func (s *Store) commitOne(w *write) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	tx, err := begin(s.wc, w.ctx)
	if err != nil {
		return err
	}
	if err := w.run(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// commitGroup runs the writes of group in one transaction and commits them
// together, each write with the outcome it would have alone: one that fails
// leaves nothing, the others land.
//
// A write that fails must be undone alone, which takes a savepoint around
// each write: two statements more per write, a quarter of a login step's.
// Writes rarely fail, so a group first runs without them; when one of its
// writes fails, that attempt is rolled back and the whole group runs again,
// each write in a savepoint. Every write function may run more than once
// (PostgreSQL retries one after a deadlock too), and a rolled-back attempt
// leaves nothing. After a group in which a write failed, the next groups
// run with savepoints from the start until one has no failure, so that a
// stream of failing writes (replayed codes, say) does not make every group
// run twice.
func (s *Store) commitGroup(group []*write) {
	if !s.careful && s.commitOptimistic(group) {
		return
	}
	s.rerun.Add(1)
	s.careful = s.commitSavepoints(group)
}

// commitOptimistic runs the writes of group without savepoints. It reports
// false, having rolled everything back and answered no write, when one of
// them failed; otherwise every write has its answer.
func (s *Store) commitOptimistic(group []*write) bool {
	errs := make([]error, len(group))
	tx, err := begin(s.wc, context.Background())
	if err != nil {
		s.answer(group, errs, err)
		return true
	}
	for i, w := range group {
		if err := w.ctx.Err(); err != nil {
			errs[i] = err // not run: nothing to undo
			continue
		}
		if err := w.run(tx); err != nil {
			tx.Rollback() // an error here leaves nothing to commit either
			return false
		}
	}
	s.answer(group, errs, tx.Commit())
	return true
}

// commitSavepoints runs the writes of group each in a savepoint, and
// reports whether one of them failed.
func (s *Store) commitSavepoints(group []*write) (failed bool) {
	errs := make([]error, len(group))
	tx, err := begin(s.wc, context.Background())
	if err != nil {
		s.answer(group, errs, err)
		return true
	}
	abort := func(err error) bool {
		tx.Rollback()
		s.answer(group, errs, err)
		return true
	}
	for i, w := range group {
		if err := w.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			return abort(err)
		}
		if errs[i] = w.run(tx); errs[i] != nil {
			failed = true
			// Undo this write alone. If SQLite has rolled the whole
			// transaction back already (an I/O error, an interrupted
			// statement), nothing of the group is committed: all fail.
			if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
				return abort(err)
			}
		}
		if _, err := tx.Exec("RELEASE w"); err != nil {
			return abort(err)
		}
	}
	s.answer(group, errs, tx.Commit())
	return failed
}

// answer tells each write of group its outcome: its own error, or else err
// (the commit's, nil when it succeeded). The commit is counted for the
// checkpointer first, so that a checkpoint starting after a write's answer
// copies it.
func (s *Store) answer(group []*write, errs []error, err error) {
	s.commits.Add(1)
	for i, w := range group {
		if errs[i] == nil {
			errs[i] = err
		}
		w.done <- errs[i]
	}
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

// Pools are the database/sql pools, for metrics.
func (s *Store) Pools() map[string]*sql.DB {
	return map[string]*sql.DB{"sqlite_writer": s.w, "sqlite_reader": s.r.DB}
}

// jsonArray is ids as a JSON array of strings.
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
