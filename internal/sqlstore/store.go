package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/sqlrow"
)

// The shared row helpers, under the short names the queries use.
var ms, fromMS, nullStr, qualify = sqlrow.MS, sqlrow.FromMS, sqlrow.NullStr, sqlrow.Qualify

// Store is mfad.Store on a database/sql database of the Dialect. Ping,
// Close and the dialect's extras are its store package's.
type Store struct {
	d            *Dialect
	SQL          Statements // the statements, in the dialect's SQL
	lockThrottle string
	lockLimited  string

	// Cache, when set, answers SessionUser from memory (see
	// SessionCache); every write below forgets what it may change.
	Cache *SessionCache
}

// New returns the store of dialect d.
func New(d *Dialect) *Store {
	s := &Store{d: d, SQL: d.statements(), lockThrottle: d.q(d.LockThrottle)}
	if d.LockLimited != "" {
		s.lockLimited = d.q(d.LockLimited)
	}
	return s
}

// write is one write transaction; solo as in Dialect.Write.
func (s *Store) write(ctx context.Context, solo bool, fn func(Querier) error) error {
	return s.d.Write(ctx, solo, fn)
}

// tx is a write of the ordinary, small kind.
func (s *Store) tx(ctx context.Context, fn func(Querier) error) error { return s.write(ctx, false, fn) }

// exec1 is one statement as a write of its own.
func (s *Store) exec1(ctx context.Context, q string, args ...any) error {
	_, err := s.d.Exec1(ctx, q, args...)
	return s.d.Err(err)
}

// notFound turns sql.ErrNoRows into mfad.ErrNotFound and classifies the rest.
func (s *Store) notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return mfad.ErrNotFound
	}
	return s.d.Err(err)
}

// ---- meta and maintenance

func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.d.Read(ctx).QueryRow(s.SQL.Meta, key).Scan(&v)
	return v, s.notFound(err)
}

func (s *Store) PutMetaIfAbsent(ctx context.Context, key, value string) (string, error) {
	var v string
	err := s.tx(ctx, func(q Querier) error {
		if _, err := q.Exec(s.SQL.PutMetaIfAbsent, key, value); err != nil {
			return err
		}
		return q.QueryRow(s.SQL.Meta, key).Scan(&v)
	})
	return v, err
}

func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	return s.exec1(ctx, s.SQL.SetMeta, key, value)
}

// Purge deletes expired sessions, pending secrets older than a day, and
// throttle rows that are neither locked nor in a window (windows are at
// most a day long).
func (s *Store) Purge(ctx context.Context, now time.Time) error {
	defer s.Cache.ForgetAll()
	n, day := ms(now), int64(24*time.Hour/time.Millisecond)
	return s.write(ctx, true, func(q Querier) error {
		if _, err := q.Exec(s.SQL.PurgeSessions, n); err != nil {
			return err
		}
		if _, err := q.Exec(s.SQL.PurgePending, n-day); err != nil {
			return err
		}
		if _, err := q.Exec(s.SQL.PurgeResets, n); err != nil {
			return err
		}
		if _, err := q.Exec(s.SQL.PurgeChallenges, n); err != nil {
			return err
		}
		_, err := q.Exec(s.SQL.PurgeThrottle, n, n-day)
		return err
	})
}

// ---- accounts

func (s *Store) CreateAccount(ctx context.Context, a *mfad.Account, admin *mfad.User) error {
	return s.tx(ctx, func(q Querier) error {
		if _, err := q.Exec(s.SQL.InsertAccount, a.ID, a.Title, a.Forced2FA, ms(a.Created), ms(a.Modified)); err != nil {
			return err
		}
		return s.insertUser(q, admin)
	})
}

func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.d.Read(ctx).QueryRow(s.SQL.CountAccounts).Scan(&n)
	return n, s.d.Err(err)
}

func (s *Store) Account(ctx context.Context, id string) (*mfad.Account, error) {
	var a mfad.Account
	var created, modified int64
	err := s.d.Read(ctx).QueryRow(s.SQL.Account, id).Scan(&a.ID, &a.Title, &a.Forced2FA, &created, &modified)
	if err != nil {
		return nil, s.notFound(err)
	}
	a.Created, a.Modified = fromMS(created), fromMS(modified)
	return &a, nil
}

