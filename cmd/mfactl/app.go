package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/mfad/mfad/client"
)

// app is one invocation: the global settings, the terminal, the session.
type app struct {
	server  string
	json    bool
	timeout time.Duration
	dir     string // where session.json lives
	in      *bufio.Reader
	inFile  *os.File // stdin when it is a terminal, for input without echo
	stdout  io.Writer
	stderr  io.Writer
	fields  map[string]string // what the command calls its request's fields, for messages

	passkeyNoted bool // login said once that a recovery code stands in for the passkey
}

// newApp takes the global flags out of args, wherever they stand, and
// returns the rest.
func newApp(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) (*app, []string, error) {
	a := &app{server: getenv("MFACTL_SERVER"), timeout: 30 * time.Second, stdout: stdout, stderr: stderr, in: bufio.NewReader(stdin)}
	if a.server == "" {
		a.server = "http://127.0.0.1:8080"
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		a.inFile = f
	}
	var rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			rest = append(rest, arg)
			continue
		}
		switch name {
		case "json":
			a.json = true
			continue
		case "server", "timeout":
			if !hasValue {
				if i+1 >= len(args) {
					return nil, nil, usageError{fmt.Sprintf("flag --%s needs a value", name)}
				}
				i++
				value = args[i]
			}
			if name == "server" {
				a.server = value
			} else {
				d, err := time.ParseDuration(value)
				if err != nil || d <= 0 {
					return nil, nil, usageError{fmt.Sprintf("--timeout %q: a duration such as 10s", value)}
				}
				a.timeout = d
			}
			continue
		}
		rest = append(rest, arg)
	}
	// The config directory is needed only by commands that use the session;
	// help and usage errors work without one.
	a.dir = getenv("MFACTL_CONFIG_DIR")
	if a.dir == "" {
		base := getenv("XDG_CONFIG_HOME")
		if base == "" {
			if home := getenv("HOME"); home != "" {
				base = filepath.Join(home, ".config")
			}
		}
		if base != "" {
			a.dir = filepath.Join(base, "mfactl")
		}
	}
	return a, rest, nil
}

var errNoConfigDir = errors.New("cannot find a config directory for the session: set MFACTL_CONFIG_DIR (or HOME)")

// sameServer compares server URLs as the SDK reads them: trailing slashes
// and the /api/1.0 suffix do not matter.
func sameServer(a, b string) bool {
	norm := func(s string) string {
		return strings.TrimSuffix(strings.TrimRight(s, "/"), client.BasePath)
	}
	return norm(a) == norm(b)
}

// ---- session file

type savedSession struct {
	Server    string `json:"server"`
	SessionID string `json:"session_id"`
}

func (a *app) sessionPath() string { return filepath.Join(a.dir, "session.json") }

// saveSession writes the session file with mode 0600, atomically.
func (a *app) saveSession(id string) error {
	if a.dir == "" {
		return errNoConfigDir
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	data, _ := json.Marshal(savedSession{Server: a.server, SessionID: id})
	tmp, err := os.CreateTemp(a.dir, ".session-*")
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save session: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save session: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if err := os.Rename(tmp.Name(), a.sessionPath()); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// loadSession returns the saved session id for the server.
func (a *app) loadSession() (string, error) {
	if a.dir == "" {
		return "", errNoConfigDir
	}
	data, err := os.ReadFile(a.sessionPath())
	if errors.Is(err, os.ErrNotExist) {
		return "", errNotLoggedIn
	}
	if err != nil {
		return "", fmt.Errorf("read session: %w", err)
	}
	var s savedSession
	if err := json.Unmarshal(data, &s); err != nil || s.SessionID == "" {
		return "", fmt.Errorf("%w (the session file %s is damaged)", errNotLoggedIn, a.sessionPath())
	}
	if !sameServer(s.Server, a.server) {
		return "", fmt.Errorf("%w (the saved session is for %s)", errNotLoggedIn, s.Server)
	}
	return s.SessionID, nil
}

func (a *app) forgetSession() error {
	if a.dir == "" {
		return nil
	}
	err := os.Remove(a.sessionPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// client returns an SDK client; with session, one carrying the saved session.
func (a *app) client(session bool) (*client.Client, error) {
	c, err := client.New(a.server, client.WithTimeout(a.timeout))
	if err != nil {
		return nil, usageError{fmt.Sprintf("--server %q: want http://host[:port] or https://host[:port]", a.server)}
	}
	if session {
		id, err := a.loadSession()
		if err != nil {
			return nil, err
		}
		c.SetSessionID(id)
	}
	return c, nil
}

// ---- prompts (on stderr, so stdout stays clean for --json)

// errNoInput: standard input ended before the answer.
var errNoInput = errors.New("no more input")

func (a *app) readLine(prompt string) (string, error) {
	fmt.Fprint(a.stderr, prompt)
	line, err := a.in.ReadString('\n')
	if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
		if errors.Is(err, io.EOF) {
			return "", errNoInput
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readSecret reads without echo from a terminal, else a line of input.
func (a *app) readSecret(prompt string) (string, error) {
	if a.inFile == nil {
		return a.readLine(prompt)
	}
	fmt.Fprint(a.stderr, prompt)
	b, err := term.ReadPassword(int(a.inFile.Fd()))
	fmt.Fprintln(a.stderr)
	if errors.Is(err, io.EOF) {
		return "", errNoInput
	}
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ---- output

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseFlags parses a subcommand's flags; --help shows them.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, nargs int, argsHelp string) ([]string, error) {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mfactl %s [flags] %s\n", fs.Name(), argsHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, usageError{err.Error()}
	}
	if nargs >= 0 && fs.NArg() != nargs {
		fs.Usage()
		return nil, usageError{fmt.Sprintf("mfactl %s takes %d argument(s)", fs.Name(), nargs)}
	}
	return fs.Args(), nil
}
