// Package storetest is the conformance suite of mfad.Store: the behaviour
// every implementation (SQLite, PostgreSQL, ...) must show, written only
// against the interface. An implementation's tests call Run with a function
// that opens a fresh, empty, migrated store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) mfad.Store { ... })
//	}
//
// Each subtest opens its own store, so the subtests are independent. The
// concurrency subtests are strict: every call must either succeed or fail with
// one of the errors store.go documents for it; any other error (a driver's
// "database is locked", a serialization failure the store did not retry, ...)
// fails the test.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
)

// Open returns a fresh, empty, migrated store; the suite closes it.
type Open func(t *testing.T) mfad.Store

// tests is the suite, in the order it runs.
var tests = []struct {
	name string
	fn   func(t *testing.T, s mfad.Store)
}{
	// Accounts, users, meta.
	{"RoundTrip", testRoundTrip},
	{"UserWithoutSecretReadsBackNil", testUserWithoutSecretReadsBackNil},
	{"EmailTakenCaseInsensitive", testEmailTakenCaseInsensitive},
	{"EmailIdentity", testEmailIdentity},
	{"ConcurrentCreateUser", testConcurrentCreateUser},
	{"DeleteUsers", testDeleteUsers},
	{"EditUsers", testEditUsers},
	{"SetPassword", testSetPassword},
	{"PasswordResets", testPasswordResets},
	{"PasswordResetRace", testPasswordResetRace},
	// Login steps.
	{"AdvanceLoginReplayConcurrentSessions", testAdvanceLoginReplayConcurrentSessions},
	{"AdvanceLoginOneSessionConcurrent", testAdvanceLoginOneSessionConcurrent},
	{"AdvanceLoginChecks", testAdvanceLoginChecks},
	{"AdvanceLoginCheckKey", testAdvanceLoginCheckKey},
	{"AdvanceLoginStaleGenAfterReset", testAdvanceLoginStaleGenAfterReset},
	{"AdvanceLoginEnrollPending", testAdvanceLoginEnrollPending},
	{"FailSession", testFailSession},
	{"RecoveryCodes", testRecoveryCodes},
	{"RecoveryCodeRace", testRecoveryCodeRace},
	{"Passkeys", testPasskeys},
	{"Challenges", testChallenges},
	{"PasskeyUseRace", testPasskeyUseRace},
	// Sessions.
	{"SessionsTouchDeletePurge", testSessionsTouchDeletePurge},
	{"LimitedSessionCap", testLimitedSessionCap},
	{"LimitedSessionCapConcurrent", testLimitedSessionCapConcurrent},
	// Factors.
	{"EnrollTOTP", testEnrollTOTP},
	{"RemoveFactor", testRemoveFactor},
	{"SetPIN", testSetPIN},
	{"AdminBulkAllOrNothing", testAdminBulkAllOrNothing},
	{"AdminRemoveFactorForcedByAccount", testAdminRemoveFactorForcedByAccount},
	{"AdminResetTOTP", testAdminResetTOTP},
	// Throttling.
	{"Throttle", testThrottle},
	{"ThrottleReleaseAndReset", testThrottleReleaseAndReset},
	{"ThrottleConcurrent", testThrottleConcurrent},
	{"ThrottleReserveRacesReset", testThrottleReserveRacesReset},
	{"ResetThrottles", testResetThrottles},
	{"AuditTrail", testAuditTrail},
	{"KeyRotation", testKeyRotation},
	{"AdvanceLoginCounterAndAudit", testAdvanceLoginCounterAndAudit},
	{"SessionUser", testSessionUser},
}

