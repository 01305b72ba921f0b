package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mfad/mfad/httpapi"
	"github.com/mfad/mfad/totp"
)

// The scenarios, in the order they run at each scale.
const (
	scBaseline     = "baseline"      // a bare net/http handler answering {"ok":true}
	scProfile      = "profile"       // GET /profile with a full session
	scKeepalive    = "keepalive"     // GET /session/keepalive with a full session
	scVerify       = "verify"        // GET /auth/verify with a full session's cookie, as a proxy asks
	scSecondFactor = "second-factor" // POST /session/login with a valid TOTP code
	scAdmin        = "admin-bulk"    // POST /user/set-mfa then /user/remove-mfa on 1,000 ids
	scPassword     = "password"      // GET /session/login with Basic (argon2id)
)

// The password step runs last: its argon2id hashes (19 MiB each) leave the
// heap large for a while, which would count in the next windows' RSS.
var allScenarios = []string{scBaseline, scProfile, scKeepalive, scVerify, scSecondFactor, scAdmin, scPassword}

// The result rows of the admin scenario, one per call.
const (
	rowAdminSet    = "admin-set-mfa"
	rowAdminRemove = "admin-remove-mfa"
)

// fixture is what the scenarios need from the seeded data.
type fixture struct {
	api        string   // http://host:port/api/1.0
	baseline   string   // the bare handler's URL
	adminToken string   // a full session of the account's admin
	fullTokens []string // full sessions the authenticated scenarios rotate through
	pwEmails   []string // users without a factor, for the password step
	bulkIDs    []string // the admin calls' targets
	pool       *totpPool
}

// ---- the second-factor pool

// poolUser is a user with TOTP whose logins the second-factor scenario
// finishes. A TOTP step is accepted once per user and steps only move
// forward, so a user serves at most three requests per 30-second step (see
// take).
type poolUser struct {
	id, email, secret string
	last              int64 // the last step accepted for the user
	tokens            []limitedToken
	busy              bool
	pending           int64 // while busy: the step of the code in flight
}

type limitedToken struct {
	token string
	made  time.Time
}

// limitedLife is how long the harness uses a limited session it made: the
// server's limited sessions live 5 minutes.
const limitedLife = 4 * time.Minute

type totpPool struct {
	mu      sync.Mutex
	users   []*poolUser
	cursor  int
	perUser int // limited sessions kept ready per user
	// dry records the steps no user can serve any more (until a refill or
	// a rewind), so that take does not scan the whole pool for them again.
	dry map[int64]bool
	// make creates limited sessions (step 1, owing TOTP) for the users,
	// one per entry (a user may appear more than once).
	make func(ctx context.Context, users []*poolUser) ([]string, error)
	// reset, if set, sets the users' last accepted step back to 0 in the
	// database.
	reset func(ctx context.Context, users []*poolUser) error
}

// refill gives every pool user perUser fresh limited sessions.
func (p *totpPool) refill(ctx context.Context) (int, error) {
	now := time.Now()
	var need []*poolUser
	p.mu.Lock()
	for _, u := range p.users {
		fresh := u.tokens[:0]
		for _, t := range u.tokens {
			if now.Sub(t.made) < limitedLife {
				fresh = append(fresh, t)
			}
		}
		u.tokens = fresh
		for k := len(u.tokens); k < p.perUser; k++ {
			need = append(need, u)
		}
	}
	p.mu.Unlock()
	if len(need) == 0 {
		return 0, nil
	}
	tokens, err := p.make(ctx, need)
	p.mu.Lock()
	clear(p.dry)
	for i, t := range tokens {
		if t != "" {
			need[i].tokens = append(need[i].tokens, limitedToken{token: t, made: now})
		}
	}
	p.mu.Unlock()
	return len(tokens), err
}

// take picks a user that can log in now: not in use, holding a limited
// session, and whose last accepted step is before the step of the code it
// will send. The server accepts the codes of the previous, current and
// next step (clock skew), so a user serves up to three logins per 30-second
// step: the previous step's code first (only while the step has more than
// 5 s left, so that the code is still accepted when it arrives), then the
// current one, then the next one. It returns errDry when no user can.
func (p *totpPool) take(now time.Time) (*poolUser, string, int64, error) {
	cur := totp.StepAt(now)
	first := cur - 1
	if now.Unix()%totp.Period >= totp.Period-5 {
		first = cur
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.users)
	if p.dry == nil {
		p.dry = map[int64]bool{}
	}
	for step := first; step <= cur+1; step++ {
		if p.dry[step] {
			continue
		}
		// Users in flight with an earlier step may serve this one later.
		returning := false
		for k := 0; k < n; k++ {
			u := p.users[(p.cursor+k)%n]
			if u.busy {
				returning = returning || (u.pending < step && len(u.tokens) > 0)
				continue
			}
			if len(u.tokens) == 0 || u.last >= step {
				continue
			}
			p.cursor = (p.cursor + k + 1) % n
			t := u.tokens[len(u.tokens)-1]
			u.tokens = u.tokens[:len(u.tokens)-1]
			u.busy, u.pending = true, step
			return u, t.token, step, nil
		}
		if !returning {
			p.dry[step] = true
		}
	}
	return nil, "", 0, errDry
}

