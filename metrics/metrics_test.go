package metrics_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad/internal/testserver"
)

// scrape reads /metrics and returns each sample line's value by its name
// and labels as written, e.g. `mfad_login_steps_total{result="failure",step="password"}`.
func scrape(t *testing.T, srv *testserver.Server) map[string]float64 {
	t.Helper()
	ts := httptest.NewServer(srv.Metrics.Handler(false))
	defer ts.Close()
	res, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func do(t *testing.T, method, url, token, body string, basic ...string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, _ := http.NewRequest(method, url, rd)
	if token != "" {
		r.Header.Set("X-Auth-Token", token)
	}
	if len(basic) == 2 {
		r.SetBasicAuth(basic[0], basic[1])
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// After a login flow, the counters moved as they should.
func TestMetricsAfterALoginFlow(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	api := srv.URL + "/api/1.0"
	before := scrape(t, srv)

	do(t, "GET", api+"/session/login", "", "", testserver.AdminEmail, "wrong")
	r, _ := http.NewRequest("GET", api+"/session/login", nil)
	r.SetBasicAuth(testserver.AdminEmail, testserver.AdminPassword)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		SessionID string `json:"session_id"`
	}
	json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	// The admin turns on a PIN, then logs in through the PIN step with a
	// wrong PIN first.
	do(t, "POST", api+"/profile/set-mfa", login.SessionID, `{"auth_type":"PIN","code":"2468"}`)
	r, _ = http.NewRequest("GET", api+"/session/login", nil)
	r.SetBasicAuth(testserver.AdminEmail, testserver.AdminPassword)
	res, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	do(t, "POST", api+"/session/login", login.SessionID, `{"auth_type":"PIN","code":"1111"}`)
	do(t, "POST", api+"/session/login", login.SessionID, `{"auth_type":"PIN","code":"2468"}`)
	for i := 0; i < 5; i++ {
		do(t, "GET", api+"/session/login", "", "", "locked@example.com", "wrong")
	}
	do(t, "GET", api+"/session/login", "", "", "locked@example.com", "wrong")
	srv.Clock.Advance(time.Second)

	after := scrape(t, srv)
	delta := func(name string) float64 { return after[name] - before[name] }
	for name, want := range map[string]float64{
		`mfad_login_steps_total{result="failure",step="password"}`:                                 6,
		`mfad_login_steps_total{result="success",step="password"}`:                                 2,
		`mfad_login_steps_total{result="failure",step="PIN"}`:                                      1,
		`mfad_login_steps_total{result="success",step="PIN"}`:                                      1,
		`mfad_login_steps_total{result="locked",step="password"}`:                                  1,
		`mfad_lockout_refusals_total`:                                                              1,
		`mfad_audit_events_total{event="factor.set",outcome="success"}`:                            1,
		`mfad_http_requests_total{method="GET",route="/api/1.0/session/login",status="401"}`:       6,
		`mfad_http_requests_total{method="POST",route="/api/1.0/session/login",status="200"}`:      1,
		`mfad_http_requests_total{method="GET",route="/api/1.0/session/login",status="429"}`:       1,
		`mfad_http_request_duration_seconds_count{method="POST",route="/api/1.0/profile/set-mfa"}`: 1,
	} {
		if got := delta(name); got != want {
			t.Errorf("%s moved by %v, want %v", name, got, want)
		}
	}
	if after[`mfad_sessions_active{kind="full"}`] < 2 {
		t.Errorf("live full sessions: %v", after[`mfad_sessions_active{kind="full"}`])
	}
	if after[`mfad_hash_wait_seconds_count`]-before[`mfad_hash_wait_seconds_count`] < 9 {
		t.Errorf("hash waits observed: %v", after[`mfad_hash_wait_seconds_count`])
	}
	if _, ok := after[`mfad_hash_queue_depth`]; !ok {
		t.Error("no hash queue depth")
	}
	if _, ok := after[`go_sql_open_connections{db_name="sqlite_writer"}`]; !ok {
		t.Error("no database pool statistics")
	}
}

// Events that are not requests map to their own counters.
func TestEventCounters(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	before := scrape(t, srv)
	srv.Metrics.Event("totp.replay", "2FA", "failure")
	srv.Metrics.Event("login.factor.fail", "enrollment", "failure")
	after := scrape(t, srv)
	for name, want := range map[string]float64{
		`mfad_totp_replays_total`:                                        1,
		`mfad_login_steps_total{result="failure",step="enrollment"}`:     1,
		`mfad_audit_events_total{event="totp.replay",outcome="failure"}`: 1,
	} {
		if got := after[name] - before[name]; got != want {
			t.Errorf("%s moved by %v, want %v", name, got, want)
		}
	}
}

// The table of metrics in docs/operations.md lists exactly the mfad_*
// metrics the server exports (each seen once the server has served a login).
func TestMetricsTableInDocs(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	res, err := http.Get(srv.URL + "/api/1.0/session/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	q, _ := http.NewRequest("GET", srv.URL+"/api/1.0/session/login", nil)
	q.SetBasicAuth(testserver.AdminEmail, "wrong password")
	if res, err := http.DefaultClient.Do(q); err == nil {
		res.Body.Close()
	}
	// Events the requests above did not make (counters appear once used).
	srv.Metrics.Event("login.locked", "password", "failure")
	srv.Metrics.Event("totp.replay", "2FA", "failure")
	exported := map[string]bool{}
	for name := range scrape(t, srv) {
		name, _, _ = strings.Cut(name, "{")
		name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(name, "mfad_") {
			exported[name] = true
		}
	}
	data, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^ *\\| (`mfad_[^|]*) \\|").FindAllStringSubmatch(string(data), -1) {
		for _, n := range regexp.MustCompile("`(mfad_[a-z_]+)").FindAllStringSubmatch(m[1], -1) {
			documented[n[1]] = true
		}
	}
	for n := range exported {
		if !documented[n] {
			t.Errorf("metric %s is exported but not in docs/operations.md", n)
		}
	}
	for n := range documented {
		if !exported[n] {
			t.Errorf("docs/operations.md lists %s, which the server does not export", n)
		}
	}
	if len(documented) < 8 {
		t.Fatalf("only %d metrics documented: %v", len(documented), documented)
	}
}
