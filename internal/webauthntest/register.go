package webauthntest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Register registers a new authenticator's passkey named name for the
// holder of the full session token, through the API at api (the server's
// URL and /api/1.0), as a browser on the page at origin would: the
// registration options, the authenticator's answer, and the registration.
// It returns the authenticator and the passkey's id, and fails t on any
// other answer than 200.
func Register(t testing.TB, api, origin, rpID, token, name string) (*Authenticator, string) {
	t.Helper()
	post := func(path string, body any) []byte {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest("POST", api+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Auth-Token", token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
		}
		return b
	}
	a := New(origin, rpID)
	cred, err := a.Create(post("/profile/passkeys/options", nil))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		ID string `json:"id"`
	}
	if b := post("/profile/passkeys", map[string]any{"name": name, "credential": json.RawMessage(cred)}); json.Unmarshal(b, &p) != nil || p.ID == "" {
		t.Fatalf("register the passkey %q: %s", name, b)
	}
	return a, p.ID
}
