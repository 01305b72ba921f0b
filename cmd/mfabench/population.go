package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/seal"
)

// The known credentials of every seeded user.
const (
	benchPassword = "bench-password-123"
	benchPIN      = "246810"
)

// bulkIDs is how many users the admin bulk calls act on.
const bulkIDs = 1000

// kind is what a seeded user has.
type kind int

const (
	kindBulk     kind = iota // no factor; the target of the admin bulk calls
	kindTOTP                 // TOTP on: the second-factor scenario's users
	kindTOTPPIN              // TOTP and PIN on (data only)
	kindPassword             // no factor: the password scenario's users
)

// population derives every seeded user from its index and a per-run key,
// so the harness keeps none of them in memory: user i's id, email, TOTP
// secret and session tokens can be recomputed at any time.
//
// Users 0..bulk-1 are the admin bulk calls' targets. Of the others, by
// index modulo 10: 0-7 have TOTP (80%), 8 has TOTP and a PIN, 9 has no
// factor (the password scenario's users).
type population struct {
	key       []byte
	runID     string
	accountID string
	adminID   string
	adminMail string
	bulk      int
	pwHash    string // argon2id of benchPassword, computed once
	pinHash   string // argon2id of benchPIN, computed once
	box       *seal.Box
}

func newPopulation(key []byte, box *seal.Box, pwHash, pinHash string) *population {
	p := &population{key: key, box: box, pwHash: pwHash, pinHash: pinHash}
	p.runID = fmt.Sprintf("%x", p.derive("run", 0)[:4])
	p.accountID = p.uuid("account", 0)
	p.adminID = p.uuid("admin", 0)
	p.adminMail = "admin." + p.runID + "@bench.example"
	return p
}

func (p *population) derive(what string, i int) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(what))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	m.Write(b[:])
	return m.Sum(nil)
}

func (p *population) uuid(what string, i int) string {
	b := p.derive(what, i)[:16]
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	u, _ := uuid.FromBytes(b)
	return u.String()
}

// setBulk chooses how many users are bulk targets for a run whose smallest
// scale has n users: 1,000, or fewer for tiny test runs.
func (p *population) setBulk(n int) { p.bulk = min(bulkIDs, n/2) }

func (p *population) kind(i int) kind {
	if i < p.bulk {
		return kindBulk
	}
	switch (i - p.bulk) % 10 {
	case 8:
		return kindTOTPPIN
	case 9:
		return kindPassword
	}
	return kindTOTP
}

func (p *population) userID(i int) string { return p.uuid("user", i) }
func (p *population) email(i int) string  { return fmt.Sprintf("u%d.%s@bench.example", i, p.runID) }

// secret is user i's TOTP secret, base32 as authenticator apps take it.
func (p *population) secret(i int) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(p.derive("totp", i)[:20])
}

// fullToken is the id of the j-th seeded full session.
func (p *population) fullToken(j int) string { return p.uuid("session", j) }

// sessionOwner spreads seeded sessions over every user but the bulk
// targets (whose sessions the admin calls close) among the first n.
func (p *population) sessionOwner(j, n int) int { return p.bulk + j%(n-p.bulk) }

// nthOfKind returns the index of the k-th user of kind k among the first
// n, or -1.
func (p *population) nthOfKind(want kind, k, n int) int {
	var slots []int // offsets modulo 10 holding that kind
	switch want {
	case kindBulk:
		if k < p.bulk && k < n {
			return k
		}
		return -1
	case kindTOTP:
		slots = []int{0, 1, 2, 3, 4, 5, 6, 7}
	case kindTOTPPIN:
		slots = []int{8}
	case kindPassword:
		slots = []int{9}
	}
	i := p.bulk + (k/len(slots))*10 + slots[k%len(slots)]
	if i >= n {
		return -1
	}
	return i
}

