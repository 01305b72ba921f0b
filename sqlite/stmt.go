package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mfad/mfad/internal/sqlstore"
)

// Statements are prepared once and kept: modernc.org/sqlite otherwise
// parses the SQL text on every call, which was 14-31% of the CPU time of a
// login step. Every query of this package is a constant string (lists of
// ids travel as one JSON parameter), so the caches stay small; they are
// bounded anyway.
const maxStmts = 256

// wconn is the writer's connection, used through the driver's own
// interface (database/sql's Conn.Raw) by the writer goroutine alone, for
// the whole life of the store. database/sql's statement handles, argument
// checks, rows and conversions were a fifth of the writer's time; the
// writer is the one thing every write waits for.
type wconn struct {
	c     driver.Conn
	prep  driver.ConnPrepareContext
	exec  driver.ExecerContext
	query driver.QueryerContext
	stmts map[string]driver.Stmt // kept statements, at most maxStmts
}

func newWConn(dc any) (*wconn, error) {
	c, ok := dc.(driver.Conn)
	if !ok {
		return nil, fmt.Errorf("sqlite: the driver's connection is a %T", dc)
	}
	w := &wconn{c: c, stmts: map[string]driver.Stmt{}}
	w.prep, _ = dc.(driver.ConnPrepareContext)
	w.exec, _ = dc.(driver.ExecerContext)
	w.query, _ = dc.(driver.QueryerContext)
	if w.prep == nil || w.exec == nil || w.query == nil {
		return nil, fmt.Errorf("sqlite: the driver's connection (%T) lacks a context interface", dc)
	}
	return w, nil
}

// stmt returns the kept statement of q, preparing it on first use; nil
// when the cache is full or the driver's statement lacks the context
// interfaces (q then runs unprepared).
func (w *wconn) stmt(ctx context.Context, q string) (driver.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	if len(w.stmts) >= maxStmts {
		return nil, nil
	}
	st, err := w.prep.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	_, e := st.(driver.StmtExecContext)
	_, qc := st.(driver.StmtQueryContext)
	if !e || !qc {
		st.Close()
		return nil, nil // run unprepared, through the connection's interfaces
	}
	w.stmts[q] = st
	return st, nil
}

// run executes a statement of no result (BEGIN, COMMIT, SAVEPOINT).
func (w *wconn) run(ctx context.Context, q string) error {
	_, err := w.exec.ExecContext(ctx, q, nil)
	return err
}

// close closes the kept statements.
func (w *wconn) close() {
	for q, st := range w.stmts {
		st.Close()
		delete(w.stmts, q)
	}
}

// wtx is a write transaction on the writer's connection.
//
// Its statements run under the transaction's context, not the one they are
// given. A write alone in its transaction runs under its request's context:
// when the request ends, its running statement is interrupted and the
// transaction rolled back (a purge of many sessions does not hold up a
// shutdown). The writes of a group run under no deadline: interrupting one
// statement makes SQLite roll back the whole transaction, and with it the
// other writes of the group, so a client that hangs up would fail other
// clients' logins. A grouped write whose request ended before it started is
// skipped (see commitGroup); once started it runs to its end, and every
// write that can be grouped is small. Without a deadline modernc.org/sqlite
// also spares the goroutine per statement that watches the context.
type wtx struct {
	c   *wconn
	ctx context.Context // the statements' context (see above)
	// rows is the result of the last query while it is open: SQLite
	// resets a statement to run it again, so the next statement closes it
	// first (as database/sql does for a connection's one open result).
	rows *rawRows
}

// begin starts a write transaction on c whose statements run under ctx.
// BEGIN, COMMIT and ROLLBACK run under no deadline.
func begin(c *wconn, ctx context.Context) (*wtx, error) {
	if err := c.run(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		return nil, err
	}
	return &wtx{c: c, ctx: ctx}, nil
}

// Exec, QueryRow and Query run q in the transaction, under its context
// (see wtx), through the kept statement of q. They take no context of
// their own, so that none is passed in vain.
func (t *wtx) Exec(q string, args ...any) (sql.Result, error) {
	st, nv, err := t.prepare(q, args)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return t.c.exec.ExecContext(t.ctx, q, nv)
	}
	return st.(driver.StmtExecContext).ExecContext(t.ctx, nv)
}

func (t *wtx) QueryRow(q string, args ...any) sqlstore.Row {
	rows, err := t.query(q, args)
	return rawRow{rows: rows, err: err}
}

