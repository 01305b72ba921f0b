package auth_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/seal"
	"github.com/mfad/mfad/sqlite"
	"github.com/mfad/mfad/totp"
)

// clock is a fake clock for the service.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// stepEnv is a service on SQLite with a fake clock, the lockout at 5
// failures and no limit per address, and an admin.
type stepEnv struct {
	t     *testing.T
	ctx   context.Context
	svc   *auth.Service
	clock *clock
	admin auth.Admin
	n     int
}

const stepLimit = 5

func newStepEnv(t *testing.T) *stepEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mfad.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c := &clock{now: time.Unix(1_700_000_010, 0).UTC()} // ten seconds into a TOTP step
	hasher := passhash.New(passhash.Params{Memory: 64, Time: 1, Threads: 1}, 2, 16, 10*time.Second)
	svc := auth.New(store, seal.NewBox(seal.NewKey()), hasher, auth.Config{Now: c.Now,
		EmailThrottle: mfad.Throttle{Limit: stepLimit, Window: time.Hour, Lock: time.Hour},
		AddrThrottle:  mfad.Throttle{Limit: 1 << 20, Window: time.Minute, Lock: time.Minute}})
	if _, _, err := svc.CreateAccount(ctx, "A", auth.NewUser{Name: "Admin", Email: "admin@example.com", Password: "admin password"}); err != nil {
		t.Fatal(err)
	}
	e := &stepEnv{t: t, ctx: ctx, svc: svc, clock: c}
	a, err := auth.RequireAdmin(e.identity(e.login("admin@example.com", "admin password", mfad.StepNone)))
	if err != nil {
		t.Fatal(err)
	}
	e.admin = a
	return e
}

func (e *stepEnv) login(email, password string, want mfad.Step) string {
	e.t.Helper()
	res, err := e.svc.PasswordLogin(e.ctx, email, password, "192.0.2.1")
	if err != nil || res.Step != want {
		e.t.Fatalf("login %s: %+v, %v; want Mfa-Code %d", email, res, err, want)
	}
	return res.Token
}

func (e *stepEnv) identity(token string) *auth.Identity {
	e.t.Helper()
	id, err := e.svc.Authenticate(e.ctx, token)
	if err != nil {
		e.t.Fatalf("authenticate: %v", err)
	}
	return id
}

func (e *stepEnv) code(secret string) string {
	e.t.Helper()
	c, err := totp.CodeAt(secret, totp.StepAt(e.clock.Now()))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

const stepPIN = "4826"

// user makes a user whose password login owes first, and returns its email
// and TOTP secret ("" without one). StepTOTP users have TOTP only, StepPIN
// users a PIN only, and "both" (first StepTOTP, then StepPIN) both.
func (e *stepEnv) user(first mfad.Step, both bool) (email, secret string) {
	e.t.Helper()
	e.n++
	email = fmt.Sprintf("user%d@example.com", e.n)
	u, err := e.svc.CreateUser(e.ctx, e.admin, auth.NewUser{Name: "U", Email: email, Password: "user password"})
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case first == mfad.StepEnroll:
		if err := e.svc.AdminSetMFA(e.ctx, e.admin, []string{u.ID}, mfad.AuthTOTP, ""); err != nil {
			e.t.Fatal(err)
		}
	case first == mfad.StepTOTP:
		id := e.identity(e.login(email, "user password", mfad.StepNone))
		g, err := e.svc.Generate2FA(e.ctx, id, false)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.svc.SetMFA(e.ctx, id, mfad.AuthTOTP, e.code(g.Secret)); err != nil {
			e.t.Fatal(err)
		}
		secret = g.Secret
		e.clock.advance(30 * time.Second) // the enrollment's step is spent
	}
	if first == mfad.StepPIN || both {
		if err := e.svc.AdminSetMFA(e.ctx, e.admin, []string{u.ID}, mfad.AuthPIN, stepPIN); err != nil {
			e.t.Fatal(err)
		}
	}
	return email, secret
}