// rewind makes every used pool user fresh again between two windows, when
// the pool can (the database modes): the server forgets the steps they
// used, as if other users had logged in instead.
func (p *totpPool) rewind(ctx context.Context) error {
	if p.reset == nil {
		return nil
	}
	var used []*poolUser
	p.mu.Lock()
	for _, u := range p.users {
		if u.last != 0 {
			used = append(used, u)
		}
	}
	p.mu.Unlock()
	if len(used) == 0 {
		return nil
	}
	if err := p.reset(ctx, used); err != nil {
		return err
	}
	p.mu.Lock()
	for _, u := range used {
		u.last = 0
	}
	clear(p.dry)
	p.mu.Unlock()
	return nil
}

func (p *totpPool) release(u *poolUser, step int64) {
	p.mu.Lock()
	u.busy = false
	// Counted as used whatever the answer: a failed attempt must not be
	// retried with the same code.
	u.last = max(u.last, step)
	p.mu.Unlock()
}

// ---- calls

func newReq(ctx context.Context, method, url string, body []byte) *http.Request {
	var req *http.Request
	if body != nil {
		req, _ = http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, _ = http.NewRequestWithContext(ctx, method, url, nil)
	}
	return req
}

// scenarioCalls returns, for a scenario, its result rows (one per tag) and
// a nextFunc for conc workers.
func (f *fixture) scenarioCalls(name string, conc int) ([]string, nextFunc, error) {
	var rr atomic.Uint64
	switch name {
	case scBaseline:
		return []string{scBaseline}, func(ctx context.Context, w int) (*call, error) {
			return &call{req: newReq(ctx, "GET", f.baseline, nil), want: 200}, nil
		}, nil
	case scProfile, scKeepalive, scVerify:
		if len(f.fullTokens) == 0 {
			return nil, nil, fmt.Errorf("%s: no full session to use", name)
		}
		path := f.api + "/profile"
		switch name {
		case scKeepalive:
			path = f.api + "/session/keepalive"
		case scVerify:
			path = f.api + "/auth/verify"
		}
		return []string{name}, func(ctx context.Context, w int) (*call, error) {
			tok := f.fullTokens[(rr.Add(1)-1)%uint64(len(f.fullTokens))]
			req := newReq(ctx, "GET", path, nil)
			if name == scVerify {
				// What nginx passes on from a signed-in browser.
				req.Header.Set("Cookie", httpapi.CookieName+"="+tok)
				req.Header.Set("X-Original-URL", "https://app.example.com/")
			} else {
				req.Header.Set("X-Auth-Token", tok)
			}
			return &call{req: req, want: 200}, nil
		}, nil
	case scSecondFactor:
		if f.pool == nil || len(f.pool.users) == 0 {
			return nil, nil, fmt.Errorf("%s: no user with TOTP", name)
		}
		return []string{name}, func(ctx context.Context, w int) (*call, error) {
			u, tok, step, err := f.pool.take(time.Now())
			if err != nil {
				return nil, err
			}
			code, err := totp.CodeAt(u.secret, step)
			if err != nil {
				f.pool.release(u, step)
				return nil, err
			}
			body, _ := json.Marshal(map[string]string{"auth_type": "2FA", "code": code})
			req := newReq(ctx, "POST", f.api+"/session/login", body)
			req.Header.Set("X-Auth-Token", tok)
			return &call{req: req, want: 200, done: func(bool) { f.pool.release(u, step) }}, nil
		}, nil
	case scPassword:
		if len(f.pwEmails) == 0 {
			return nil, nil, fmt.Errorf("%s: no user without a factor", name)
		}
		return []string{name}, func(ctx context.Context, w int) (*call, error) {
			email := f.pwEmails[(rr.Add(1)-1)%uint64(len(f.pwEmails))]
			req := newReq(ctx, "GET", f.api+"/session/login", nil)
			req.SetBasicAuth(email, benchPassword)
			return &call{req: req, want: 200}, nil
		}, nil
	case scAdmin:
		if len(f.bulkIDs) == 0 {
			return nil, nil, fmt.Errorf("%s: no user to act on", name)
		}
		set, _ := json.Marshal(map[string]any{"ids": f.bulkIDs, "auth_type": "2FA"})
		remove, _ := json.Marshal(map[string]any{"ids": f.bulkIDs, "auth_type": "2FA"})
		turn := make([]int, conc) // each worker alternates set and remove; half start with remove
		for w := range turn {
			turn[w] = w % 2
		}
		return []string{rowAdminSet, rowAdminRemove}, func(ctx context.Context, w int) (*call, error) {
			tag := turn[w]
			turn[w] = 1 - tag
			path, body := "/user/set-mfa", set
			if tag == 1 {
				path, body = "/user/remove-mfa", remove
			}
			req := newReq(ctx, "POST", f.api+path, body)
			req.Header.Set("X-Auth-Token", f.adminToken)
			return &call{tag: tag, req: req, want: 200}, nil
		}, nil
	}
	return nil, nil, fmt.Errorf("unknown scenario %q", name)
}