// countOfKind is how many of the first n users are of kind k.
func (p *population) countOfKind(want kind, n int) int {
	lo, hi := 0, n
	for lo < hi { // the largest k with nthOfKind >= 0, by bisection
		mid := (lo + hi) / 2
		if p.nthOfKind(want, mid, n) >= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// ---- direct database access for seeding

// seedDB writes rows straight into the database the server uses, in large
// batches: the Store creates one user per transaction, too slow for a
// million. The rows follow the migrations' schema exactly.
type seedDB struct {
	db *sql.DB
	pg bool
}

func openSeedDB(ctx context.Context, target string, pg bool) (*seedDB, error) {
	var db *sql.DB
	var err error
	if pg {
		db, err = sql.Open("pgx", target)
		if err == nil {
			db.SetMaxOpenConns(4)
		}
	} else {
		q := url.Values{}
		// The seeding connection does not need every commit on disk before
		// the next one: it is not measured, and a crash just fails the run.
		for _, p := range []string{"busy_timeout(30000)", "journal_mode(WAL)", "synchronous(NORMAL)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		db, err = sql.Open("sqlite", "file:"+(&url.URL{Path: target}).EscapedPath()+"?"+q.Encode())
		if err == nil {
			db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &seedDB{db: db, pg: pg}, nil
}

func (s *seedDB) Close() error { return s.db.Close() }

func (s *seedDB) b(v bool) any {
	if s.pg {
		return v
	}
	if v {
		return 1
	}
	return 0
}

// insertSQL is a multi-row INSERT of rows rows of cols columns.
func (s *seedDB) insertSQL(table, cols string, ncols, rows int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s(%s) VALUES ", table, cols)
	n := 1
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := 0; c < ncols; c++ {
			if c > 0 {
				b.WriteByte(',')
			}
			if s.pg {
				fmt.Fprintf(&b, "$%d", n)
			} else {
				b.WriteByte('?')
			}
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}

const (
	userInsertCols = `id, account_id, name, email, email_key, super_admin, password_hash, has_2fa, forced_2fa,
		totp_seal, totp_gen, totp_last, has_pin, forced_pin, pin_hash, created, modified, last_login`
	userNCols         = 18
	sessionInsertCols = "hash, user_id, kind, step, created, last_seen, expires, failures"
	sessionNCols      = 8
	rowsPerStatement  = 500
	rowsPerTx         = 10000
)

// insertRows inserts rows (each ncols values) in transactions of
// rowsPerTx rows and statements of rowsPerStatement rows.
func (s *seedDB) insertRows(ctx context.Context, table, cols string, ncols, total int, row func(i int, args []any) []any) error {
	full := s.insertSQL(table, cols, ncols, rowsPerStatement)
	for from := 0; from < total; from += rowsPerTx {
		to := min(total, from+rowsPerTx)
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, full)
		if err != nil {
			tx.Rollback()
			return err
		}
		args := make([]any, 0, ncols*rowsPerStatement)
		for i := from; i < to; i += rowsPerStatement {
			n := min(rowsPerStatement, to-i)
			args = args[:0]
			for r := 0; r < n; r++ {
				args = row(i+r, args)
			}
			if n == rowsPerStatement {
				_, err = stmt.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, s.insertSQL(table, cols, ncols, n), args...)
			}
			if err != nil {
				stmt.Close()
				tx.Rollback()
				return fmt.Errorf("insert into %s: %w", table, err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// insertUsers adds users from..to-1 of the population.
func (s *seedDB) insertUsers(ctx context.Context, p *population, from, to int, now time.Time) error {
	n := now.UnixMilli()
	return s.insertRows(ctx, "users", userInsertCols, userNCols, to-from, func(k int, args []any) []any {
		i := from + k
		id, email := p.userID(i), p.email(i)
		kd := p.kind(i)
		has2 := kd == kindTOTP || kd == kindTOTPPIN
		hasPIN := kd == kindTOTPPIN
		var totpSeal, pin any
		if has2 {
			totpSeal = p.box.Seal([]byte(p.secret(i)), []byte(id))
		}
		if hasPIN {
			pin = p.pinHash
		}
		return append(args, id, p.accountID, fmt.Sprintf("Bench User %d", i), email, mfad.EmailKey(email), s.b(false), p.pwHash,
			s.b(has2), s.b(false), totpSeal, 0, 0, s.b(hasPIN), s.b(false), pin, n, n, 0)
	})
}

// sessionRow is a session to insert, by its token.
type sessionRow struct {
	token   string
	userID  string
	limited bool
	expires time.Time
}

func (s *seedDB) insertSessions(ctx context.Context, rows []sessionRow, now time.Time) error {
	n := now.UnixMilli()
	return s.insertRows(ctx, "sessions", sessionInsertCols, sessionNCols, len(rows), func(i int, args []any) []any {
		r := rows[i]
		kind, step := string(mfad.SessionFull), 0
		if r.limited {
			kind, step = string(mfad.SessionLimited), int(mfad.StepTOTP)
		}
		return append(args, auth.HashToken(r.token), r.userID, kind, step, n, n, r.expires.UnixMilli(), 0)
	})
}

// insertFullSessions adds seeded full sessions j0..j1-1, owned by users
// among the first n.
func (s *seedDB) insertFullSessions(ctx context.Context, p *population, j0, j1, n int, now time.Time, life time.Duration) error {
	rows := make([]sessionRow, 0, min(j1-j0, rowsPerTx))
	for j := j0; j < j1; j++ {
		rows = append(rows, sessionRow{token: p.fullToken(j), userID: p.userID(p.sessionOwner(j, n)), expires: now.Add(life)})
		if len(rows) == cap(rows) || j == j1-1 {
			if err := s.insertSessions(ctx, rows, now); err != nil {
				return err
			}
			rows = rows[:0]
		}
	}
	return nil
}

// count returns the number of rows of table matching where.
func (s *seedDB) count(ctx context.Context, table, where string, args ...any) (int, error) {
	q := "SELECT count(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	if s.pg {
		for i := range args {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i+1), 1)
		}
	}
	var n int
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// checkpoint folds SQLite's WAL into the database file so a scale starts
// with an empty WAL, as a server that has been idle would.
func (s *seedDB) checkpoint(ctx context.Context) error {
	if s.pg {
		return nil
	}
	_, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

// dbSize is the size of the database on disk in bytes (SQLite: the file
// and its WAL; PostgreSQL: pg_database_size).
func (s *seedDB) dbSize(ctx context.Context) int64 {
	var n int64
	q := "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
	if s.pg {
		q = "SELECT pg_database_size(current_database())"
	}
	if err := s.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0
	}
	return n
}

// resetTOTPLast sets totp_last back to 0 for the users.
func (s *seedDB) resetTOTPLast(ctx context.Context, ids []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for from := 0; from < len(ids); from += rowsPerStatement {
		batch := ids[from:min(len(ids), from+rowsPerStatement)]
		var b strings.Builder
		args := make([]any, len(batch))
		b.WriteString("UPDATE users SET totp_last = 0 WHERE id IN (")
		for i, id := range batch {
			if i > 0 {
				b.WriteByte(',')
			}
			if s.pg {
				fmt.Fprintf(&b, "$%d", i+1)
			} else {
				b.WriteByte('?')
			}
			args[i] = id
		}
		b.WriteByte(')')
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
