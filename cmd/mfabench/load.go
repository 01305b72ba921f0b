package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// errDry stops a measurement window early: the scenario has no more
// requests it can send (the second-factor pool ran out of usable users).
var errDry = errors.New("pool ran dry")

// call is one request a scenario wants sent, and what it expects back.
type call struct {
	tag  int           // which of the scenario's series the latency goes to
	req  *http.Request // built before the clock starts
	want int           // the status that counts as a success
	// done, if set, is told the outcome after the response is read (outside
	// the timed part).
	done func(ok bool)
}

// nextFunc builds the next call of worker w; errDry ends the window.
type nextFunc func(ctx context.Context, w int) (*call, error)

// series is what one tag of a window measured.
type series struct {
	lat      []time.Duration
	errors   int
	errTexts map[string]int
}

func (s *series) addErr(text string) {
	s.errors++
	if s.errTexts == nil {
		s.errTexts = map[string]int{}
	}
	if _, ok := s.errTexts[text]; ok || len(s.errTexts) < 5 {
		s.errTexts[text]++
	}
}

// windowResult is a window's measurements, one series per tag.
type windowResult struct {
	series  []*series
	elapsed time.Duration // from the start until the last response
	dry     bool
}

// newClient returns the HTTP client every scenario and the baseline use:
// keep-alive connections, enough idle ones for every worker, no compression.
func newClient(maxConc int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * (maxConc + 8),
		MaxIdleConnsPerHost: maxConc + 8,
		IdleConnTimeout:     50 * time.Second, // below the server's 60 s IdleTimeout
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// drive runs conc workers sending next's calls for dur. A call started
// before the deadline is waited for and counted, so the rate is requests
// over the time until the last response.
func drive(ctx context.Context, client *http.Client, conc int, dur time.Duration, tags int, next nextFunc) windowResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	perWorker := make([][]*series, conc)
	var dryOnce sync.Once
	dry := false
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for w := 0; w < conc; w++ {
		ss := make([]*series, tags)
		for i := range ss {
			ss[i] = &series{lat: make([]time.Duration, 0, 1024)}
		}
		perWorker[w] = ss
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			// Worker 0 goes on past the deadline until each series has a
			// sample, so that a window shorter than one call still
			// measures every call of the scenario.
			for ctx.Err() == nil && (time.Now().Before(deadline) || w == 0 && anyEmpty(ss)) {
				c, err := next(ctx, w)
				if errors.Is(err, errDry) {
					dryOnce.Do(func() { dry = true; cancel() })
					return
				}
				if err != nil {
					ss[0].addErr("client: " + err.Error())
					continue
				}
				t0 := time.Now()
				res, err := client.Do(c.req)
				var body []byte
				if err == nil {
					body, err = readAll(res.Body, buf)
					res.Body.Close()
				}
				lat := time.Since(t0)
				s := ss[c.tag]
				ok := err == nil && res.StatusCode == c.want
				switch {
				case err != nil:
					if ctx.Err() != nil { // cancelled: the pool ran dry elsewhere
						if c.done != nil {
							c.done(false)
						}
						return
					}
					s.addErr("transport: " + shorten(err.Error()))
				case !ok:
					s.addErr(fmt.Sprintf("status %d: %s", res.StatusCode, shorten(strings.TrimSpace(string(body)))))
				}
				s.lat = append(s.lat, lat)
				if c.done != nil {
					c.done(ok)
				}
			}
		}()
	}
	wg.Wait()
	out := windowResult{elapsed: time.Since(start), dry: dry}
	for t := 0; t < tags; t++ {
		m := &series{}
		for w := 0; w < conc; w++ {
			s := perWorker[w][t]
			m.lat = append(m.lat, s.lat...)
			m.errors += s.errors
			for k, v := range s.errTexts {
				if m.errTexts == nil {
					m.errTexts = map[string]int{}
				}
				m.errTexts[k] += v
			}
		}
		slices.Sort(m.lat)
		out.series = append(out.series, m)
	}
	return out
}

func anyEmpty(ss []*series) bool {
	for _, s := range ss {
		if len(s.lat) == 0 && s.errors == 0 {
			return true
		}
	}
	return false
}

// readAll reads a response body through buf, keeping at most its first
// 512 bytes (for error messages).
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	var head []byte
	for {
		n, err := r.Read(buf)
		if len(head) < 512 {
			head = append(head, buf[:min(n, 512-len(head))]...)
		}
		if err == io.EOF {
			return head, nil
		}
		if err != nil {
			return head, err
		}
	}
}

func shorten(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted latencies,
// nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// errSummary lists a series' distinct errors, most frequent first.
func errSummary(m map[string]int) []string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || (l[i].v == l[j].v && l[i].k < l[j].k) })
	var out []string
	for _, e := range l {
		out = append(out, fmt.Sprintf("%d× %s", e.v, e.k))
	}
	return out
}
