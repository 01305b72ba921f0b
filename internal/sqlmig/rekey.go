// Package sqlmig holds the Go migrations that the SQLite and PostgreSQL
// stores both run, in goose's numbering beside their SQL files.
package sqlmig

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/pressly/goose/v3"

	"github.com/mfad/mfad"
)

// The versions of the rekey migration: the first run of the identity
// rule, and a second run once the rule repeated its steps after NFC (a
// composed character can be upper case again; see mfad.EmailKey).
const (
	RekeyEmailsVersion = 3
	RekeyAgainVersion  = 7
)

// Migrations are the Go migrations both stores run; bind spells the n-th
// placeholder of the database (1-based): "?" or "$n".
func Migrations(bind func(n int) string) []*goose.Migration {
	return []*goose.Migration{RekeyEmails(RekeyEmailsVersion, bind), RekeyEmails(RekeyAgainVersion, bind)}
}

// RekeyEmails is the migration that recomputes every user's email_key under
// the identity rule of mfad.EmailKey. Keys used to be strings.ToLower of the
// email, which maps U+0130 onto "i" and the Kelvin sign onto "k"; under the
// new rule such emails get keys of their own, and an email stored in two
// Unicode spellings (composed and decomposed) gets one key.
//
// Two users whose emails become one identity stop the upgrade with an error
// that names both user ids: they are never merged. Nothing is changed then
// (the migration is one transaction), and the previous version still runs
// on the database until one of the two is changed or deleted.
//
// Lockout counters are keyed by email key too; they are left as they are
// and end on their own within the lockout window. It runs as version
// version, and changes nothing where every key already follows the rule.
func RekeyEmails(version int64, bind func(n int) string) *goose.Migration {
	return goose.NewGoMigration(version, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		return rekey(ctx, tx, bind)
	}}, nil)
}

type rekeyed struct{ id, key string }

func rekey(ctx context.Context, tx *sql.Tx, bind func(int) string) error {
	rows, err := tx.QueryContext(ctx, "SELECT id, email, email_key FROM users ORDER BY id")
	if err != nil {
		return err
	}
	owner := map[string]string{} // new key -> user id
	var changed []rekeyed
	for rows.Next() {
		var id, email, old string
		if err := rows.Scan(&id, &email, &old); err != nil {
			rows.Close()
			return err
		}
		key := mfad.EmailKey(email)
		if other, taken := owner[key]; taken {
			rows.Close()
			ids := []string{other, id}
			slices.Sort(ids)
			return fmt.Errorf("users %s and %s have emails that are one identity under the new email rule "+
				"(Unicode NFC and lower case; see the API reference on emails as identities); they are never merged: "+
				"change or delete one of them with the previous version of mfad, then upgrade again", ids[0], ids[1])
		}
		owner[key] = id
		if key != old {
			changed = append(changed, rekeyed{id, key})
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// Keys are unique: moving one onto a key that another row leaves in
	// the same pass would collide, so every changed row first takes a
	// placeholder no email can be (it holds a space), then its new key.
	update := "UPDATE users SET email_key = " + bind(1) + " WHERE id = " + bind(2)
	for _, r := range changed {
		if _, err := tx.ExecContext(ctx, update, "#rekey "+r.id, r.id); err != nil {
			return err
		}
	}
	for _, r := range changed {
		if _, err := tx.ExecContext(ctx, update, r.key, r.id); err != nil {
			return err
		}
	}
	return nil
}