// counted is how many failures the email's counter holds: the wrong
// passwords it still takes before the lock tell (each one adds one).
func (e *stepEnv) counted(email string) int {
	e.t.Helper()
	for i := range stepLimit + 1 {
		_, err := e.svc.PasswordLogin(e.ctx, email, "wrong password", "192.0.2.1")
		switch code(err) {
		case mfad.CodeBadCredentials:
		case mfad.CodeTooManyAttempts:
			return stepLimit - i
		default:
			e.t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	e.t.Fatal("no lockout")
	return 0
}

// The login steps, one table: what each step answers for a right, wrong,
// replayed or malformed code, a wrong auth_type, or a locked email; whether
// the attempt stays counted against the email; whether the limited session
// is closed after it.
func TestSecondFactorSteps(t *testing.T) {
	type send int
	const (
		right send = iota
		wrong
		replayed  // a TOTP code whose time step a login already used
		malformed // not a code at all
		otherType // the auth_type of the other factor
		fifth     // the fifth wrong code on one limited session
	)
	cases := []struct {
		name     string
		first    mfad.Step // what the login owes
		both     bool      // TOTP, then PIN
		send     send
		locked   bool      // the email is locked before the step
		want     mfad.Code // -1: a session
		wantStep mfad.Step // with a session: what it owes
		counted  int       // failures on the email's counter afterwards (unless locked)
		closed   bool      // the limited session is gone afterwards
	}{
		{"TOTP right", mfad.StepTOTP, false, right, false, -1, mfad.StepNone, 0, true},
		{"TOTP right, PIN next", mfad.StepTOTP, true, right, false, -1, mfad.StepPIN, 0, true},
		{"TOTP wrong", mfad.StepTOTP, false, wrong, false, mfad.CodeWrongCode, 0, 1, false},
		{"TOTP replayed", mfad.StepTOTP, false, replayed, false, mfad.CodeWrongCode, 0, 1, false},
		{"TOTP malformed", mfad.StepTOTP, false, malformed, false, mfad.CodeWrongCode, 0, 1, false},
		{"TOTP as PIN", mfad.StepTOTP, false, otherType, false, mfad.CodeWrongAuthType, 0, 1, false},
		{"TOTP fifth wrong", mfad.StepTOTP, false, fifth, false, mfad.CodeWrongCode, 0, 5, true},
		{"TOTP right, locked", mfad.StepTOTP, false, right, true, mfad.CodeTooManyAttempts, 0, 0, false},
		{"TOTP wrong, locked", mfad.StepTOTP, false, wrong, true, mfad.CodeTooManyAttempts, 0, 0, false},
		{"PIN right", mfad.StepPIN, false, right, false, -1, mfad.StepNone, 0, true},
		{"PIN wrong", mfad.StepPIN, false, wrong, false, mfad.CodeWrongCode, 0, 1, false},
		{"PIN malformed", mfad.StepPIN, false, malformed, false, mfad.CodeWrongCode, 0, 1, false},
		{"PIN as 2FA", mfad.StepPIN, false, otherType, false, mfad.CodeWrongAuthType, 0, 1, false},
		{"PIN fifth wrong", mfad.StepPIN, false, fifth, false, mfad.CodeWrongCode, 0, 5, true},
		{"PIN right, locked", mfad.StepPIN, false, right, true, mfad.CodeTooManyAttempts, 0, 0, false},
		{"enrollment right", mfad.StepEnroll, false, right, false, -1, mfad.StepNone, 0, true},
		{"enrollment wrong", mfad.StepEnroll, false, wrong, false, mfad.CodeWrongCode, 0, 1, false},
		{"enrollment as PIN", mfad.StepEnroll, false, otherType, false, mfad.CodeWrongAuthType, 0, 1, false},
		{"enrollment right, locked", mfad.StepEnroll, false, right, true, mfad.CodeTooManyAttempts, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newStepEnv(t)
			email, secret := e.user(c.first, c.both)
			if c.send == replayed {
				// A login uses the current step's code first.
				done := e.identity(e.login(email, "user password", c.first))
				if _, err := e.svc.SecondFactor(e.ctx, done, mfad.AuthTOTP, e.code(secret)); err != nil {
					t.Fatalf("the first use of the code: %v", err)
				}
			}
			lim := e.login(email, "user password", c.first)
			id := e.identity(lim)
			if c.first == mfad.StepEnroll {
				g, err := e.svc.Generate2FA(e.ctx, id, false)
				if err != nil {
					t.Fatal(err)
				}
				secret = g.Secret
			}
			if c.locked {
				for range stepLimit {
					e.svc.PasswordLogin(e.ctx, email, "wrong password", "192.0.2.1")
				}
			}
			factor, rightCode := mfad.AuthTOTP, ""
			switch c.first {
			case mfad.StepPIN:
				factor, rightCode = mfad.AuthPIN, stepPIN
			default:
				rightCode = e.code(secret)
			}
			codeOf := map[send]string{right: rightCode, replayed: rightCode, malformed: "12ab", otherType: rightCode,
				wrong: fmt.Sprintf("%0*d", len(rightCode), (atoi(rightCode)+1)%pow10(len(rightCode)))}
			codeOf[fifth] = codeOf[wrong]
			sendType := factor
			if c.send == otherType {
				sendType = map[mfad.AuthType]mfad.AuthType{mfad.AuthTOTP: mfad.AuthPIN, mfad.AuthPIN: mfad.AuthTOTP}[factor]
			}
			tries := 1
			if c.send == fifth {
				tries = 5
			}
			var res auth.LoginResult
			var err error
			for range tries {
				res, err = e.svc.SecondFactor(e.ctx, id, sendType, codeOf[c.send])
			}
			if c.want == -1 {
				if err != nil || res.Token == "" || res.Step != c.wantStep {
					t.Fatalf("answer %+v, %v; want a session owing Mfa-Code %d", res, err, c.wantStep)
				}
			} else if code(err) != c.want {
				t.Fatalf("answer %+v, %v; want code %d", res, err, c.want)
			}
			_, aerr := e.svc.Authenticate(e.ctx, lim)
			if gone := code(aerr) == mfad.CodeUnauthenticated; gone != c.closed {
				t.Errorf("limited session closed: %v, want %v (%v)", gone, c.closed, aerr)
			}
			if !c.locked {
				if n := e.counted(email); n != c.counted {
					t.Errorf("failures counted on the email: %d, want %d", n, c.counted)
				}
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = 10*n + int(r-'0')
	}
	return n
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}
