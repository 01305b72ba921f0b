package sqlite

import (
	"bytes"
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"
)

// The writer's conversions from the driver's values give what
// database/sql's Scan gives for the same destinations, and refuse what it
// refuses.
func TestAssignAsDatabaseSQL(t *testing.T) {
	type kind string
	type step int
	var (
		s  string
		b  []byte
		i  int
		i6 int64
		ok bool
		f  float64
		ns sql.NullString
		k  kind
		st step
		a  any
	)
	src := []byte("abc")
	for _, c := range []struct {
		dest  any
		v     driver.Value
		check func() bool
	}{
		{&s, "x", func() bool { return s == "x" }},
		{&s, []byte("y"), func() bool { return s == "y" }},
		{&s, int64(7), func() bool { return s == "7" }},
		{&b, src, func() bool { return bytes.Equal(b, src) && &b[0] != &src[0] }},
		{&b, nil, func() bool { return b == nil }},
		{&i, int64(42), func() bool { return i == 42 }},
		{&i6, int64(-3), func() bool { return i6 == -3 }},
		{&ok, int64(1), func() bool { return ok }},
		{&ok, int64(0), func() bool { return !ok }},
		{&f, int64(2), func() bool { return f == 2 }},
		{&ns, nil, func() bool { return !ns.Valid }},
		{&ns, "pin", func() bool { return ns.Valid && ns.String == "pin" }},
		{&k, "full", func() bool { return k == "full" }},
		{&st, int64(3), func() bool { return st == 3 }},
		{&a, src, func() bool { bb, is := a.([]byte); return is && bytes.Equal(bb, src) && &bb[0] != &src[0] }},
	} {
		if err := assign(c.dest, c.v); err != nil || !c.check() {
			t.Errorf("assign(%T, %#v): %v, or the wrong value", c.dest, c.v, err)
		}
	}
	// What database/sql refuses: NULL into a string or an integer, a
	// number that is not 0 or 1 into a bool.
	for _, c := range []struct {
		dest any
		v    driver.Value
	}{
		{&s, nil}, {&i6, nil}, {&i, nil}, {&ok, int64(2)}, {&k, nil}, {s, "not a pointer"},
	} {
		if err := assign(c.dest, c.v); err == nil {
			t.Errorf("assign(%T, %#v) accepted", c.dest, c.v)
		}
	}
}

// QueryRow on the writer's connection answers sql.ErrNoRows for no row,
// as database/sql does (the store's callers test for it).
func TestWriterQueryRowNoRows(t *testing.T) {
	s := openGroupStore(t)
	err := s.tx(t.Context(), func(tx *wtx) error {
		var v string
		return tx.QueryRow("SELECT value FROM meta WHERE key = 'absent'").Scan(&v)
	})
	if !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("QueryRow of no row: %v, want sql.ErrNoRows", err)
	}
}
