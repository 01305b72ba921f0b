//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad/internal/testserver"
)

// On a terminal, recovery-codes asks before it voids the codes left: the
// answer is typed (with echo) after the question shows.
func TestRecoveryCodesConfirmOnTerminal(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newCLI(t, srv.URL)
	c.login(t, testserver.AdminEmail, testserver.AdminPassword)
	enroll(t, srv, c)
	first := printedCodes(t, c.ok(t, "", "recovery-codes"))

	for _, tc := range []struct {
		answer string
		code   int
	}{{"no", 1}, {"yes", 0}} {
		master, tty := openPTY(t)
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		cmd := exec.CommandContext(ctx, bin, "recovery-codes")
		cmd.Env = c.env()
		var stdout bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &stdout, tty
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		screen := &testserver.Logs{}
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			b := make([]byte, 1024)
			for {
				n, err := master.Read(b)
				screen.Write(b[:n])
				if err != nil {
					return
				}
			}
		}()
		deadline := time.Now().Add(cmdTimeout)
		for !strings.Contains(screen.String(), "You have 10 recovery codes left; new codes replace them, and they stop working. Make new codes? [y/N] ") {
			if time.Now().After(deadline) {
				t.Fatalf("no question on the terminal; screen:\n%s", screen)
			}
			time.Sleep(10 * time.Millisecond)
		}
		master.Write([]byte(tc.answer + "\n"))
		err := cmd.Wait()
		tty.Close()
		<-copied
		master.Close()
		cancel()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code {
			t.Fatalf("answer %q: exit %d, want %d\nstdout:\n%s\nscreen:\n%s", tc.answer, code, tc.code, stdout.String(), screen)
		}
		if tc.code == 0 {
			fresh := printedCodes(t, result{stdout: stdout.String()})
			if fresh[0] == first[0] {
				t.Errorf("the same codes again")
			}
		} else if stdout.Len() != 0 || !strings.Contains(screen.String(), "nothing was changed") {
			t.Errorf("answer %q: stdout %q, screen:\n%s", tc.answer, stdout.String(), screen)
		}
	}
}
