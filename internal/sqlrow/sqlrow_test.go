package sqlrow

import (
	"testing"
	"time"
)

func TestMS(t *testing.T) {
	if MS(time.Time{}) != 0 || !FromMS(0).IsZero() {
		t.Error("the zero time is not 0")
	}
	at := time.Date(2026, 11, 27, 12, 0, 0, 123e6, time.FixedZone("X", 3600))
	if got := FromMS(MS(at)); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("round trip %v -> %v, want the same instant in UTC", at, got)
	}
}

func TestQualify(t *testing.T) {
	if got := Qualify("id, name,\n\temail", "u"); got != "u.id, u.name, u.email" {
		t.Errorf("Qualify: %q", got)
	}
}

type row []any

func (r row) Scan(dest ...any) error {
	for i := range dest {
		*dest[i].(*int) = r[i].(int)
	}
	return nil
}

func TestPrefixed(t *testing.T) {
	var a, b, c int
	if err := (Prefixed{Row: row{1, 2, 3}, Lead: []any{&a}}).Scan(&b, &c); err != nil || a != 1 || b != 2 || c != 3 {
		t.Errorf("scanned %d %d %d (%v), want 1 2 3", a, b, c, err)
	}
	if NullStr("") != nil || NullStr("x") != "x" {
		t.Error("NullStr")
	}
}
