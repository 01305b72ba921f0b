//go:build linux

package main

import (
	"bytes"
	"context"
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

// On a terminal, mfactl login reads the password with echo off: the
// password typed never appears on the screen.
func TestLoginPasswordNotEchoedOnTerminal(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newCLI(t, srv.URL)
	master, tty := openPTY(t)
	defer master.Close()

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
	cmd := exec.CommandContext(ctx, bin, "login", "--email", testserver.AdminEmail)
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

	// Type the password once the prompt is shown and echo is off, as
	// term.ReadPassword turns it off right after printing the prompt.
	deadline := time.Now().Add(cmdTimeout)
	for !strings.Contains(screen.String(), "Password: ") || echo() {
		if time.Now().After(deadline) {
			t.Fatalf("no password prompt with echo off; screen:\n%s", screen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := master.Write([]byte(testserver.AdminPassword + "\n")); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	echoAfter := echo()
	tty.Close() // the binary has exited: the copy ends
	<-copied
	if err != nil {
		t.Fatalf("mfactl login: %v\nstdout:\n%s\nscreen:\n%s", err, &stdout, screen)
	}
	if !strings.Contains(stdout.String(), "Logged in") {
		t.Fatalf("stdout %q, want Logged in; screen:\n%s", &stdout, screen)
	}
	if strings.Contains(screen.String(), testserver.AdminPassword) {
		t.Fatalf("the password was echoed on the terminal:\n%s", screen)
	}
	if !echoAfter {
		t.Error("mfactl left the terminal with echo off")
	}
}
