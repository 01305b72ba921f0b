package storetest

import (
	"testing"

	"github.com/mfad/mfad"
)

// A key rotation sees every stored secret and replaces each only if it did
// not change meanwhile.
func testKeyRotation(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	active := totpUser(t, s, a.ID, 1)
	pendingUser := newUser(t, s, a.ID, nil)
	newUser(t, s, a.ID, nil) // no secret at all
	if err := s.PutPendingTOTP(ctx, &mfad.PendingTOTP{ID: "p1", UserID: pendingUser.ID, Seal: []byte("pending-seal"), Created: t0}); err != nil {
		t.Fatal(err)
	}
	secrets, err := s.SealedSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 2 {
		t.Fatalf("%d sealed secrets, want 2: %+v", len(secrets), secrets)
	}
	for _, sec := range secrets {
		switch {
		case sec.UserID == active.ID && !sec.Pending && string(sec.Seal) == "sealed-secret":
		case sec.UserID == pendingUser.ID && sec.Pending && string(sec.Seal) == "pending-seal":
		default:
			t.Fatalf("unexpected secret %+v", sec)
		}
		ok, err := s.Reseal(ctx, sec, append([]byte("new-"), sec.Seal...))
		if err != nil || !ok {
			t.Fatalf("Reseal %+v: %v %v", sec, ok, err)
		}
		// The old seal is gone: replacing it again does nothing.
		if ok, err := s.Reseal(ctx, sec, []byte("other")); err != nil || ok {
			t.Fatalf("a stale Reseal replaced the secret: %v %v", ok, err)
		}
	}
	if u := getUser(t, s, active.ID); string(u.TOTPSeal) != "new-sealed-secret" || u.TOTPGen != 1 {
		t.Fatalf("active secret after Reseal: %q gen %d", u.TOTPSeal, u.TOTPGen)
	}
	if p, err := s.PendingTOTP(ctx, pendingUser.ID); err != nil || string(p.Seal) != "new-pending-seal" || p.ID != "p1" {
		t.Fatalf("pending secret after Reseal: %+v %v", p, err)
	}
	if err := s.SetMeta(ctx, "key_id", "one"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(ctx, "key_id", "two"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Meta(ctx, "key_id"); err != nil || v != "two" {
		t.Fatalf("Meta after SetMeta: %q %v", v, err)
	}
}
