package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mfad/mfad"
)

// ---- passkeys

func (s *Store) AddPasskey(ctx context.Context, p *mfad.Passkey) error {
	defer s.Cache.ForgetUsers(p.UserID)
	return s.tx(ctx, func(q Querier) error {
		var n int
		err := q.QueryRow(s.SQL.CountPasskey, ms(p.Created), p.UserID, mfad.MaxPasskeys).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return mfad.ErrTooMany // or no such user: the caller holds its session
		}
		if err != nil {
			return err
		}
		res, err := q.Exec(s.SQL.InsertPasskey, p.ID, p.UserID, p.CredentialID, p.Name, p.Record, int64(p.SignCount), ms(p.Created), ms(p.LastUsed))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return mfad.ErrConflict
		}
		return nil
	})
}

func (s *Store) Passkeys(ctx context.Context, userID string) ([]*mfad.Passkey, error) {
	rows, err := s.d.Read(ctx).Query(s.SQL.Passkeys, userID)
	if err != nil {
		return nil, s.d.Err(err)
	}
	defer rows.Close()
	var out []*mfad.Passkey
	for rows.Next() {
		var p mfad.Passkey
		var count, created, used int64
		if err := rows.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.Name, &p.Record, &count, &created, &used); err != nil {
			return nil, s.d.Err(err)
		}
		p.SignCount, p.Created, p.LastUsed = uint32(count), fromMS(created), fromMS(used)
		out = append(out, &p)
	}
	return out, s.d.Err(rows.Err())
}

func (s *Store) RenamePasskey(ctx context.Context, userID, id, name string, now time.Time) error {
	return s.tx(ctx, func(q Querier) error {
		res, err := q.Exec(s.SQL.RenamePasskey, name, id, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return mfad.ErrNotFound
		}
		return nil
	})
}

func (s *Store) DeletePasskey(ctx context.Context, userID, id string, now time.Time) error {
	defer s.Cache.ForgetUsers(userID)
	return s.tx(ctx, func(q Querier) error {
		res, err := q.Exec(s.SQL.DeletePasskey, id, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return mfad.ErrNotFound
		}
		_, err = q.Exec(s.SQL.RecountPasskeys, userID, ms(now), userID)
		return err
	})
}

func (s *Store) AdminDeletePasskeys(ctx context.Context, accountID string, ids []string, now time.Time) error {
	defer s.Cache.ForgetUsers(ids...)
	return s.write(ctx, true, func(q Querier) error {
		list, err := s.lockIDs(q, accountID, ids)
		if err != nil {
			return err
		}
		if _, err := q.Exec(s.SQL.DropPasskeysOfIDs, list); err != nil {
			return err
		}
		if _, err := q.Exec(s.SQL.ZeroPasskeysOfIDs, ms(now), list); err != nil {
			return err
		}
		_, err = q.Exec(s.SQL.DeleteSessionsOfIDs, list)
		return err
	})
}

// UsePasskeyArgs are the parameters of Statements.UsePasskey.
func UsePasskeyArgs(a mfad.Advance) []any {
	p := a.Passkey
	return []any{int64(p.NewCount), p.Record, ms(a.Now), p.ID, a.UserID, int64(p.OldCount)}
}

// ---- WebAuthn ceremonies

func (s *Store) PutChallenge(ctx context.Context, c *mfad.Challenge) error {
	return s.exec1(ctx, s.SQL.PutChallenge, c.SessionHash, c.Kind, c.Data, ms(c.Expires))
}

func (s *Store) TakeChallenge(ctx context.Context, sessionHash []byte, kind string, now time.Time) (*mfad.Challenge, error) {
	var c *mfad.Challenge
	err := s.tx(ctx, func(q Querier) error {
		c = nil
		var k string
		var data []byte
		var expires int64
		err := q.QueryRow(s.SQL.TakeChallenge, sessionHash).Scan(&k, &data, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		c = &mfad.Challenge{SessionHash: sessionHash, Kind: k, Data: data, Expires: fromMS(expires)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Taken (and so gone) whatever it was: a challenge of another kind or
	// past its time is used up as well.
	if c == nil || c.Kind != kind || !now.Before(c.Expires) {
		return nil, mfad.ErrNotFound
	}
	return c, nil
}
