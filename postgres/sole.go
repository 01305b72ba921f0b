package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The session cache on PostgreSQL.
//
// An instance may answer session checks from memory only while no other
// process can change the database: then its own writes, which forget what
// they change, are the only ones. instanceLock is the advisory lock that
// says so. Every write transaction of every mfad process takes it in shared
// mode (pg_advisory_xact_lock_shared), unless its process is the sole
// instance; an instance started with the cache (Options.SessionCache) tries
// to take it in exclusive mode on a connection of its own, which
// PostgreSQL grants only while no transaction of any other process holds
// it, and from then on every other process's write waits for it.
//
// The sole instance looks every soleTick for such a waiting write (another
// instance, or mfad user on the command line); when it sees one, it stops
// answering from memory, empties the cache, and lets the lock go, and the
// write goes on: a write waits at most about soleTick for the cache to be
// given up. It tries again to become sole every soleRetry.
//
// The cache answers only while its lease runs: soleLease after the start of
// the last round trip that proved the exclusive lock still held (the
// connection alive). Should PostgreSQL end that connection (a restart, an
// administrator's pg_terminate_backend), it releases the lock, and other
// processes may write before the instance sees the connection gone: the
// lease bounds the time it could answer from memory meanwhile.
const (
	instanceLock int64 = 0x6d666164_736f6c65 // "mfadsole"
	soleTick           = 250 * time.Millisecond
	soleLease          = time.Second
	soleRetry          = 2 * time.Second
)

const (
	shareLockSQL = "SELECT pg_advisory_xact_lock_shared($1)"
	// Another session holds the lock or waits for it: then there is no
	// point in holding this process's writes up to try for it (become).
	othersSQL = `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)`
	// A write waiting for the lock: pg_locks names an advisory lock on a
	// bigint key by its high and low 32 bits (classid, objid) and
	// objsubid 1.
	waitingSQL = `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)`
)

// sole is the state of an instance with respect to instanceLock.
type sole struct {
	held atomic.Bool  // the exclusive lock is held: writes skip the shared one
	gate sync.RWMutex // writes read-lock it; becoming sole write-locks it (see become)
}

// write runs one write transaction (fn) under the gate; share says whether
// it must take instanceLock in shared mode (the process is not the sole
// instance).
func (s *Store) write(fn func(share bool) error) error {
	s.sole.gate.RLock()
	defer s.sole.gate.RUnlock()
	return fn(!s.sole.held.Load())
}

// shareLock takes instanceLock in shared mode in tx when it must.
func shareLock(ctx context.Context, tx *sql.Tx, share bool) error {
	if !share {
		return nil
	}
	_, err := tx.ExecContext(ctx, shareLockSQL, instanceLock)
	return err
}

// soleLoop keeps a connection of its own to the database and, on it, tries
// to become (and stays, while no one else wants to write) the sole
// instance, until Close.
func (s *Store) soleLoop() {
	defer close(s.soleDone)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-s.quit; cancel() }()
	for {
		s.soleRun(ctx)
		select {
		case <-s.quit:
			return
		case <-time.After(soleRetry):
		}
	}
}

// soleRun is one connection's life in soleLoop; it returns when the
// connection fails or the store closes, having given up the cache (the
// connection's end releases the lock).
func (s *Store) soleRun(ctx context.Context) {
	conn, err := pgx.ConnectConfig(ctx, s.cfg)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	defer s.resign()
	tick := time.NewTicker(soleTick)
	defer tick.Stop()
	var next time.Time // when to try to become sole again
	for {
		start := time.Now()
		if !s.sole.held.Load() {
			if !start.Before(next) {
				ok, err := s.become(ctx, conn)
				if err != nil {
					return
				}
				if !ok {
					next = start.Add(soleRetry)
				}
			}
		} else {
			var waiting bool
			if err := conn.QueryRow(ctx, waitingSQL, instanceLock>>32, instanceLock&0xffffffff).Scan(&waiting); err != nil {
				return
			}
			if waiting {
				s.resign()
				if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", instanceLock); err != nil {
					return
				}
				next = start.Add(soleRetry)
			} else {
				s.Cache.Grant(soleLease - time.Since(start))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// become tries to take instanceLock in exclusive mode. The gate holds this
// process's own writes meanwhile: those in flight hold the shared lock on
// other connections, which would refuse it, and those that start once it is
// held skip the shared lock, which would wait for it. It does not try (nor
// hold the writes up) while any other session holds or awaits the lock:
// another process is writing, or this one is.
func (s *Store) become(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var others bool
	if err := conn.QueryRow(ctx, othersSQL, instanceLock>>32, instanceLock&0xffffffff).Scan(&others); err != nil || others {
		return false, err
	}
	start := time.Now()
	s.sole.gate.Lock()
	defer s.sole.gate.Unlock()
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", instanceLock).Scan(&ok); err != nil {
		return false, err
	}
	if ok {
		s.Cache.ForgetAll()
		s.sole.held.Store(true)
		s.Cache.Grant(soleLease - time.Since(start))
	}
	return ok, nil
}

// resign stops answering from memory and lets this process's writes take
// the shared lock again (before the exclusive one is let go).
func (s *Store) resign() {
	s.Cache.Revoke()
	s.sole.held.Store(false)
}

// batchShareLock queues the shared lock first in a batch when it must.
func batchShareLock(b *pgx.Batch, share bool) {
	if share {
		b.Queue(shareLockSQL, instanceLock)
	}
}

// exec1 runs one statement outside an explicit transaction, with the
// shared lock before it when it must: both in one batch, which PostgreSQL
// runs as one implicit transaction, in one round trip.
func (s *Store) exec1(ctx context.Context, q string, args ...any) (driver.Result, error) {
	var n int64
	err := s.write(func(share bool) error {
		return s.onConn(ctx, func(pc *pgx.Conn) error {
			var b pgx.Batch
			batchShareLock(&b, share)
			b.Queue(q, args...).Exec(func(ct pgconn.CommandTag) error { n = ct.RowsAffected(); return nil })
			return pc.SendBatch(ctx, &b).Close()
		})
	})
	return driver.RowsAffected(n), err
}
