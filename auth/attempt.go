package auth

import (
	"context"
	"strings"
	"time"

	"github.com/mfad/mfad"
)

// attempt is one login attempt's hold on the failure counters that guard
// it (the email's, and on the password step the client address's). Both
// login steps go through it in three moves:
//
//   - reserve: the attempt is counted against a key before it is
//     evaluated, so that concurrent guesses cannot get more evaluations
//     than the limit allows; a locked key refuses it, counting nothing. A
//     TOTP code, cheap to check, is reserved only once it is found wrong.
//   - evaluate: the step checks the credential. Its verdict is given by
//     failed (wrong: what was counted stays counted) or by the step taking
//     each reservation's fate in hand (taken: released or cleared, in the
//     step's own transaction or by settle).
//   - settle (deferred): an attempt that got no verdict, because the
//     database or the hashing pool failed part-way or no pending secret was
//     found, is taken back, so that an outage locks no one out.
type attempt struct {
	s         *Service
	ctx       context.Context
	now       time.Time
	held      []hold           // counted, fate not decided yet
	verdict   bool             // failed was called: the held reservations stay counted
	lastEmail mfad.Reservation // the email key's reservation, for its Locks
}

type hold struct {
	key    string
	policy mfad.Throttle
}

func (s *Service) newAttempt(ctx context.Context, now time.Time) *attempt {
	return &attempt{s: s, ctx: ctx, now: now}
}

// reserve counts the attempt against key. It returns the time left on the
// key's lock, with nothing counted, when the key is locked.
func (a *attempt) reserve(key string, p mfad.Throttle) (time.Duration, error) {
	r, err := a.s.store.Reserve(a.ctx, key, p, a.now)
	if err != nil || r.RetryAfter > 0 {
		return r.RetryAfter, err
	}
	a.held = append(a.held, hold{key, p})
	if strings.HasPrefix(key, emailPrefix) {
		a.lastEmail = r
	}
	return 0, nil
}

// failed is the verdict of a wrong credential: every reservation stays
// counted. It returns the events to record: f, and the lockout its
// reservation of the email began, if it did.
func (a *attempt) failed(f event) []event {
	a.verdict = true
	if a.lastEmail.Locks {
		return []event{f, a.s.lockout(f.user, f.step)}
	}
	return []event{f}
}

// refused is the verdict of an attempt turned away without a check (a
// locked key, an address over its limit): what it counted before stays.
func (a *attempt) refused() { a.verdict = true }

// take hands the reservation of key to the step (it releases or clears it
// itself), so that settle leaves it alone.
func (a *attempt) take(key string) {
	for i, h := range a.held {
		if h.key == key {
			a.held = append(a.held[:i], a.held[i+1:]...)
			return
		}
	}
}

// release takes the reservation of key back now (a right credential whose
// login goes on, or a completed login's address).
func (a *attempt) release(key string) {
	for _, h := range a.held {
		if h.key == key {
			a.take(key)
			a.s.release(a.ctx, h.key, h.policy)
			return
		}
	}
}

// settle takes back the reservations of an attempt that got no verdict.
func (a *attempt) settle() {
	if a.verdict {
		return
	}
	for _, h := range a.held {
		a.s.release(a.ctx, h.key, h.policy)
	}
	a.held = nil
}
