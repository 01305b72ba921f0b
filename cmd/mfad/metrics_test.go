package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// --metrics-listen serves /metrics (and pprof with --pprof) on its own
// address, which the second stdout line names; --pprof alone is refused.
func TestMetricsListen(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	_, err := launch(t, nil, serveArgs(db, "--pprof")...)
	wantUsageError(t, err, "--pprof without --metrics-listen")

	cmd := exec.Command(binary(t), append(serveArgs(db, adminArgs()...), "--metrics-listen", "127.0.0.1:0", "--pprof")...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan []string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		a, _ := br.ReadString('\n')
		b, _ := br.ReadString('\n')
		lines <- []string{a, b}
	}()
	var got []string
	select {
	case got = <-lines:
	case <-time.After(startTimeout):
		t.Fatal("mfad did not start")
	}
	api := strings.TrimSpace(strings.TrimPrefix(got[0], "mfad listening on "))
	metricsURL := strings.TrimSpace(strings.TrimPrefix(got[1], "mfad metrics on "))
	if !strings.HasPrefix(metricsURL, "http://127.0.0.1:") || !strings.HasSuffix(metricsURL, "/metrics") {
		t.Fatalf("second line %q does not name the metrics address", got[1])
	}
	s := &instance{url: api, client: &http.Client{Timeout: 10 * time.Second}}
	s.login(t, adminEmail, adminPassword, 200)
	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, body := get(metricsURL)
	if status != 200 || !strings.Contains(body, `mfad_login_steps_total{result="success",step="password"} 1`) {
		t.Fatalf("/metrics: %d, login counter missing", status)
	}
	if status, _ := get(strings.TrimSuffix(metricsURL, "/metrics") + "/debug/pprof/cmdline"); status != 200 {
		t.Fatalf("pprof: %d", status)
	}
	// Neither is on the public port.
	if status, _ := get(api + "/metrics"); status != 404 {
		t.Fatalf("/metrics on the public port: %d", status)
	}
	if status, _ := get(api + "/debug/pprof/"); status != 404 {
		t.Fatalf("pprof on the public port: %d", status)
	}
}
