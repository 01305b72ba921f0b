package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// Statements are prepared once and kept: modernc.org/sqlite otherwise
// parses the SQL text on every call, which was 14-31% of the CPU time of a
// login step. Every query of this package is a constant string (lists of
// ids travel as one JSON parameter), so the caches stay small; they are
// bounded anyway.
const maxStmts = 256

// wtx is a write transaction whose statements are prepared once on the
// writer connection. It is used only on the writer goroutine.
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
	tx    *sql.Tx
	s     *Store
	ctx   context.Context      // the statements' context (see above)
	bound map[string]*sql.Stmt // the kept statements bound to this transaction
}

// stmt returns the transaction's handle of the kept statement of q, or nil
// when q is not prepared yet; then it asks the writer to prepare q after the
// commit (the writer's one connection is busy with this transaction now).
func (t *wtx) stmt(q string) *sql.Stmt {
	if st, ok := t.bound[q]; ok {
		return st
	}
	if st, ok := t.s.wstmts[q]; ok {
		if st == nil {
			return nil
		}
		// Bound once per transaction: a loop over 1,000 rows runs one
		// statement 1,000 times.
		b := t.tx.StmtContext(t.ctx, st)
		if t.bound == nil {
			t.bound = map[string]*sql.Stmt{}
		}
		t.bound[q] = b
		return b
	}
	if len(t.s.wstmts)+len(t.s.wwant) < maxStmts {
		t.s.wwant[q] = true
	}
	return nil
}

// Exec, QueryRow and Query run q in the transaction, under its context
// (see wtx), through the kept statement of q once it is prepared. They
// take no context of their own, so that none is passed in vain.
func (t *wtx) Exec(q string, args ...any) (sql.Result, error) {
	if st := t.stmt(q); st != nil {
		return st.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

func (t *wtx) QueryRow(q string, args ...any) *sql.Row {
	if st := t.stmt(q); st != nil {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

func (t *wtx) Query(q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(q); st != nil {
		return st.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, q, args...)
}

// Commit and Rollback end the transaction.
func (t *wtx) Commit() error   { return t.tx.Commit() }
func (t *wtx) Rollback() error { return t.tx.Rollback() }

// prepareWanted prepares the statements transactions asked for, while the
// writer connection is idle. A statement that fails to prepare is not
// asked for again; its callers keep running it unprepared.
func (s *Store) prepareWanted() {
	for q := range s.wwant {
		delete(s.wwant, q)
		st, err := s.w.PrepareContext(context.Background(), q)
		if err != nil {
			s.wstmts[q] = nil
			continue
		}
		s.wstmts[q] = st
	}
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