func (t *wtx) Query(q string, args ...any) (sqlstore.Rows, error) {
	rows, err := t.query(q, args)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// prepare closes the open rows, converts args and returns the kept
// statement of q (nil: run q unprepared).
func (t *wtx) prepare(q string, args []any) (driver.Stmt, []driver.NamedValue, error) {
	t.closeRows()
	nv, err := namedValues(args)
	if err != nil {
		return nil, nil, err
	}
	st, err := t.c.stmt(t.ctx, q)
	return st, nv, err
}

func (t *wtx) query(q string, args []any) (*rawRows, error) {
	st, nv, err := t.prepare(q, args)
	if err != nil {
		return nil, err
	}
	var r driver.Rows
	if st == nil {
		r, err = t.c.query.QueryContext(t.ctx, q, nv)
	} else {
		r, err = st.(driver.StmtQueryContext).QueryContext(t.ctx, nv)
	}
	if err != nil {
		return nil, err
	}
	t.rows = &rawRows{r: r, vals: make([]driver.Value, len(r.Columns()))}
	return t.rows, nil
}

func (t *wtx) closeRows() {
	if t.rows != nil {
		t.rows.Close()
		t.rows = nil
	}
}

// Commit and Rollback end the transaction. A failed COMMIT leaves SQLite's
// transaction open: it is rolled back.
func (t *wtx) Commit() error {
	t.closeRows()
	if err := t.c.run(context.Background(), "COMMIT"); err != nil {
		t.c.run(context.Background(), "ROLLBACK") // an error: there was none left
		return err
	}
	return nil
}

func (t *wtx) Rollback() error {
	t.closeRows()
	return t.c.run(context.Background(), "ROLLBACK")
}

// namedValues are the arguments as the driver takes them, converted as
// database/sql converts them.
func namedValues(args []any) ([]driver.NamedValue, error) {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		var v driver.Value
		switch a := a.(type) {
		case nil, int64, float64, bool, []byte, string, time.Time:
			v = a
		case int:
			v = int64(a)
		default:
			var err error
			if v, err = driver.DefaultParameterConverter.ConvertValue(a); err != nil {
				return nil, fmt.Errorf("sqlite: argument %d: %w", i+1, err)
			}
		}
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv, nil
}

// rawRows are a query's rows from the driver, scanned as database/sql
// scans them (convertAssign), for the types the store's queries use.
type rawRows struct {
	r      driver.Rows
	vals   []driver.Value
	err    error
	closed bool
}

func (r *rawRows) Next() bool {
	if r.closed {
		return false
	}
	if err := r.r.Next(r.vals); err != nil {
		if err != io.EOF {
			r.err = err
		}
		r.Close()
		return false
	}
	return true
}

func (r *rawRows) Scan(dest ...any) error {
	if r.closed {
		return errors.New("sqlite: Scan of closed rows")
	}
	if len(dest) != len(r.vals) {
		return fmt.Errorf("sqlite: %d destinations for %d columns", len(dest), len(r.vals))
	}
	for i, d := range dest {
		if err := assign(d, r.vals[i]); err != nil {
			return fmt.Errorf("sqlite: column %d: %w", i, err)
		}
	}
	return nil
}

func (r *rawRows) Err() error { return r.err }

func (r *rawRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.r.Close()
}

// rawRow is QueryRow's result: the first row of its rows.
type rawRow struct {
	rows *rawRows
	err  error
}

func (r rawRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if r.rows.err != nil {
			return r.rows.err
		}
		return sql.ErrNoRows
	}
	return r.rows.Scan(dest...)
}

// assign stores the driver's value v in dest, as database/sql's Scan
// does for these destinations; bytes are copied (the driver may reuse
// them).
func assign(dest any, v driver.Value) error {
	switch d := dest.(type) {
	case *any:
		if b, ok := v.([]byte); ok {
			v = bytes.Clone(b)
		}
		*d = v
		return nil
	case sql.Scanner:
		return d.Scan(v)
	case *[]byte:
		switch x := v.(type) {
		case nil:
			*d = nil
			return nil
		case []byte:
			*d = bytes.Clone(x)
			return nil
		case string:
			*d = []byte(x)
			return nil
		}
	case *string:
		switch x := v.(type) {
		case string:
			*d = x
			return nil
		case []byte:
			*d = string(x)
			return nil
		case int64:
			*d = strconv.FormatInt(x, 10)
			return nil
		}
	case *int64:
		if x, ok := v.(int64); ok {
			*d = x
			return nil
		}
	case *int:
		if x, ok := v.(int64); ok {
			*d = int(x)
			return nil
		}
	case *bool:
		switch x := v.(type) {
		case bool:
			*d = x
			return nil
		case int64:
			if x == 0 || x == 1 {
				*d = x == 1
				return nil
			}
		}
	case *float64:
		switch x := v.(type) {
		case float64:
			*d = x
			return nil
		case int64:
			*d = float64(x)
			return nil
		}
	}
	// Anything else (a named type, a conversion not above) goes through
	// database/sql's own conversion, by way of a NullString-like holder.
	return fallbackAssign(dest, v)
}

// rdb is the pool of read-only connections, with its statements prepared
// once (on each connection as it first runs them).
type rdb struct {
	*sql.DB
	stmts sync.Map // query -> *sql.Stmt
	n     atomic.Int32
}

func (d *rdb) stmt(ctx context.Context, q string) *sql.Stmt {
	if st, ok := d.stmts.Load(q); ok {
		return st.(*sql.Stmt)
	}
	if d.n.Load() >= maxStmts {
		return nil
	}
	st, err := d.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil // the plain call below reports the error
	}
	if prev, loaded := d.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	d.n.Add(1)
	return st
}

func (d *rdb) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := d.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, q, args...)
}

func (d *rdb) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := d.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, q, args...)
}

// fallbackAssign stores v in a pointer to a named string, integer or bool
// type.
func fallbackAssign(dest any, v driver.Value) error {
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("destination %T is not a pointer", dest)
	}
	e := rv.Elem()
	switch e.Kind() {
	case reflect.String:
		switch x := v.(type) {
		case string:
			e.SetString(x)
			return nil
		case []byte:
			e.SetString(string(x))
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if x, ok := v.(int64); ok && !e.OverflowInt(x) {
			e.SetInt(x)
			return nil
		}
	case reflect.Bool:
		if x, ok := v.(int64); ok && (x == 0 || x == 1) {
			e.SetBool(x == 1)
			return nil
		}
		if x, ok := v.(bool); ok {
			e.SetBool(x)
			return nil
		}
	}
	return fmt.Errorf("cannot store %T in %T", v, dest)
}
