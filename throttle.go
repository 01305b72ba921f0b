package mfad

import "time"

// Counter is the state of one failure counter, as a store keeps it: the
// failures counted in the current window, when that window began, and until
// when the key is locked (zero times: none).
type Counter struct {
	Count       int
	WindowStart time.Time
	LockedUntil time.Time
}

// Reserve counts one attempt at now against c under policy p. While c is
// locked it counts nothing (the Reservation's RetryAfter is the time
// left); otherwise a window older than p.Window starts again at now, the
// attempt is counted, and the attempt that reaches p.Limit locks the key for
// p.Lock. Stores call it inside the transaction that holds the counter's row.
func (p Throttle) Reserve(c Counter, now time.Time) (Counter, Reservation) {
	if c.LockedUntil.After(now) {
		return c, Reservation{RetryAfter: c.LockedUntil.Sub(now)}
	}
	if c.WindowStart.IsZero() || !now.Before(c.WindowStart.Add(p.Window)) {
		c.Count, c.WindowStart = 0, now
	}
	c.Count++
	c.LockedUntil = time.Time{}
	var r Reservation
	if c.Count >= p.Limit {
		c.LockedUntil, r.Locks = now.Add(p.Lock), true
	}
	return c, r
}

// Forced reports whether the factor t may not be removed from a user: an
// admin forced it on the user (forced2FA, forcedPIN), or, for 2FA, the
// user's account forces 2FA on everyone.
func Forced(t AuthType, forced2FA, forcedPIN, accountForces2FA bool) bool {
	switch t {
	case AuthTOTP:
		return forced2FA || accountForces2FA
	case AuthPIN:
		return forcedPIN
	}
	return false
}
