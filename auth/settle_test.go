package auth_test

import (
	"context"
	"errors"
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
)

// flaky is a store whose chosen operations fail as if the database were
// down, for the tests of what a login does when it fails part-way.
type flaky struct {
	mfad.Store
	mu             sync.Mutex
	createSession  int // the next calls of CreateSession that fail
	advanceLogin   int
	release        int
	releasesLanded int
}

func (f *flaky) fail(n *int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *n > 0 {
		*n--
		return fmt.Errorf("%w: injected", mfad.ErrUnavailable)
	}
	return nil
}

func (f *flaky) CreateSession(ctx context.Context, se *mfad.Session) error {
	if err := f.fail(&f.createSession); err != nil {
		return err
	}
	return f.Store.CreateSession(ctx, se)
}

func (f *flaky) AdvanceLogin(ctx context.Context, a mfad.Advance) error {
	if err := f.fail(&f.advanceLogin); err != nil {
		return err
	}
	return f.Store.AdvanceLogin(ctx, a)
}

func (f *flaky) Release(ctx context.Context, key string, p mfad.Throttle) error {
	if err := f.fail(&f.release); err != nil {
		return err
	}
	err := f.Store.Release(ctx, key, p)
	if err == nil {
		f.mu.Lock()
		f.releasesLanded++
		f.mu.Unlock()
	}
	return err
}

func (f *flaky) set(n *int, v int) {
	f.mu.Lock()
	*n = v
	f.mu.Unlock()
}

// landed waits until want releases have reached the database.
func (f *flaky) landed(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		n := f.releasesLanded
		f.mu.Unlock()
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d releases landed, want %d", n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	email    = "user@example.com"
	password = "a good password"
)

func newService(t *testing.T) (*auth.Service, *flaky) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mfad.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &flaky{Store: store}
	hasher := passhash.New(passhash.Params{Memory: 64, Time: 1, Threads: 1}, 2, 16, 10*time.Second)
	svc := auth.New(f, seal.NewBox(seal.NewKey()), hasher, auth.Config{})
	if _, _, err := svc.CreateAccount(ctx, "A", auth.NewUser{Name: "U", Email: email, Password: password}); err != nil {
		t.Fatal(err)
	}
	return svc, f
}

func code(err error) mfad.Code {
	var e *mfad.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

// wrongUntilLocked sends wrong passwords and returns how many were
// evaluated (answered "wrong email or password") before the lockout.
func wrongUntilLocked(t *testing.T, svc *auth.Service) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		_, err := svc.PasswordLogin(context.Background(), email, "wrong", "192.0.2.1")
		switch code(err) {
		case mfad.CodeBadCredentials:
		case mfad.CodeTooManyAttempts:
			return i
		default:
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	t.Fatal("no lockout after 20 wrong passwords")
	return 0
}

// A login that the database fails part-way is not counted against the
// user, even when taking its reservations back has to wait for the
// database to return.
func TestUnevaluatedLoginIsNotCounted(t *testing.T) {
	svc, f := newService(t)
	f.set(&f.createSession, 1)
	f.set(&f.release, 3) // the first tries of both releases, and one retry
	_, err := svc.PasswordLogin(context.Background(), email, password, "192.0.2.1")
	if !errors.Is(err, mfad.ErrUnavailable) {
		t.Fatalf("login with the database failing: %v, want unavailable", err)
	}
	f.landed(t, 2) // the address's and the email's
	limit := auth.DefaultConfig().EmailThrottle.Limit
	if n := wrongUntilLocked(t, svc); n != limit {
		t.Fatalf("%d wrong passwords evaluated before the lockout, want %d: the failed login stayed counted", n, limit)
	}
}

// The control: a wrong password stays counted.
func TestWrongPasswordStaysCounted(t *testing.T) {
	svc, _ := newService(t)
	if _, err := svc.PasswordLogin(context.Background(), email, "wrong", "192.0.2.1"); code(err) != mfad.CodeBadCredentials {
		t.Fatalf("wrong password: %v", err)
	}
	limit := auth.DefaultConfig().EmailThrottle.Limit
	if n := wrongUntilLocked(t, svc); n != limit-1 {
		t.Fatalf("%d more wrong passwords before the lockout, want %d", n, limit-1)
	}
}

// pinLogin signs the user in with a PIN set and returns the limited
// session that owes it.
func pinLogin(t *testing.T, svc *auth.Service, pin string) *auth.Identity {
	t.Helper()
	ctx := context.Background()
	r, err := svc.PasswordLogin(ctx, email, password, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	id, err := svc.Authenticate(ctx, r.Token)
	if err != nil {
		t.Fatal(err)
	}
	if r.Step == mfad.StepNone {
		if _, err := svc.SetMFA(ctx, id, mfad.AuthPIN, pin); err != nil {
			t.Fatal(err)
		}
		return pinLogin(t, svc, pin)
	}
	if r.Step != mfad.StepPIN {
		t.Fatalf("step %d, want the PIN", r.Step)
	}
	return id
}

// A right PIN whose step the database fails to commit is not counted; a
// wrong PIN is.
func TestSecondFactorFailingPartWay(t *testing.T) {
	svc, f := newService(t)
	ctx := context.Background()
	const pin = "2468"
	id := pinLogin(t, svc, pin)
	f.set(&f.advanceLogin, 1)
	if _, err := svc.SecondFactor(ctx, id, mfad.AuthPIN, pin); !errors.Is(err, mfad.ErrUnavailable) {
		t.Fatalf("right PIN with the database failing: %v, want unavailable", err)
	}
	if _, err := svc.SecondFactor(ctx, id, mfad.AuthPIN, "1357"); code(err) != mfad.CodeWrongCode {
		t.Fatalf("wrong PIN: %v", err)
	}
	// One wrong PIN counted: four more evaluated failures lock the email.
	limit := auth.DefaultConfig().EmailThrottle.Limit
	if n := wrongUntilLocked(t, svc); n != limit-1 {
		t.Fatalf("%d wrong passwords before the lockout after one wrong PIN, want %d", n, limit-1)
	}
}
