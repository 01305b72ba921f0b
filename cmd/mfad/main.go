// Command mfad is the multi-factor authentication server.
//
//	mfad serve                 run the server (SQLite mfad.db by default)
//	mfad account create ...    add an account and its first admin
//	mfad user ...              list users, reset a factor, unlock, set a password (operators)
//	mfad --version             the version, the commit built and the Go version
//
// main only wires packages together; run holds everything so tests can start
// the real server in-process with their own arguments and environment.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mfad:", err)
		os.Exit(exitCode(err))
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	if _, ok := err.(usageError); ok {
		return 2
	}
	return 1
}

const usage = `mfad: a multi-factor authentication server speaking the MFA part of the Quatrix API.

Usage:
  mfad serve [flags]             run the server
  mfad account create [flags]    create an account and its first admin
  mfad rotate-key [flags]        re-encrypt every TOTP secret under a new key
  mfad user <command> [flags]    list users; reset-mfa, unlock or set-password --email E
  mfad help [command]            show help
  mfad --version                 show the version (also "mfad version")

Run "mfad serve --help" or "mfad account create --help" for the flags.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "rotate-key":
		return rotateKey(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		return user(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "account":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(stderr, usage)
			return usageError{`unknown account command; did you mean "mfad account create"?`}
		}
		return accountCreate(ctx, args[2:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		return version(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, getenv, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
