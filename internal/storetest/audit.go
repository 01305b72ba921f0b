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
