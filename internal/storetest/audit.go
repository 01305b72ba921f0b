package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/mfad/mfad"
)

// The audit trail keeps every event, per account, newest first, in pages.
func testAuditTrail(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var batch []*mfad.AuditEvent
	for i := 0; i < 25; i++ {
		account := "acct-a"
		if i%5 == 4 {
			account = "acct-b"
		}
		batch = append(batch, &mfad.AuditEvent{AccountID: account, ActorID: "actor", UserID: fmt.Sprintf("user-%d", i),
			Event: "login.ok", Outcome: "success", Addr: "127.0.0.1", Detail: "d", Time: at.Add(time.Duration(i) * time.Second)})
	}
	if err := s.RecordAudit(ctx, batch[:10]); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAudit(ctx, batch[10:]); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(batch); i++ {
		if batch[i].ID <= batch[i-1].ID {
			t.Fatalf("ids not increasing: %d then %d", batch[i-1].ID, batch[i].ID)
		}
	}
	if err := s.RecordAudit(ctx, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	var all []*mfad.AuditEvent
	before := int64(0)
	for {
		page, err := s.AuditEvents(ctx, "acct-a", before, 7)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 7 {
			break
		}
		before = page[len(page)-1].ID
	}
	if len(all) != 20 {
		t.Fatalf("account a has %d events, want 20", len(all))
	}
	want := 24
	for _, e := range all {
		if want%5 == 4 {
			want--
		}
		src := batch[want]
		if e.ID != src.ID || e.AccountID != "acct-a" || e.UserID != src.UserID || e.Event != src.Event || e.Outcome != src.Outcome ||
			e.Addr != src.Addr || e.Detail != src.Detail || !e.Time.Equal(src.Time) || e.ActorID != src.ActorID {
			t.Fatalf("event %+v, want %+v", e, src)
		}
		want--
	}
	if page, err := s.AuditEvents(ctx, "acct-none", 0, 10); err != nil || len(page) != 0 {
		t.Fatalf("unknown account: %v %v", page, err)
	}
}

// AdvanceLogin clears or releases the attempt counter and records its audit
// entries in its own transaction; a refused advance does neither.
func testAdvanceLoginCounterAndAudit(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := totpUser(t, s, a.ID, 0)
	p := mfad.Throttle{Limit: 5, Window: time.Hour, Lock: time.Hour}
	reserve := func(n int) (locked bool) {
		for i := 0; i < n; i++ {
			retry, err := retryOf(s.Reserve(ctx, "email:k", p, t0))
			if err != nil {
				t.Fatal(err)
			}
			if retry > 0 {
				return true
			}
		}
		return false
	}
	entry := func(name string) []*mfad.AuditEvent {
		return []*mfad.AuditEvent{{AccountID: a.ID, ActorID: u.ID, UserID: u.ID, Event: name, Outcome: "success", Time: t0}}
	}
	reserve(4)
	// A completed login clears the counter: four more attempts do not lock.
	lim := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	if err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, TOTPStep: 10, Next: fullNext(u.ID), Now: t0,
		ResetKey: "email:k", Audit: entry("login.ok")}); err != nil {
		t.Fatal(err)
	}
	// A refused advance (the same step again) records nothing.
	reserve(1)
	lim = newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, TOTPStep: 10, Next: fullNext(u.ID), Now: t0,
		ResetKey: "email:k", Audit: entry("refused")})
	if err != mfad.ErrReplay {
		t.Fatalf("a replayed step: %v, want ErrReplay", err)
	}
	if reserve(3) {
		t.Fatal("the counter was not cleared")
	}
	// Four attempts counted. Another factor owed: one attempt is taken
	// back, so one more does not lock, and the one after does.
	lim = newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	next := &mfad.Session{Hash: randHash(), UserID: u.ID, Kind: mfad.SessionLimited, Step: mfad.StepPIN, Created: t0, LastSeen: t0, Expires: t0.Add(time.Minute)}
	if err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, TOTPStep: 11, Next: next, Now: t0,
		ReleaseKey: "email:k", ReleaseLimit: 5, Audit: entry("login.factor.ok")}); err != nil {
		t.Fatal(err)
	}
	if reserve(1) {
		t.Fatal("locked after a released attempt")
	}
	if !reserve(2) {
		t.Fatal("never locked")
	}
	events, err := s.AuditEvents(ctx, a.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Event != "login.factor.ok" || events[1].Event != "login.ok" || events[0].ID == 0 {
		t.Fatalf("audit entries: %+v", events)
	}
}
