package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad/seal"
	"github.com/mfad/mfad/sqlite"
	"github.com/mfad/mfad/totp"
)

// keyRing reads the key file and the database's key id.
func keyRing(t *testing.T, path string) []seal.Key {
	t.Helper()
	keys, err := seal.LoadKeyRing(path)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// secretsOpenWith reports how many stored secrets do not open with box.
func secretsOpenWith(t *testing.T, db string, box *seal.Box) (n, bad int) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	secrets, err := store.SealedSecrets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets {
		if _, err := box.Open(sec.Seal, []byte(sec.UserID)); err != nil {
			bad++
		}
	}
	return len(secrets), bad
}

// mfad rotate-key re-seals every TOTP secret under a new key while the
// server runs, and logins go on working throughout.
func TestRotateKeyWithoutDowntime(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "mfad.db")
	keyFile := db + ".key"
	s := startServer(t, nil, serveArgs(db, adminArgs()...)...)
	admin, _ := s.login(t, adminEmail, adminPassword, 200)

	// The admin enrolls 2FA; another user has a pending secret.
	var g struct {
		Secret string `json:"secret"`
	}
	s.do(t, "GET", "/api/1.0/profile/2fa/generate", nil, withToken(admin)).decode(t, &g)
	code, _ := totp.CodeAt(g.Secret, totp.StepAt(time.Now()))
	s.do(t, "POST", "/api/1.0/profile/set-mfa", map[string]string{"auth_type": "2FA", "code": code}, withToken(admin)).want(t, 200, "enroll")
	s.do(t, "POST", "/api/1.0/user/create", map[string]string{"name": "P", "email": "p@example.com", "password": "p-password"}, withToken(admin)).want(t, 200, "create")
	pending, _ := s.login(t, "p@example.com", "p-password", 200)
	s.do(t, "GET", "/api/1.0/profile/2fa/generate", nil, withToken(pending)).want(t, 200, "pending secret")
	oldKey := keyRing(t, keyFile)[0]

	// Wrong use first: --stage with --drop-old; --drop-old before a rotation
	// has nothing to drop but succeeds only when all secrets open.
	_, _, err := runQuick(t, nil, "rotate-key", "--db", db, "--stage", "--drop-old")
	wantUsageError(t, err, "--stage with --drop-old")

	out, _, err := runQuick(t, nil, "rotate-key", "--db", db)
	if err != nil {
		t.Fatalf("rotate-key: %v", err)
	}
	if !strings.Contains(out, "2 secrets re-sealed") {
		t.Fatalf("rotate-key said %q", out)
	}
	keys := keyRing(t, keyFile)
	if len(keys) != 2 || keys[1] != oldKey || keys[0] == oldKey {
		t.Fatalf("key file after rotation: %d keys, old key second: %v", len(keys), keys[1] == oldKey)
	}
	wantFileMode(t, keyFile, 0o600)
	if n, bad := secretsOpenWith(t, db, seal.NewBox(keys[0])); n != 2 || bad != 0 {
		t.Fatalf("%d secrets, %d do not open with the new key alone", n, bad)
	}

	// The running server picks up the new key: the admin logs in with TOTP.
	lim, _ := s.login(t, adminEmail, adminPassword, 207)
	code, _ = totp.CodeAt(g.Secret, totp.StepAt(time.Now())+1) // the enrollment spent the current step
	s.do(t, "POST", "/api/1.0/session/login", map[string]string{"auth_type": "2FA", "code": code}, withToken(lim)).want(t, 200, "TOTP login after rotation")

	// The old keys go once nothing needs them; a restart on the new file works.
	out, _, err = runQuick(t, nil, "rotate-key", "--db", db, "--drop-old")
	if err != nil || !strings.Contains(out, "all 2 secrets open") {
		t.Fatalf("--drop-old: %q %v", out, err)
	}
	if keys := keyRing(t, keyFile); len(keys) != 1 {
		t.Fatalf("%d keys after --drop-old", len(keys))
	}
	s.mustStop(t)
	s = startServer(t, nil, serveArgs(db)...)
	s.login(t, adminEmail, adminPassword, 207)

	// The old key alone no longer belongs to the database.
	s.mustStop(t)
	if err := seal.WriteKeyRing(keyFile, []seal.Key{oldKey}); err != nil {
		t.Fatal(err)
	}
	_, err = launch(t, nil, serveArgs(db)...)
	wantErrContains(t, err, "does not belong")
	_, _, err = runQuick(t, nil, "rotate-key", "--db", db)
	wantErrContains(t, err, "does not belong")
}

// With several instances: stage the new key first, then rotate.
func TestRotateKeyStaged(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	keyFile := db + ".key"
	s := startServer(t, nil, serveArgs(db, adminArgs()...)...)
	admin, _ := s.login(t, adminEmail, adminPassword, 200)
	s.do(t, "GET", "/api/1.0/profile/2fa/generate", nil, withToken(admin)).want(t, 200, "pending secret")
	oldKey := keyRing(t, keyFile)[0]

	out, _, err := runQuick(t, nil, "rotate-key", "--db", db, "--stage")
	if err != nil || !strings.Contains(out, "staged new key") {
		t.Fatalf("--stage: %q %v", out, err)
	}
	keys := keyRing(t, keyFile)
	if len(keys) != 2 || keys[0] != oldKey {
		t.Fatal("--stage must keep the old key primary and add the new one second")
	}
	staged := keys[1]
	// Still serving with the old primary; a new secret is sealed under it.
	s.do(t, "GET", "/api/1.0/profile/2fa/generate", nil, withToken(admin)).want(t, 200, "pending secret after staging")

	if _, _, err := runQuick(t, nil, "rotate-key", "--db", db); err != nil {
		t.Fatal(err)
	}
	keys = keyRing(t, keyFile)
	if keys[0] != staged {
		t.Fatal("rotate-key did not promote the staged key")
	}
	if n, bad := secretsOpenWith(t, db, seal.NewBox(staged)); n != 1 || bad != 0 {
		t.Fatalf("%d secrets, %d not under the staged key", n, bad)
	}
	s.do(t, "GET", "/api/1.0/profile", nil, withToken(admin)).want(t, 200, "still serving")
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatal(err)
	}
}
