// Package sqlrow holds what the SQLite and PostgreSQL stores share in
// moving values between mfad's types and SQL rows: times as Unix
// milliseconds, optional strings as NULL, and scanning a row whose leading
// columns belong to another table.
package sqlrow

import (
	"strings"
	"time"
)

// MS is t as Unix milliseconds, 0 for the zero time.
func MS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMS is the UTC time of Unix milliseconds v, the zero time for 0.
func FromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// NullStr is s, or NULL when s is empty.
func NullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Scanner is a *sql.Row or *sql.Rows.
type Scanner interface{ Scan(...any) error }

// Prefixed scans Lead's columns first, then the ones its caller asks for.
type Prefixed struct {
	Row  Scanner
	Lead []any
}

func (p Prefixed) Scan(dest ...any) error { return p.Row.Scan(append(p.Lead, dest...)...) }

// Qualify prefixes each of the comma-separated columns with alias and a dot.
func Qualify(cols, alias string) string {
	list := strings.Split(cols, ",")
	for i, c := range list {
		list[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(list, ", ")
}
