package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/mfad/mfad"
)

// HashToken returns what the store keeps of a session id.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func newToken() (string, []byte) {
	t := uuid.New().String() // version 4, from crypto/rand
	return t, HashToken(t)
}

func (s *Service) newSession(userID string, kind mfad.SessionKind, step mfad.Step, now time.Time) (string, *mfad.Session) {
	token, hash := newToken()
	se := &mfad.Session{Hash: hash, UserID: userID, Kind: kind, Step: step, Created: now, LastSeen: now}
	switch {
	case kind == mfad.SessionFull:
		se.Expires = now.Add(s.cfg.MaxLifetime)
	case step == mfad.StepEnroll:
		// Time to install an authenticator app and scan the secret.
		se.Expires = now.Add(s.cfg.EnrollLifetime)
	default:
		se.Expires = now.Add(s.cfg.LimitedLifetime)
	}
	return token, se
}

// Identity is an authenticated caller.
type Identity struct {
	Token   string // the session id as the client sent it (canonical form)
	Session *mfad.Session
	User    *mfad.User
	Account *mfad.Account // the user's account, as read with the session
}

// Authenticate resolves a session id. It answers errUnauthenticated for a
// malformed, unknown, closed or expired one, and pushes a full session's
// idle timeout forward.
func (s *Service) Authenticate(ctx context.Context, token string) (*Identity, error) {
	token, ok := mfad.ParseUUID(token)
	if !ok {
		return nil, errUnauthenticated
	}
	hash := HashToken(token)
	se, u, a, err := s.store.SessionUser(ctx, hash)
	if errors.Is(err, mfad.ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		// Disabling closes the user's sessions; one that another instance
		// let through meanwhile is refused all the same.
		return nil, errUnauthenticated
	}
	now := s.now()
	expired := !now.Before(se.Expires)
	if se.Kind == mfad.SessionFull && now.Sub(se.LastSeen) >= s.cfg.IdleTimeout {
		expired = true
	}
	if expired {
		if err := s.store.DeleteSession(ctx, hash); err != nil {
			return nil, err
		}
		return nil, errUnauthenticated
	}
	// Writing on every request would make every read cost a commit (and on
	// SQLite queue behind the one writer): a request is recorded only when
	// the last record is older than touchEvery, so a session ends at most
	// that much before its idle timeout, never after.
	if se.Kind == mfad.SessionFull && now.Sub(se.LastSeen) >= s.touchEvery() {
		if err := s.store.TouchSession(ctx, hash, now); err != nil {
			return nil, err
		}
		se.LastSeen = now
	}
	return &Identity{Token: token, Session: se, User: u, Account: a}, nil
}

// touchEvery is how stale a session's recorded last request may get: a
// fifteenth of the idle timeout, at most a minute.
func (s *Service) touchEvery() time.Duration {
	return min(time.Minute, s.cfg.IdleTimeout/15)
}

// Keepalive pushes the idle timeout of a full session forward. Authenticate
// has recorded the request already (at most once per touchEvery, like every
// authenticated request), so there is nothing left to write.
func (s *Service) Keepalive(ctx context.Context, id *Identity) error {
	return nil
}

// Logout closes the session.
func (s *Service) Logout(ctx context.Context, id *Identity) error {
	if err := s.store.DeleteSession(ctx, id.Session.Hash); err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventLogout, user: id.User, detail: string(id.Session.Kind)})
	return nil
}
