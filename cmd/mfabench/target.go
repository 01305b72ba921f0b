package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/httpapi"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/seal"
	"github.com/mfad/mfad/server"
)

// benchLimit replaces the lockout and per-address limits: the benchmark
// sends thousands of logins from one address and, at concurrency 64, many
// in-flight attempts per email (each is counted before it is evaluated).
const benchLimit = 1_000_000_000

// benchConfig is the service's configuration under the benchmark: the
// defaults of "mfad serve" with the lockout and address limits raised.
func benchConfig() auth.Config {
	cfg := auth.DefaultConfig()
	cfg.EmailThrottle.Limit = benchLimit
	cfg.AddrThrottle.Limit = benchLimit
	cfg.Now = time.Now
	return cfg
}

// openStore opens the store --db names, applying the migrations.
func openStore(ctx context.Context, db string) (mfad.Store, error) {
	return server.OpenStore(ctx, db, server.StoreOptions{})
}

// ---- in-process

// inProcess is mfad, assembled as "mfad serve" assembles it, served on a
// loopback listener inside the harness's own process.
type inProcess struct {
	svc  *auth.Service
	url  string
	stop context.CancelFunc
	done chan error
}

// startInProcess serves store; a nil hasher means mfad serve's default pool.
func startInProcess(store mfad.Store, box *seal.Box, hasher *passhash.Hasher, logw io.Writer) (*inProcess, error) {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := server.Open(context.Background(), server.Config{Store: store, Box: box, Hasher: hasher, Auth: benchConfig(), Log: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcess{svc: s.Service, url: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { p.done <- s.Serve(ctx, ln) }()
	return p, nil
}

// Close stops serving (running requests finish first). The store stays
// open: the harness closes it.
func (p *inProcess) Close() {
	p.stop()
	<-p.done
}

// ---- a separate mfad process

// moduleRoot finds the directory of mfad's go.mod above the working
// directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/mfad/mfad\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("--spawn: run from the mfad repository (no go.mod of github.com/mfad/mfad above the working directory), or give --mfad")
		}
		dir = parent
	}
}

// buildMfad builds cmd/mfad into dir.
func buildMfad(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "mfad")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/mfad")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/mfad: %v\n%s", err, out)
	}
	return bin, nil
}

// spawned is a running "mfad serve" process.
type spawned struct {
	cmd     *exec.Cmd
	url     string
	logPath string
	done    chan error
}

// startSpawned starts bin on db with the key file and the benchmark's
// limits, and waits until it listens.
func startSpawned(ctx context.Context, bin, db, keyFile, logPath string) (*spawned, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--db", db, "--key-file", keyFile,
		"--lockout-attempts", fmt.Sprint(benchLimit), "--addr-limit", fmt.Sprint(benchLimit), "--log-level", "info")
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "MFAD_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &spawned{cmd: cmd, logPath: logPath, done: make(chan error, 1)}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "mfad listening on "); ok {
				urlc <- strings.TrimSpace(u)
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case s.url = <-urlc:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("mfad exited before listening (%v): %s", err, logTail(logPath))
	case <-time.After(2 * time.Minute):
	case <-ctx.Done():
	}
	cmd.Process.Kill()
	<-s.done
	return nil, fmt.Errorf("mfad did not start listening: %s", logTail(logPath))
}

func (s *spawned) pid() int { return s.cmd.Process.Pid }

// Stop ends the process with SIGTERM (SIGKILL after 15 s).
func (s *spawned) Stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("mfad did not stop on SIGTERM; killed")
	}
}

func logTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// ---- the baseline

// startBaseline serves a bare handler answering a small JSON body, the
// yardstick every figure is divided by.
func startBaseline() (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := baselineServer()
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String() + "/", nil
}

func baselineServer() *http.Server {
	body := []byte(`{"ok":true}` + "\n")
	return &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}), ReadHeaderTimeout: httpapi.ReadHeaderTimeout, IdleTimeout: httpapi.IdleTimeout}
}

// BaselineEnv, set to 1, makes this program the baseline process: it
// serves the bare handler on a loopback port, prints the port's address on
// standard output, and exits when its standard input closes.
const BaselineEnv = "MFABENCH_BASELINE"

// serveBaselineProcess is main in the baseline process.
func serveBaselineProcess() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mfabench baseline:", err)
		return 1
	}
	go baselineServer().Serve(ln)
	fmt.Println(ln.Addr().String())
	io.Copy(io.Discard, os.Stdin) // until the harness goes
	return 0
}

// startBaselineProcess starts this program again as the baseline process.
func startBaselineProcess() (stop func(), url string, pid int, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", 0, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), BaselineEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", 0, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", 0, fmt.Errorf("start the baseline process: %w", err)
	}
	stop = func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return nil, "", 0, fmt.Errorf("the baseline process gave no address: %w", err)
	}
	return stop, "http://" + strings.TrimSpace(line) + "/", cmd.Process.Pid, nil
}