func (s *Store) SetAccountForce2FA(ctx context.Context, id string, on bool, now time.Time) error {
	defer s.Cache.ForgetAccount(id)
	return s.tx(ctx, func(q Querier) error {
		res, err := q.Exec(s.SQL.SetAccountForce, on, ms(now), id)
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

func (s *Store) insertUser(q Querier, u *mfad.User) error {
	_, err := q.Exec(s.SQL.InsertUser,
		u.ID, u.AccountID, u.Name, u.Email, u.SuperAdmin, u.PasswordHash, u.Has2FA, u.Forced2FA,
		u.TOTPSeal, u.TOTPGen, u.TOTPLast, u.HasPIN, u.ForcedPIN, nullStr(u.PINHash),
		ms(u.Created), ms(u.Modified), ms(u.LastLogin), u.Disabled, mfad.EmailKey(u.Email))
	if err != nil && s.d.UniqueEmail(err) {
		return mfad.ErrEmailTaken
	}
	return err
}

// ScanUser reads the columns userReadCols of a row.
func ScanUser(row sqlrow.Scanner) (*mfad.User, error) {
	var u mfad.User
	var pin sql.NullString
	var created, modified, last int64
	if err := row.Scan(&u.ID, &u.AccountID, &u.Name, &u.Email, &u.SuperAdmin, &u.PasswordHash, &u.Has2FA, &u.Forced2FA,
		&u.TOTPSeal, &u.TOTPGen, &u.TOTPLast, &u.HasPIN, &u.ForcedPIN, &pin, &created, &modified, &last, &u.Disabled, &u.Passkeys); err != nil {
		return nil, err
	}
	u.PINHash = pin.String
	u.Created, u.Modified, u.LastLogin = fromMS(created), fromMS(modified), fromMS(last)
	return &u, nil
}

func (s *Store) CreateUser(ctx context.Context, u *mfad.User) error {
	return s.tx(ctx, func(q Querier) error { return s.insertUser(q, u) })
}

func (s *Store) oneUser(ctx context.Context, query string, arg any) (*mfad.User, error) {
	u, err := ScanUser(s.d.Read(ctx).QueryRow(query, arg))
	if err != nil {
		return nil, s.notFound(err)
	}
	return u, nil
}

func (s *Store) User(ctx context.Context, id string) (*mfad.User, error) {
	return s.oneUser(ctx, s.SQL.UserByID, id)
}

func (s *Store) UserByEmail(ctx context.Context, email string) (*mfad.User, error) {
	return s.oneUser(ctx, s.SQL.UserByEmail, mfad.EmailKey(email))
}

func (s *Store) Users(ctx context.Context, accountID string) ([]*mfad.User, error) {
	return s.users(ctx, s.SQL.UsersOfAccount, accountID)
}

func (s *Store) AllUsers(ctx context.Context) ([]*mfad.User, error) {
	return s.users(ctx, s.SQL.AllUsers)
}

func (s *Store) users(ctx context.Context, query string, args ...any) ([]*mfad.User, error) {
	rows, err := s.d.Read(ctx).Query(query, args...)
	if err != nil {
		return nil, s.d.Err(err)
	}
	defer rows.Close()
	users := []*mfad.User{}
	for rows.Next() {
		u, err := ScanUser(rows)
		if err != nil {
			return nil, s.d.Err(err)
		}
		users = append(users, u)
	}
	return users, s.d.Err(rows.Err())
}

// lockIDs fails with ErrUnknownIDs unless every id is a user of the
// account, and returns the list of the distinct ids as one parameter. Where
// the database takes row locks it locks the users' rows, in id order, so
// that concurrent bulk requests cannot deadlock.
func (s *Store) lockIDs(q Querier, accountID string, ids []string) (any, error) {
	distinct := slices.Clone(ids)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	if len(distinct) == 0 {
		return nil, mfad.ErrUnknownIDs
	}
	list := s.d.IDs(distinct)
	rows, err := q.Query(s.SQL.LockIDs, accountID, list)
	if err != nil {
		return nil, err
	}
	found := 0
	for rows.Next() {
		found++
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	if found != len(distinct) {
		return nil, mfad.ErrUnknownIDs
	}
	return list, nil
}

// DeleteUsers deletes the users' sessions itself rather than through the
// foreign key's cascade: what it removes does not depend on a setting of
// the database (SQLite enforces foreign keys only when asked to).
func (s *Store) DeleteUsers(ctx context.Context, accountID string, ids []string) error {
	defer s.Cache.ForgetUsers(ids...)
	return s.write(ctx, true, func(q Querier) error {
		list, err := s.lockIDs(q, accountID, ids)
		if err != nil {
			return err
		}
		if _, err := q.Exec(s.SQL.DeleteSessionsOfIDs, list); err != nil {
			return err
		}
		_, err = q.Exec(s.SQL.DeleteUsersOfIDs, list)
		return err
	})
}

// EditUsers applies e to the users of ids, all of them or none. A new
// email takes the new identity key with it.
func (s *Store) EditUsers(ctx context.Context, accountID string, ids []string, e mfad.UserEdit, now time.Time) error {
	defer s.Cache.ForgetUsers(ids...)
	return s.write(ctx, true, func(q Querier) error {
		list, err := s.lockIDs(q, accountID, ids)
		if err != nil {
			return err
		}
		n := ms(now)
		if e.Name != nil {
			if _, err := q.Exec(s.SQL.EditName, *e.Name, n, list); err != nil {
				return err
			}
		}
		if e.Email != nil {
			if _, err := q.Exec(s.SQL.EditEmail, *e.Email, mfad.EmailKey(*e.Email), n, list); err != nil {
				if s.d.UniqueEmail(err) {
					return mfad.ErrEmailTaken
				}
				return err
			}
		}
		if e.SuperAdmin != nil {
			if _, err := q.Exec(s.SQL.EditAdmin, *e.SuperAdmin, n, list); err != nil {
				return err
			}
		}
		if e.Disabled != nil {
			if _, err := q.Exec(s.SQL.EditDisabled, *e.Disabled, n, list); err != nil {
				return err
			}
			if *e.Disabled {
				if _, err := q.Exec(s.SQL.DeleteSessionsOfIDs, list); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (s *Store) SetPassword(ctx context.Context, userID, hash string, keepHash []byte, now time.Time) error {
	defer s.Cache.ForgetUsers(userID)
	return s.setHash(ctx, s.SQL.SetPassword, userID, hash, keepHash, now)
}

// setHash runs query, which sets a hash of userID's (the password or the
// PIN), and closes the user's sessions but the one of keepHash, in one
// transaction.
func (s *Store) setHash(ctx context.Context, query, userID, hash string, keepHash []byte, now time.Time) error {
	return s.tx(ctx, func(q Querier) error {
		res, err := q.Exec(query, hash, ms(now), userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return mfad.ErrNotFound
		}
		_, err = q.Exec(s.SQL.CloseOthers, userID, keepHash)
		return err
	})
}

// ---- sessions

func (s *Store) CreateSession(ctx context.Context, se *mfad.Session) error {
	defer s.Cache.ForgetUsers(se.UserID) // the cap may close the user's other limited sessions
	return s.tx(ctx, func(q Querier) error {
		if se.Kind != mfad.SessionLimited {
			return s.insertSession(q, se, true)
		}
		if s.lockLimited != "" {
			if _, err := q.Exec(s.lockLimited, se.UserID); err != nil {
				return err
			}
		}
		if err := s.insertSession(q, se, false); err != nil {
			return err
		}
		// Counting (in the index on user_id, kind) first spares the usual
		// login, under the limit, the dearer DELETE.
		var n int
		if err := q.QueryRow(s.SQL.CountLimited, se.UserID).Scan(&n); err != nil {
			return err
		}
		if n <= mfad.MaxLimitedSessions {
			return nil
		}
		_, err := q.Exec(s.SQL.CapLimited, se.UserID, se.Hash, se.UserID, se.Hash, mfad.MaxLimitedSessions-1)
		return err
	})
}

// insertSession stores se; login says whether to record the user's
// last_login (a full session is a login, unless the caller recorded it).
func (s *Store) insertSession(q Querier, se *mfad.Session, login bool) error {
	if login && se.Kind == mfad.SessionFull {
		if _, err := q.Exec(s.SQL.RecordLogin, ms(se.Created), se.UserID); err != nil {
			return err
		}
	}
	_, err := q.Exec(s.SQL.InsertSession, se.Hash, se.UserID, string(se.Kind), int(se.Step), ms(se.Created), ms(se.LastSeen), ms(se.Expires), se.Failures)
	return err
}

// SessionArgs are the parameters of Statements.InsertSession.
func SessionArgs(se *mfad.Session) []any {
	return []any{se.Hash, se.UserID, string(se.Kind), int(se.Step), ms(se.Created), ms(se.LastSeen), ms(se.Expires), se.Failures}
}

func (s *Store) Session(ctx context.Context, hash []byte) (*mfad.Session, error) {
	var se mfad.Session
	var kind string
	var step int
	var created, seen, expires int64
	err := s.d.Read(ctx).QueryRow(s.SQL.Session, hash).Scan(&se.Hash, &se.UserID, &kind, &step, &created, &seen, &expires, &se.Failures)
	if err != nil {
		return nil, s.notFound(err)
	}
	se.Kind, se.Step = mfad.SessionKind(kind), mfad.Step(step)
	se.Created, se.LastSeen, se.Expires = fromMS(created), fromMS(seen), fromMS(expires)
	return &se, nil
}

func (s *Store) SessionUser(ctx context.Context, hash []byte) (*mfad.Session, *mfad.User, *mfad.Account, error) {
	if s.Cache == nil {
		return s.sessionUser(ctx, hash)
	}
	if se, u, a, ok := s.Cache.get(hash); ok {
		return se, u, a, nil
	}
	gen := s.Cache.generation()
	se, u, a, err := s.sessionUser(ctx, hash)
	if err == nil {
		s.Cache.put(gen, se, u, a)
	}
	return se, u, a, err
}

func (s *Store) sessionUser(ctx context.Context, hash []byte) (*mfad.Session, *mfad.User, *mfad.Account, error) {
	var se mfad.Session
	var a mfad.Account
	var kind string
	var step int
	var created, seen, expires, aCreated, aModified int64
	var row sqlrow.Scanner
	if s.d.ScanOne != nil {
		row = scanOne{ctx, s.d.ScanOne, s.SQL.SessionUser, []any{hash}}
	} else {
		row = s.d.Read(ctx).QueryRow(s.SQL.SessionUser, hash)
	}
	u, err := ScanUser(sqlrow.Prefixed{Row: row, Lead: []any{&se.Hash, &kind, &step, &created, &seen, &expires, &se.Failures,
		&a.ID, &a.Title, &a.Forced2FA, &aCreated, &aModified}})
	if err != nil {
		return nil, nil, nil, s.notFound(err)
	}
	se.UserID, se.Kind, se.Step = u.ID, mfad.SessionKind(kind), mfad.Step(step)
	se.Created, se.LastSeen, se.Expires = fromMS(created), fromMS(seen), fromMS(expires)
	a.Created, a.Modified = fromMS(aCreated), fromMS(aModified)
	return &se, u, &a, nil
}

// scanOne is a query of one row through Dialect.ScanOne, as a
// sqlrow.Scanner.
type scanOne struct {
	ctx  context.Context
	scan func(ctx context.Context, q string, args []any, dest ...any) error
	q    string
	args []any
}

func (o scanOne) Scan(dest ...any) error { return o.scan(o.ctx, o.q, o.args, dest...) }

func (s *Store) TouchSession(ctx context.Context, hash []byte, now time.Time) error {
	defer s.Cache.ForgetSession(hash)
	return s.exec1(ctx, s.SQL.TouchSession, ms(now), hash, ms(now))
}

func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	defer s.Cache.ForgetSession(hash)
	return s.exec1(ctx, s.SQL.DeleteSession, hash)
}

func (s *Store) FailSession(ctx context.Context, hash []byte, max int) (bool, error) {
	defer s.Cache.ForgetSession(hash)
	closed := false
	err := s.tx(ctx, func(q Querier) error {
		closed = false
		var n int
		err := q.QueryRow(s.SQL.FailSession, hash).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			closed = true
			return nil
		}
		if err != nil {
			return err
		}
		if n >= max {
			closed = true
			_, err = q.Exec(s.SQL.DeleteSession, hash)
		}
		return err
	})
	return closed, err
}

func (s *Store) CountSessions(ctx context.Context, now time.Time) (full, limited int, err error) {
	err = s.d.Read(ctx).QueryRow(s.SQL.CountSessions, ms(now)).Scan(&full, &limited)
	return full, limited, s.d.Err(err)
}

// AdvanceLogin completes a second-factor step in one transaction, statement
// after statement; see mfad.Advance.
func (s *Store) AdvanceLogin(ctx context.Context, a mfad.Advance) error {
	defer s.Cache.ForgetUsers(a.UserID) // the limited session is one of the user's
	return s.tx(ctx, func(q Querier) error {
		if a.CheckKey != "" {
			// A completed login clears the key it checks (the TOTP step
			// that ends a login): the row is taken in the same statement
			// as the check, and put back by the rollback of this write
			// when the key is locked.
			check := s.SQL.LockedUntil
			if a.ResetKey == a.CheckKey {
				check = s.SQL.TakeKey
			}
			var locked int64
			err := q.QueryRow(check, a.CheckKey).Scan(&locked)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if n := ms(a.Now); locked > n {
				return &mfad.LockedError{RetryAfter: time.Duration(locked-n) * time.Millisecond}
			}
		}
		res, err := q.Exec(s.SQL.CloseLimited, a.LimitedHash, a.UserID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return mfad.ErrSessionGone
		}
		full := a.Next.Kind == mfad.SessionFull
		login := full // last_login still to record
		if a.PendingID != "" {
			if err := s.activatePending(q, a.UserID, a.PendingID, a.TOTPStep, ms(a.Now)); err != nil {
				return err
			}
		} else if a.TOTPStep > 0 {
			login = false
			res, err := q.Exec(s.SQL.ConsumeStep, a.TOTPStep, full, ms(a.Next.Created), a.UserID, a.TOTPStep, a.TOTPGen)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return mfad.ErrReplay
			}
		}
		if a.RecoveryHash != nil {
			res, err := q.Exec(s.SQL.UseRecovery, a.UserID, a.RecoveryHash)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return mfad.ErrReplay
			}
		}
		if a.Passkey != nil {
			res, err := q.Exec(s.SQL.UsePasskey, UsePasskeyArgs(a)...)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return mfad.ErrReplay
			}
		}
		if err := s.insertSession(q, a.Next, login); err != nil {
			return err
		}
		if a.ResetKey != "" && a.ResetKey != a.CheckKey {
			if _, err := q.Exec(s.SQL.ResetKey, a.ResetKey); err != nil {
				return err
			}
		}
		if a.ReleaseKey != "" {
			if _, err := q.Exec(s.SQL.Release, a.ReleaseLimit, a.ReleaseKey); err != nil {
				return err
			}
		}
		return s.insertAudit(q, a.Audit)
	})
}

// ActivatePendingArgs are the parameters of Statements.ActivatePending.
func ActivatePendingArgs(userID, pendingID string, step, now int64) []any {
	return []any{step, now, userID, userID, pendingID, step}
}

// ConsumeStepArgs are the parameters of Statements.ConsumeStep.
func ConsumeStepArgs(a mfad.Advance) []any {
	return []any{a.TOTPStep, a.Next.Kind == mfad.SessionFull, ms(a.Next.Created), a.UserID, a.TOTPStep, a.TOTPGen}
}

// activatePending makes the pending secret pendingID the user's active one
// and consumes step, failing with ErrNoPending if it was replaced and
// ErrReplay if the step is not after the last accepted one.
func (s *Store) activatePending(q Querier, userID, pendingID string, step, now int64) error {
	rows, err := q.Query(s.SQL.LockPending, userID, pendingID)
	if err != nil {
		return err
	}
	found := rows.Next()
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if !found {
		return mfad.ErrNoPending
	}
	res, err := q.Exec(s.SQL.ActivatePending, ActivatePendingArgs(userID, pendingID, step, now)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return mfad.ErrReplay
	}
	_, err = q.Exec(s.SQL.DropPending, userID)
	return err
}

// ---- factors

func (s *Store) PutPendingTOTP(ctx context.Context, p *mfad.PendingTOTP) error {
	return s.exec1(ctx, s.SQL.PutPending, p.UserID, p.ID, p.Seal, ms(p.Created))
}

func (s *Store) PendingTOTP(ctx context.Context, userID string) (*mfad.PendingTOTP, error) {
	var p mfad.PendingTOTP
	var created int64
	err := s.d.Read(ctx).QueryRow(s.SQL.Pending, userID).Scan(&p.UserID, &p.ID, &p.Seal, &created)
	if err != nil {
		return nil, s.notFound(err)
	}
	p.Created = fromMS(created)
	return &p, nil
}

func (s *Store) EnrollTOTP(ctx context.Context, e mfad.Enroll) error {
	defer s.Cache.ForgetUsers(e.UserID)
	return s.tx(ctx, func(q Querier) error {
		if err := s.activatePending(q, e.UserID, e.PendingID, e.Step, ms(e.Now)); err != nil {
			return err
		}
		_, err := q.Exec(s.SQL.CloseOthers, e.UserID, e.KeepHash)
		return err
	})
}

func (s *Store) SetPIN(ctx context.Context, userID, hash string, keepHash []byte, now time.Time) error {
	defer s.Cache.ForgetUsers(userID)
	return s.setHash(ctx, s.SQL.SetPIN, userID, hash, keepHash, now)
}

func (s *Store) RemoveFactor(ctx context.Context, userID string, t mfad.AuthType, now time.Time) error {
	defer s.Cache.ForgetUsers(userID)
	return s.tx(ctx, func(q Querier) error {
		var forced2, forcedPIN, account2 bool
		err := q.QueryRow(s.SQL.FactorsForRemoval, userID).Scan(&forced2, &forcedPIN, &account2)
		if errors.Is(err, sql.ErrNoRows) {
			return mfad.ErrNotFound
		}
		if err != nil {
			return err
		}
		if mfad.Forced(t, forced2, forcedPIN, account2) {
			return mfad.ErrForced
		}
		switch t {
		case mfad.AuthTOTP:
			if _, err := q.Exec(s.SQL.DropPending, userID); err != nil {
				return err
			}
			if _, err := q.Exec(s.SQL.DropRecovery, userID); err != nil {
				return err
			}
			_, err = q.Exec(s.SQL.RemoveTOTP, ms(now), userID)
		case mfad.AuthPIN:
			_, err = q.Exec(s.SQL.RemovePIN, ms(now), userID)
		default:
			err = fmt.Errorf("%s: unknown factor %q", s.d.Name, t)
		}
		return err
	})
}

// ---- recovery codes

func (s *Store) SetRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) error {
	return s.tx(ctx, func(q Querier) error {
		if _, err := q.Exec(s.SQL.DropRecovery, userID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := q.Exec(s.SQL.PutRecovery, userID, h, ms(now)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.d.Read(ctx).QueryRow(s.SQL.CountRecovery, userID).Scan(&n)
	return n, s.d.Err(err)
}

func (s *Store) HasRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	var n int
	err := s.d.Read(ctx).QueryRow(s.SQL.HasRecovery, userID, hash).Scan(&n)
	return n == 1, s.d.Err(err)
}

func (s *Store) AdminSetFactor(ctx context.Context, accountID string, ids []string, t mfad.AuthType, pinHash string, now time.Time) error {
	defer s.Cache.ForgetUsers(ids...)
	return s.write(ctx, true, func(q Querier) error {
		list, err := s.lockIDs(q, accountID, ids)
		if err != nil {
			return err
		}
		switch t {
		case mfad.AuthTOTP:
			_, err = q.Exec(s.SQL.AdminSetTOTP, ms(now), list)
		case mfad.AuthPIN:
			_, err = q.Exec(s.SQL.AdminSetPIN, pinHash, ms(now), list)
		default:
			return fmt.Errorf("%s: unknown factor %q", s.d.Name, t)
		}
		if err != nil {
			return err
		}
		_, err = q.Exec(s.SQL.DeleteSessionsOfIDs, list)
		return err
	})
}

func (s *Store) AdminRemoveFactor(ctx context.Context, accountID string, ids []string, t mfad.AuthType, now time.Time) error {
	defer s.Cache.ForgetUsers(ids...)
	return s.write(ctx, true, func(q Querier) error {
		list, err := s.lockIDs(q, accountID, ids)
		if err != nil {
			return err
		}
		switch t {
		case mfad.AuthTOTP:
			var account2 bool
			if err := q.QueryRow(s.SQL.AccountForces, accountID).Scan(&account2); err != nil {
				return err
			}
			// What an admin forced goes with the factor; what the
			// account forces stays.
			if mfad.Forced(t, false, false, account2) {
				return mfad.ErrForced
			}
			if _, err := q.Exec(s.SQL.DropPendingOfIDs, list); err != nil {
				return err
			}
			if _, err := q.Exec(s.SQL.DropRecoveryOfIDs, list); err != nil {
				return err
			}
			_, err = q.Exec(s.SQL.AdminRemoveTOTP, ms(now), list)
		case mfad.AuthPIN:
			_, err = q.Exec(s.SQL.AdminRemovePIN, ms(now), list)
		default:
			return fmt.Errorf("%s: unknown factor %q", s.d.Name, t)
		}
		return err
	})
}

func (s *Store) AdminResetTOTP(ctx context.Context, accountID string, ids []string, now time.Time) error {
	defer s.Cache.ForgetUsers(ids...)
	return s.write(ctx, true, func(q Querier) error {
		list, err := s.lockIDs(q, accountID, ids)
		if err != nil {
			return err
		}
		if _, err := q.Exec(s.SQL.DropPendingOfIDs, list); err != nil {
			return err
		}
		if _, err := q.Exec(s.SQL.AdminResetTOTP, ms(now), list); err != nil {
			return err
		}
		_, err = q.Exec(s.SQL.DeleteSessionsOfIDs, list)
		return err
	})
}

// ---- throttling

// Reserve holds the key's row for the transaction (the dialect's
// LockThrottle), applies mfad.Throttle.Reserve to it, and stores the result.
func (s *Store) Reserve(ctx context.Context, key string, p mfad.Throttle, now time.Time) (mfad.Reservation, error) {
	var res mfad.Reservation
	n := ms(now)
	at := fromMS(n) // what the row can hold: whole milliseconds
	err := s.tx(ctx, func(q Querier) error {
		res = mfad.Reservation{}
		var count int
		var start, locked int64
		err := q.QueryRow(s.lockThrottle, key).Scan(&count, &start, &locked)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		c, r := p.Reserve(mfad.Counter{Count: count, WindowStart: fromMS(start), LockedUntil: fromMS(locked)}, at)
		res = r
		if r.RetryAfter > 0 {
			return nil // counted nothing: nothing to store
		}
		_, err = q.Exec(s.SQL.StoreThrottle, key, c.Count, ms(c.WindowStart), ms(c.LockedUntil))
		return err
	})
	return res, err
}

func (s *Store) Release(ctx context.Context, key string, p mfad.Throttle) error {
	return s.exec1(ctx, s.SQL.Release, p.Limit, key)
}

func (s *Store) ResetThrottle(ctx context.Context, key string) error {
	return s.exec1(ctx, s.SQL.ResetKey, key)
}

func (s *Store) ResetThrottles(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return s.exec1(ctx, s.SQL.ResetKeys, s.d.IDs(keys))
}

// ---- audit trail

// RecordAudit appends the events in one transaction. Many of them (an
// admin call on up to thousands of users) make a large write.
func (s *Store) RecordAudit(ctx context.Context, events []*mfad.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.write(ctx, len(events) > 16, func(q Querier) error { return s.insertAudit(q, events) })
}

// insertAudit appends events and sets their IDs, one statement each.
func (s *Store) insertAudit(q Querier, events []*mfad.AuditEvent) error {
	for _, e := range events {
		if !s.d.LastInsertID {
			if err := q.QueryRow(s.SQL.InsertAudit, AuditArgs(e)...).Scan(&e.ID); err != nil {
				return err
			}
			continue
		}
		res, err := q.Exec(s.SQL.InsertAudit, AuditArgs(e)...)
		if err != nil {
			return err
		}
		if e.ID, err = res.LastInsertId(); err != nil {
			return err
		}
	}
	return nil
}

// AuditArgs are the parameters of Statements.InsertAudit.
func AuditArgs(e *mfad.AuditEvent) []any {
	return []any{e.AccountID, e.ActorID, e.UserID, e.Event, e.Outcome, e.Addr, e.Detail, ms(e.Time)}
}

func (s *Store) AuditEvents(ctx context.Context, accountID string, before int64, limit int) ([]*mfad.AuditEvent, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.d.Read(ctx).Query(s.SQL.AuditEvents, accountID, before, limit)
	if err != nil {
		return nil, s.d.Err(err)
	}
	defer rows.Close()
	events := []*mfad.AuditEvent{}
	for rows.Next() {
		var e mfad.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.ActorID, &e.UserID, &e.Event, &e.Outcome, &e.Addr, &e.Detail, &at); err != nil {
			return nil, s.d.Err(err)
		}
		e.Time = fromMS(at)
		events = append(events, &e)
	}
	return events, s.d.Err(rows.Err())
}

// ---- key rotation

func (s *Store) SealedSecrets(ctx context.Context) ([]mfad.SealedSecret, error) {
	rows, err := s.d.Read(ctx).Query(s.SQL.SealedSecrets)
	if err != nil {
		return nil, s.d.Err(err)
	}
	defer rows.Close()
	var out []mfad.SealedSecret
	for rows.Next() {
		var sec mfad.SealedSecret
		if err := rows.Scan(&sec.UserID, &sec.Pending, &sec.Seal); err != nil {
			return nil, s.d.Err(err)
		}
		out = append(out, sec)
	}
	return out, s.d.Err(rows.Err())
}

func (s *Store) Reseal(ctx context.Context, old mfad.SealedSecret, seal []byte) (bool, error) {
	defer s.Cache.ForgetAll()
	query := s.SQL.ResealActive
	if old.Pending {
		query = s.SQL.ResealPending
	}
	done := false
	err := s.tx(ctx, func(q Querier) error {
		res, err := q.Exec(query, seal, old.UserID, old.Seal)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		done = n == 1
		return nil
	})
	return done, err
}

// ---- password resets

func (s *Store) PutPasswordReset(ctx context.Context, r *mfad.PasswordReset) error {
	return s.tx(ctx, func(q Querier) error {
		if _, err := q.Exec(s.SQL.DropResets, r.UserID); err != nil {
			return err
		}
		_, err := q.Exec(s.SQL.PutReset, r.Hash, r.UserID, ms(r.Created), ms(r.Expires))
		return err
	})
}

func (s *Store) PasswordReset(ctx context.Context, hash []byte, now time.Time) (*mfad.PasswordReset, *mfad.User, error) {
	var r mfad.PasswordReset
	var created, expires int64
	row := s.d.Read(ctx).QueryRow(s.SQL.Reset, hash, ms(now))
	u, err := ScanUser(sqlrow.Prefixed{Row: row, Lead: []any{&r.Hash, &created, &expires}})
	if err != nil {
		return nil, nil, s.notFound(err)
	}
	r.UserID, r.Created, r.Expires = u.ID, fromMS(created), fromMS(expires)
	return &r, u, nil
}

func (s *Store) UsePasswordReset(ctx context.Context, hash []byte, passwordHash string, now time.Time, clearKey string) (string, error) {
	var userID string
	err := s.tx(ctx, func(q Querier) error {
		userID = ""
		err := q.QueryRow(s.SQL.UseReset, hash, ms(now)).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return mfad.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := q.Exec(s.SQL.SetPassword, passwordHash, ms(now), userID); err != nil {
			return err
		}
		if _, err := q.Exec(s.SQL.CloseAll, userID); err != nil {
			return err
		}
		_, err = q.Exec(s.SQL.ResetKey, clearKey)
		return err
	})
	if userID != "" {
		s.Cache.ForgetUsers(userID)
	}
	return userID, err
}