// Run runs every conformance test as a subtest of t. Each subtest gets its
// own store from open and closes it when it ends; a failing Close fails the
// subtest.
func Run(t *testing.T, open Open) {
	t.Helper()
	if open == nil {
		t.Fatal("storetest: nil Open")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("storetest: Open returned a nil store")
			}
			// Registered after open returned, so it runs before the
			// cleanups open registered (removing the file or database).
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// t0 is a fixed clock on a whole millisecond: a store need not keep finer
// precision than that.
var t0 = time.UnixMilli(1_700_000_000_123).UTC()

func randHash() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

func newAccount(t testing.TB, s mfad.Store, force2FA bool) (*mfad.Account, *mfad.User) {
	t.Helper()
	a := &mfad.Account{ID: uuid.NewString(), Title: "Acme", Forced2FA: force2FA, Created: t0, Modified: t0}
	admin := &mfad.User{ID: uuid.NewString(), AccountID: a.ID, Name: "Admin", Email: "admin-" + a.ID + "@example.com",
		SuperAdmin: true, PasswordHash: "$argon2id$admin", Created: t0, Modified: t0}
	if err := s.CreateAccount(t.Context(), a, admin); err != nil {
		t.Fatal(err)
	}
	return a, admin
}

func newUser(t testing.TB, s mfad.Store, accountID string, edit func(*mfad.User)) *mfad.User {
	t.Helper()
	u, err := makeUser(t.Context(), s, accountID, edit)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// makeUser is newUser for goroutines other than the test's, which must not
// call t.Fatal.
func makeUser(ctx context.Context, s mfad.Store, accountID string, edit func(*mfad.User)) (*mfad.User, error) {
	id := uuid.NewString()
	u := &mfad.User{ID: id, AccountID: accountID, Name: "User", Email: id + "@example.com",
		PasswordHash: "$argon2id$user", Created: t0, Modified: t0}
	if edit != nil {
		edit(u)
	}
	return u, s.CreateUser(ctx, u)
}

// totpUser makes a user with an active secret at generation gen.
func totpUser(t testing.TB, s mfad.Store, accountID string, gen int64) *mfad.User {
	t.Helper()
	return newUser(t, s, accountID, withTOTP(gen))
}

// withTOTP gives a user an active secret at generation gen.
func withTOTP(gen int64) func(*mfad.User) {
	return func(u *mfad.User) { u.Has2FA, u.TOTPSeal, u.TOTPGen = true, []byte("sealed-secret"), gen }
}

func newSession(t testing.TB, s mfad.Store, userID string, kind mfad.SessionKind, step mfad.Step) *mfad.Session {
	t.Helper()
	se, err := makeSession(t.Context(), s, userID, kind, step)
	if err != nil {
		t.Fatal(err)
	}
	return se
}

// makeSession is newSession for goroutines other than the test's.
func makeSession(ctx context.Context, s mfad.Store, userID string, kind mfad.SessionKind, step mfad.Step) (*mfad.Session, error) {
	se := &mfad.Session{Hash: randHash(), UserID: userID, Kind: kind, Step: step,
		Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
	return se, s.CreateSession(ctx, se)
}

func fullNext(userID string) *mfad.Session {
	return &mfad.Session{Hash: randHash(), UserID: userID, Kind: mfad.SessionFull,
		Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
}

func getUser(t *testing.T, s mfad.Store, id string) *mfad.User {
	t.Helper()
	u, err := s.User(t.Context(), id)
	if err != nil {
		t.Fatalf("User(%s): %v", id, err)
	}
	return u
}

func sessionExists(t *testing.T, s mfad.Store, hash []byte) bool {
	t.Helper()
	_, err := s.Session(t.Context(), hash)
	if errors.Is(err, mfad.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// The same* functions compare values read back from a store with
// reflect.DeepEqual, field for field, except that times are compared as
// instants: a store may hand them back in any location (the services only
// use them as instants). Everything else must match exactly, including a nil
// TOTPSeal versus an empty one.

func inUTC(t time.Time) time.Time { return t.UTC() } // also drops any monotonic reading

func normAccount(a *mfad.Account) *mfad.Account {
	if a == nil {
		return nil
	}
	c := *a
	c.Created, c.Modified = inUTC(c.Created), inUTC(c.Modified)
	return &c
}

func normUser(u *mfad.User) *mfad.User {
	if u == nil {
		return nil
	}
	c := *u
	c.Created, c.Modified, c.LastLogin = inUTC(c.Created), inUTC(c.Modified), inUTC(c.LastLogin)
	return &c
}

func normSession(se *mfad.Session) *mfad.Session {
	if se == nil {
		return nil
	}
	c := *se
	c.Created, c.LastSeen, c.Expires = inUTC(c.Created), inUTC(c.LastSeen), inUTC(c.Expires)
	return &c
}

func normPending(p *mfad.PendingTOTP) *mfad.PendingTOTP {
	if p == nil {
		return nil
	}
	c := *p
	c.Created = inUTC(c.Created)
	return &c
}

func sameAccount(a, b *mfad.Account) bool { return reflect.DeepEqual(normAccount(a), normAccount(b)) }
func sameUser(a, b *mfad.User) bool       { return reflect.DeepEqual(normUser(a), normUser(b)) }
func sameSession(a, b *mfad.Session) bool { return reflect.DeepEqual(normSession(a), normSession(b)) }
func samePending(a, b *mfad.PendingTOTP) bool {
	return reflect.DeepEqual(normPending(a), normPending(b))
}

// sameUserSets reports whether a and b hold the same users, in any order
// (the interface does not specify the order of Users).
func sameUserSets(a, b []*mfad.User) bool {
	if len(a) != len(b) {
		return false
	}
	norm := func(us []*mfad.User) []*mfad.User {
		out := make([]*mfad.User, len(us))
		for i, u := range us {
			out[i] = normUser(u)
		}
		id := func(u *mfad.User) string {
			if u == nil {
				return ""
			}
			return u.ID
		}
		slices.SortStableFunc(out, func(x, y *mfad.User) int { return strings.Compare(id(x), id(y)) })
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// atOnce runs op(0) to op(n-1), each on a goroutine of its own, all
// released at the same instant, and returns their errors.
func atOnce(n int, op func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = op(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// exactlyOne runs op(0) to op(n-1) at the same instant and fails the test
// unless exactly one returns nil and every other returns lose.
func exactlyOne(t *testing.T, n int, what string, lose error, op func(i int) error) {
	t.Helper()
	errs := atOnce(n, op)
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, lose):
			t.Errorf("%s %d: %v, want nil or %v", what, i, err, lose)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent %ss succeeded, want exactly 1", won, n, what)
	}
}
