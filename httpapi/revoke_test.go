package httpapi_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfad/mfad/internal/pgtest"
	"github.com/mfad/mfad/internal/testserver"
)

// Revoked, then used on the next request: while 8 clients keep using a
// session (GET /auth/verify, as a proxy would, and GET /profile), a change
// made through the API revokes it; no request sent after the change was
// acknowledged may succeed. On SQLite the server answers from its session
// cache, which its own writes must empty before they are acknowledged.
func TestRevokedOnTheNextRequest(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			var opts testserver.Options
			if name == "postgres" {
				opts.DatabaseURL = pgtest.NewDatabase(t)
			}
			e := newEnvWith(t, opts)
			n := 0
			for _, c := range []struct {
				what   string
				revoke func(uid, tok string) resp
				want   int // what a request after the change gets
				path   string
			}{
				{"logout", func(uid, tok string) resp { return e.get("/session/logout", tok) }, 401, "/auth/verify"},
				{"disable", func(uid, tok string) resp {
					return e.post("/user/edit", e.adminAToken, map[string]any{"ids": []string{uid}, "status": "D"})
				}, 401, "/auth/verify"},
				{"2FA reset by an admin", func(uid, tok string) resp {
					return e.post("/user/reset-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"})
				}, 401, "/profile"},
				{"2FA forced", func(uid, tok string) resp {
					return e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"})
				}, 401, "/auth/verify"},
				{"password change in another session", func(uid, tok string) resp {
					other := e.fullLogin(e.user(e.adminAToken, uid).Email, "revoked-phrase-1")
					return e.post("/profile/set-password", other, map[string]string{"password": b64("revoked-phrase-1"), "new_password": b64("revoked-phrase-2")})
				}, 401, "/auth/verify"},
				{"demotion", func(uid, tok string) resp {
					return e.post("/user/edit", e.adminAToken, map[string]any{"ids": []string{uid}, "super_admin": "N"})
				}, 403, "/user"},
				{"delete", func(uid, tok string) resp {
					return e.post("/user/delete", e.adminAToken, map[string]any{"ids": []string{uid}})
				}, 401, "/profile"},
			} {
				n++
				email := "rev" + string(rune('a'+n)) + "@example.com"
				uid := e.createUser(e.adminAToken, email, "revoked-phrase-1", true)
				tok := e.fullLogin(email, "revoked-phrase-1")
				var revokedAt atomic.Int64 // unix nanos once the change is acknowledged; 0 before
				var bad, after atomic.Int64
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						client := &http.Client{Timeout: 10 * time.Second}
						for {
							select {
							case <-stop:
								return
							default:
							}
							sent := time.Now().UnixNano()
							req, _ := http.NewRequest("GET", e.srv.URL+"/api/1.0"+c.path, nil)
							req.Header.Set("X-Auth-Token", tok)
							res, err := client.Do(req)
							if err != nil {
								continue
							}
							res.Body.Close()
							if r := revokedAt.Load(); r != 0 && sent > r {
								after.Add(1)
								if res.StatusCode != c.want {
									bad.Add(1)
								}
							}
						}
					})
				}
				time.Sleep(50 * time.Millisecond) // the session is in use (and cached)
				r := c.revoke(uid, tok)
				revokedAt.Store(time.Now().UnixNano())
				e.wantStatus(r, 200)
				time.Sleep(100 * time.Millisecond)
				close(stop)
				wg.Wait()
				if after.Load() == 0 {
					t.Fatalf("%s: no request was sent after the change", c.what)
				}
				if bad.Load() != 0 {
					t.Fatalf("%s: %d of %d requests sent after the change was acknowledged were not refused (%d)", c.what, bad.Load(), after.Load(), c.want)
				}
			}
		})
	}
}
