package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mfad/mfad/internal/testserver"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binary builds the real mfad binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "mfad-bin-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, "mfad"), ".").CombinedOutput()
		if err != nil {
			buildErr = err
			buildDir = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildDir)
	}
	return filepath.Join(buildDir, "mfad")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" && buildErr == nil {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// proc is the built binary running "mfad serve" in its own process.
type proc struct {
	*instance
	cmd    *exec.Cmd
	stderr *testserver.Logs
}

// startProc starts the binary and waits until it listens.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stderr := &testserver.Logs{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: stderr}
	t.Cleanup(func() { p.kill() })
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		url := strings.TrimSpace(strings.TrimPrefix(line, "mfad listening on "))
		if !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Fatalf("mfad did not start (%q); stderr:\n%s", line, stderr)
		}
		p.instance = &instance{url: url, client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{}}}
	case <-time.After(startTimeout):
		t.Fatalf("mfad did not start within %v; stderr:\n%s", startTimeout, stderr)
	}
	return p
}

// alive reports whether the process still runs.
func (p *proc) alive() bool {
	return p.cmd.ProcessState == nil && p.cmd.Process.Signal(syscall.Signal(0)) == nil
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}
