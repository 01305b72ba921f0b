// Package metrics exposes mfad's telemetry in the Prometheus format
// (github.com/prometheus/client_golang): requests by route and status, login
// outcomes by step, lockouts, replays, live sessions, the hashing pool and
// the database pools. It serves /metrics (and, on request, pprof) on its own
// address, off the public port.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/passhash"
)

// Metrics holds the collectors of one server.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	events   *prometheus.CounterVec
	logins   *prometheus.CounterVec
	lockouts prometheus.Counter
	replays  prometheus.Counter
	hashWait prometheus.Histogram
}

// Pools is what a store with database/sql pools offers (both stores do).
type Pools interface {
	Pools() map[string]*sql.DB
}

// New registers the collectors. store feeds the live-session gauge (live at
// now(); nil means time.Now) and, when it has pools, their statistics;
// hasher feeds the queue depth and wait time.
func New(store mfad.Store, hasher *passhash.Hasher, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mfad_http_requests_total", Help: "HTTP requests by route and status.",
	}, []string{"route", "method", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "mfad_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mfad_audit_events_total", Help: "Security events by name and outcome (the audit trail).",
	}, []string{"event", "outcome"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mfad_login_steps_total", Help: "Login steps by step (password, 2FA, PIN, enrollment) and result (success, failure, locked).",
	}, []string{"step", "result"})
	m.lockouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mfad_lockout_refusals_total", Help: "Attempts refused because the email was locked out.",
	})
	m.replays = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mfad_totp_replays_total", Help: "TOTP codes refused because their time step was already used.",
	})
	m.hashWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "mfad_hash_wait_seconds", Help: "Time an argon2id hash waited for a slot in the pool.",
		Buckets: []float64{0, .001, .005, .01, .05, .1, .5, 1, 5, 10},
	})
	m.reg.MustRegister(m.requests, m.latency, m.events, m.logins, m.lockouts, m.replays, m.hashWait,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if hasher != nil {
		hasher.OnWait(func(d time.Duration) { m.hashWait.Observe(d.Seconds()) })
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mfad_hash_queue_depth", Help: "Password and PIN hashes waiting for a slot in the pool.",
		}, func() float64 { return float64(hasher.Waiting()) }))
	}
	if store != nil {
		m.reg.MustRegister(&sessionCollector{store: store, now: now})
		if p, ok := store.(Pools); ok {
			for name, db := range p.Pools() {
				m.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
			}
		}
	}
	return m
}

// Event counts an audit event (it implements auth.Observer).
func (m *Metrics) Event(name, step, outcome string) {
	m.events.WithLabelValues(name, outcome).Inc()
	switch name {
	case mfad.EventLocked:
		m.lockouts.Inc()
		m.logins.WithLabelValues(step, "locked").Inc()
	case mfad.EventTOTPReplay:
		m.replays.Inc()
	case mfad.EventPasswordOK, mfad.EventPasswordFail, mfad.EventFactorOK, mfad.EventFactorFail, mfad.EventLoginOK:
		// Each step answers with exactly one of these: login.ok when it is
		// the last step, the .ok variant when another factor is owed.
		m.logins.WithLabelValues(step, outcome).Inc()
	}
}

// Request counts an HTTP request (route is the registered pattern).
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// Handler serves /metrics and, with withPprof, /debug/pprof/.
func (m *Metrics) Handler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// sessionCollector counts live sessions at scrape time.
type sessionCollector struct {
	store mfad.Store
	now   func() time.Time
}

var sessionsDesc = prometheus.NewDesc("mfad_sessions_active", "Live (unexpired) sessions by kind.", []string{"kind"}, nil)

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc }

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	full, limited, err := c.store.CountSessions(ctx, c.now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(sessionsDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(full), "full")
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(limited), "limited")
}
