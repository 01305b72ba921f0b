package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/mfad/mfad/internal/pgtest"
	"github.com/mfad/mfad/totp"
)

// cluster is three mfad processes on one PostgreSQL database, sharing a key
// file, as behind a load balancer.
type cluster struct {
	url   string // the database
	nodes []*proc
}

func startCluster(t *testing.T, more ...string) *cluster {
	t.Helper()
	db := pgtest.NewDatabase(t)
	key := filepath.Join(t.TempDir(), "mfad.key")
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString(k)), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(serveArgs(db, "--key-file", key), adminArgs()...)
	args = append(args, more...)
	c := &cluster{url: db, nodes: make([]*proc, 3)}
	// All three start at once on the empty database: one migration, one
	// first account.
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.nodes[i] = startProc(t, args...)
		}()
	}
	wg.Wait()
	for i, n := range c.nodes {
		if n == nil {
			t.Fatalf("node %d did not start", i)
		}
	}
	return c
}

func (c *cluster) node(i int) *proc { return c.nodes[i%len(c.nodes)] }

// enroll turns 2FA on for the holder of tok through node 0 and returns the
// secret; the current step is spent.
func enrollOn(t *testing.T, s *instance, tok string) string {
	t.Helper()
	var g struct {
		Secret string `json:"secret"`
	}
	s.do(t, "GET", "/api/1.0/profile/2fa/generate", nil, withToken(tok)).decode(t, &g)
	code, _ := totp.CodeAt(g.Secret, totp.StepAt(time.Now()))
	s.do(t, "POST", "/api/1.0/profile/set-mfa", map[string]string{"auth_type": "2FA", "code": code}, withToken(tok)).want(t, 200, "set-mfa 2FA")
	return g.Secret
}

