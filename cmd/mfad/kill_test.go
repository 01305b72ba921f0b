package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mfad/mfad/sqlite"
)

// TestSIGKILLLosesNoAcknowledgedWrite builds the real binary, kills it with
// SIGKILL in the middle of a burst of writes, restarts it on the same
// database, and checks that every write that got a 200 is there and that the
// database passes its integrity check.
func TestSIGKILLLosesNoAcknowledgedWrite(t *testing.T) {
	// Both SQLite settings keep commits across a killed process; "full"
	// also across a power failure, which no test here can cause.
	for _, mode := range []string{"full", "normal"} {
		t.Run(mode, func(t *testing.T) { sigkillDuringWrites(t, mode) })
	}
}

func sigkillDuringWrites(t *testing.T, mode string) {
	dir := t.TempDir()
	db := filepath.Join(dir, "mfad.db")
	p := startProc(t, serveArgs(db, append(adminArgs(), "--sqlite-sync", mode)...)...)
	srv, url, cmd := p.instance, p.url, p.cmd
	admin, _ := srv.login(t, adminEmail, adminPassword, 200)

	// Writers create users until the process dies.
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				email := fmt.Sprintf("w%d-%d@example.com", w, i)
				body := strings.NewReader(fmt.Sprintf(`{"name":"w","email":%q,"password":"password-%d"}`, email, i))
				req, _ := http.NewRequestWithContext(ctx, "POST", url+"/api/1.0/user/create", body)
				req.Header.Set("X-Auth-Token", admin)
				req.Header.Set("Content-Type", "application/json")
				res, err := srv.client.Do(req)
				if err != nil {
					return // the server is gone
				}
				res.Body.Close()
				if res.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, email)
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once a fair number of writes went through.
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 40 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()
	if len(acked) < 40 {
		t.Fatalf("only %d writes acknowledged before the deadline", len(acked))
	}

	// Restart on the same database: every acknowledged user is there.
	s := startServer(t, nil, serveArgs(db, "--sqlite-sync", mode)...)
	admin, _ = s.login(t, adminEmail, adminPassword, 200)
	var users []struct {
		Email string `json:"email"`
	}
	s.do(t, "GET", "/api/1.0/user", nil, withToken(admin)).decode(t, &users)
	have := map[string]bool{}
	for _, u := range users {
		have[u.Email] = true
	}
	for _, email := range acked {
		if !have[email] {
			t.Fatalf("acknowledged user %s lost after SIGKILL (%d acknowledged, %d present)", email, len(acked), len(users))
		}
	}
	s.mustStop(t)
	store, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if res, err := store.IntegrityCheck(context.Background()); err != nil || res != "ok" {
		t.Fatalf("integrity check: %q %v", res, err)
	}
	t.Logf("%d acknowledged writes before SIGKILL, %d users after restart", len(acked), len(users))
}
