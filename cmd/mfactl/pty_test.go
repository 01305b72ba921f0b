//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mfad/mfad/internal/testserver"
)

// openPTY opens a pseudo-terminal pair: the master, which the test reads
// and writes as the person at the keyboard, and the terminal (slave) the
// binary gets as its standard input and error.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open the terminal: %v", err)
	}
	return m, s
}

// typed is what the person types once prompt shows with echo off.
type typed struct{ prompt, text string }

// termRun is a run of the binary on a terminal.
type termRun struct {
	stdout, screen string
	code           int
	echoAfter      bool // the terminal's echo once the binary exited
}

func (r termRun) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nscreen:\n%s", r.code, r.stdout, r.screen)
}

// onTerminal runs the binary with a terminal as its standard input and
// error, and types each answer once its prompt shows, further on the
// screen than the one before, and echo is off: term.ReadPassword turns it
// off right after printing the prompt, and back on before the next one.
func onTerminal(t *testing.T, c *cli, answers []typed, args ...string) termRun {
	t.Helper()
	master, tty := openPTY(t)
	defer master.Close()
	defer tty.Close()
	echo := func() bool {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatalf("terminal settings: %v", err)
		}
		return tio.Lflag&unix.ECHO != 0
	}
	if !echo() {
		t.Fatal("a new terminal has echo off: the test would prove nothing")
	}

	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = c.env()
	var stdout bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &stdout, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	screen := &testserver.Logs{} // what the terminal shows
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		b := make([]byte, 1024)
		for {
			n, err := master.Read(b)
			screen.Write(b[:n])
			if err != nil {
				return // EIO once no process holds the terminal
			}
		}
	}()

	from := 0 // the screen up to here has been answered
	deadline := time.Now().Add(cmdTimeout)
	for _, a := range answers {
		for {
			s := screen.String()[from:]
			if i := strings.Index(s, a.prompt); i >= 0 && !echo() {
				from += i + len(a.prompt)
				break
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("mfactl %s: no prompt %q with echo off; screen:\n%s", strings.Join(args, " "), a.prompt, screen)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := master.Write([]byte(a.text + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	err := cmd.Wait()
	r := termRun{echoAfter: echo()}
	tty.Close() // the binary has exited: the copy ends
	<-copied
	r.stdout, r.screen = stdout.String(), screen.String()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("mfactl %s: timed out\n%s", strings.Join(args, " "), r)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("mfactl %s: %v", strings.Join(args, " "), err)
	}
	if !r.echoAfter {
		t.Errorf("mfactl %s left the terminal with echo off", strings.Join(args, " "))
	}
	return r
}

// On a terminal, mfactl login reads the password with echo off: the
// password typed never appears on the screen.
func TestLoginPasswordNotEchoedOnTerminal(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newCLI(t, srv.URL)
	r := onTerminal(t, c, []typed{{"Password: ", testserver.AdminPassword}}, "login", "--email", testserver.AdminEmail)
	if r.code != 0 || !strings.Contains(r.stdout, "Logged in") {
		t.Fatalf("want exit 0 and Logged in:\n%s", r)
	}
	if strings.Contains(r.screen, testserver.AdminPassword) {
		t.Fatalf("the password was echoed on the terminal:\n%s", r.screen)
	}
}

// On a terminal, mfactl password change asks the current password, then
// the new one twice, all with echo off; two different new passwords change
// nothing.
func TestPasswordChangeOnTerminal(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newCLI(t, srv.URL)
	c.login(t, testserver.AdminEmail, testserver.AdminPassword)

	r := onTerminal(t, c, []typed{
		{"Current password: ", testserver.AdminPassword},
		{"New password: ", "first new passphrase"},
		{"Repeat the new password: ", "second new passphrase"},
	}, "password", "change")
	if r.code != 1 || !strings.Contains(r.screen, "the two new passwords differ; nothing was changed") {
		t.Fatalf("want exit 1, the passwords differ:\n%s", r)
	}
	c.login(t, testserver.AdminEmail, testserver.AdminPassword) // unchanged

	r = onTerminal(t, c, []typed{
		{"Current password: ", testserver.AdminPassword},
		{"New password: ", "first new passphrase"},
		{"Repeat the new password: ", "first new passphrase"},
	}, "password", "change")
	if r.code != 0 || !strings.Contains(r.stdout, "Password changed for "+testserver.AdminEmail) {
		t.Fatalf("want exit 0, Password changed:\n%s", r)
	}
	for _, secret := range []string{testserver.AdminPassword, "first new passphrase", "second new passphrase"} {
		if strings.Contains(r.screen+r.stdout, secret) {
			t.Fatalf("%q was echoed on the terminal:\n%s", secret, r)
		}
	}
	c.login(t, testserver.AdminEmail, "first new passphrase")
}