func TestClusterOnPostgres(t *testing.T) {
	pgtest.Server(t)
	c := startCluster(t, "--lockout-attempts", "40", "--addr-limit", "100000")
	a, b, d := c.node(0), c.node(1), c.node(2)

	// A session made on one instance is valid on all; logout on one is seen
	// by all at once.
	admin, _ := a.login(t, adminEmail, adminPassword, 200)
	for _, n := range c.nodes {
		n.do(t, "GET", "/api/1.0/profile", nil, withToken(admin)).want(t, 200, "profile on every node")
	}
	tmp, _ := b.login(t, adminEmail, adminPassword, 200)
	d.do(t, "GET", "/api/1.0/session/logout", nil, withToken(tmp)).want(t, 200, "logout")
	a.do(t, "GET", "/api/1.0/profile", nil, withToken(tmp)).want(t, 401, "closed session on another node")

	// Users for the tests below.
	var u struct {
		ID string `json:"id"`
	}
	a.do(t, "POST", "/api/1.0/user/create", map[string]string{"name": "T", "email": "totp@example.com", "password": "totp-password"}, withToken(admin)).decode(t, &u)
	totpUser := u.ID
	userTok, _ := b.login(t, "totp@example.com", "totp-password", 200)
	secret := enrollOn(t, b.instance, userTok)

	// One valid code sent concurrently through different instances: exactly
	// one succeeds.
	const n = 30
	lims := make([]string, n)
	for i := range lims {
		lims[i], _ = c.node(i).login(t, "totp@example.com", "totp-password", 207)
	}
	code, _ := totp.CodeAt(secret, totp.StepAt(time.Now())+1) // the enrollment spent the current step
	var wins, others atomic.Int32
	var wg sync.WaitGroup
	for i := range lims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.node(i).do(t, "POST", "/api/1.0/session/login", map[string]string{"auth_type": "2FA", "code": code}, withToken(lims[i]))
			switch r.status {
			case 200:
				wins.Add(1)
			case 401:
				others.Add(1)
			default:
				t.Errorf("unexpected %d %s; node log:\n%s", r.status, r.body, internalErrors(c.node(i).stderr.String()))
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d successes for one code across instances, want exactly 1", wins.Load())
	}

	// reset-mfa on one instance closes the user's sessions everywhere.
	userTok, _ = a.login(t, "totp@example.com", "totp-password", 207)
	a.do(t, "POST", "/api/1.0/user/reset-mfa", map[string]any{"ids": []string{totpUser}, "auth_type": "2FA"}, withToken(admin)).want(t, 200, "reset-mfa")
	d.do(t, "POST", "/api/1.0/session/login", map[string]string{"auth_type": "2FA", "code": "000000"}, withToken(userTok)).want(t, 401, "limited session after reset")
	c.node(1).login(t, "totp@example.com", "totp-password", 207) // enrollment owed

	// The lockout count is shared: 40 failures spread over the instances
	// lock the email on all of them.
	var statuses sync.Map
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.node(i).do(t, "GET", "/api/1.0/session/login", nil, withBasic("locked@example.com", fmt.Sprintf("wrong-%d", i)))
			v, _ := statuses.LoadOrStore(r.status, new(atomic.Int32))
			v.(*atomic.Int32).Add(1)
		}()
	}
	wg.Wait()
	if v, ok := statuses.Load(401); !ok || v.(*atomic.Int32).Load() != 40 {
		t.Fatalf("the 40 failures before the lock: %v", v)
	}
	for _, node := range c.nodes {
		node.do(t, "GET", "/api/1.0/session/login", nil, withBasic("locked@example.com", "x")).want(t, 429, "locked on every node")
	}

	// The admin bulk calls stay all-or-nothing under concurrent writers: set
	// and remove PIN on the same ten users from different instances; every
	// user ends in the same state.
	ids := make([]string, 10)
	for i := range ids {
		a.do(t, "POST", "/api/1.0/user/create", map[string]string{"name": "B", "email": fmt.Sprintf("bulk-%d@example.com", i), "password": "bulk-password"}, withToken(admin)).decode(t, &u)
		ids[i] = u.ID
	}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := c.node(i)
			var r resp
			if i%2 == 0 {
				r = node.do(t, "POST", "/api/1.0/user/set-mfa", map[string]any{"ids": ids, "auth_type": "PIN", "code": "2468"}, withToken(admin))
			} else {
				reversed := slices.Clone(ids)
				slices.Reverse(reversed)
				r = node.do(t, "POST", "/api/1.0/user/remove-mfa", map[string]any{"ids": reversed, "auth_type": "PIN"}, withToken(admin))
			}
			if r.status != 200 {
				t.Errorf("bulk call: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	var users []struct {
		Email       string   `json:"email"`
		AuthMethods []string `json:"auth_methods"`
	}
	b.do(t, "GET", "/api/1.0/user", nil, withToken(admin)).decode(t, &users)
	var first []string
	seen := false
	for _, user := range users {
		if len(user.Email) < 5 || user.Email[:5] != "bulk-" {
			continue
		}
		if !seen {
			first, seen = user.AuthMethods, true
		} else if !slices.Equal(first, user.AuthMethods) {
			t.Fatalf("bulk users ended in different states: %v vs %v", first, user.AuthMethods)
		}
	}
}

// With the database unreachable, requests fail cleanly with 503, /healthz
// says so, no instance crashes, and service resumes by itself afterwards;
// no acknowledged change is lost.
func TestClusterSurvivesDatabaseOutage(t *testing.T) {
	pgtest.Server(t)
	c := startCluster(t, "--db-timeout", "2s")
	admin, _ := c.node(0).login(t, adminEmail, adminPassword, 200)
	parsed, err := url.Parse(c.url)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(parsed.Path, "/")
	adminDB, err := sql.Open("pgx", os.Getenv(pgtest.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer adminDB.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := adminDB.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// A write load through all instances while the connections are killed
	// and the database refuses new ones for a while.
	var mu sync.Mutex
	acked := map[string]bool{}
	var sessions []string
	statuses := map[int]int{}
	var others []resp // answers other than 200 and 503
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var r resp
				if w%2 == 0 {
					// A write: a new user.
					email := fmt.Sprintf("load-%d-%d@example.com", w, i)
					r = c.node(w).do(t, "POST", "/api/1.0/user/create", map[string]string{"name": "L", "email": email, "password": "load-password"}, withToken(admin))
					if r.status == 200 {
						mu.Lock()
						acked[email] = true
						mu.Unlock()
					}
				} else {
					// A login: a new session.
					r = c.node(w).do(t, "GET", "/api/1.0/session/login", nil, withBasic(adminEmail, adminPassword))
					if r.status == 200 {
						var v struct {
							SessionID string `json:"session_id"`
						}
						r.decode(t, &v)
						mu.Lock()
						sessions = append(sessions, v.SessionID)
						mu.Unlock()
					}
				}
				mu.Lock()
				statuses[r.status]++
				if r.status != 200 && r.status != 503 {
					others = append(others, r)
				}
				mu.Unlock()
				if r.status != 200 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	exec("ALTER DATABASE " + dbName + " ALLOW_CONNECTIONS false")
	exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + dbName + "' AND pid <> pg_backend_pid()")
	time.Sleep(time.Second)
	for i, node := range c.nodes {
		r := node.do(t, "GET", "/healthz", nil)
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("node %d /healthz during the outage: %d %s", i, r.status, r.body)
		}
	}
	exec("ALTER DATABASE " + dbName + " ALLOW_CONNECTIONS true")
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	for i, node := range c.nodes {
		if !node.alive() {
			t.Fatalf("node %d died; stderr:\n%s", i, node.stderr)
		}
		node.do(t, "GET", "/healthz", nil).want(t, 200, fmt.Sprintf("node %d /healthz after the outage", i))
	}
	// 429 is clean too: a login caught by the outage stays reserved
	// against the email until the database is back and the reservation is
	// taken back, and concurrent logins of that email can meet the limit
	// meanwhile. It must come as an ErrorModel with Retry-After, and leave
	// no lockout behind (checked below).
	for _, r := range others {
		var e struct {
			Code *int `json:"code"`
		}
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || json.Unmarshal(r.body, &e) != nil || e.Code == nil {
			t.Fatalf("statuses during the outage: %v (200, 503 and 429 are clean); unclean answer %d %v %s; node 0 log:\n%s", statuses, r.status, r.header, r.body, c.node(0).stderr)
		}
	}
	t.Logf("statuses during the outage: %v", statuses)
	// The reservations of logins the outage failed are taken back: the
	// admin is not locked out. (Wrong-password logins stayed counted; this
	// load sent none.)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := c.node(2).do(t, "GET", "/api/1.0/session/login", nil, withBasic(adminEmail, adminPassword))
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin cannot sign in 5 s after the outage: %d %s", r.status, r.body)
		}
	}
	if statuses[503] == 0 || statuses[200] == 0 {
		t.Fatalf("statuses %v: the load did not see both the service and the outage", statuses)
	}
	// Every acknowledged user is there, read through another instance.
	var users []struct {
		Email string `json:"email"`
	}
	c.node(1).do(t, "GET", "/api/1.0/user", nil, withToken(admin)).decode(t, &users)
	have := map[string]bool{}
	for _, u := range users {
		have[u.Email] = true
	}
	for email := range acked {
		if !have[email] {
			t.Fatalf("acknowledged user %s lost", email)
		}
	}
	// Every session a login acknowledged works, on any instance.
	for i, tok := range sessions {
		c.node(i).do(t, "GET", "/api/1.0/session/keepalive", nil, withToken(tok)).want(t, 200, "an acknowledged session after the outage")
	}
	t.Logf("statuses during the outage: %v; %d acknowledged users and %d acknowledged sessions, all present", statuses, len(acked), len(sessions))
}

// internalErrors picks the internal error lines out of a node's log.
func internalErrors(log string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "internal error") || strings.Contains(line, "unavailable") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
