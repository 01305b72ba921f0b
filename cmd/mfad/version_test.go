package main

import (
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	for _, tc := range []struct {
		settings   map[string]string
		main, want string
	}{
		{map[string]string{"vcs.revision": "0123456789abcdef0123456789abcdef01234567", "vcs.modified": "true"}, "v1.2.3",
			"mfad v1.2.3, revision 0123456789ab, modified, go1.99.1"},
		{map[string]string{"vcs.revision": "0123456789abcdef0123456789abcdef01234567", "vcs.modified": "false", "vcs": "git"}, "(devel)",
			"mfad (devel), revision 0123456789ab, go1.99.1"},
		{map[string]string{"vcs.modified": "true"}, "", "mfad (devel), modified, go1.99.1"},
		{nil, "v0.0.0-20261206232500-c7a7a4c01734+dirty", "mfad v0.0.0-20261206232500-c7a7a4c01734+dirty, go1.99.1"},
	} {
		bi := &debug.BuildInfo{GoVersion: "go1.99.1"}
		bi.Main.Version = tc.main
		for k, v := range tc.settings {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: k, Value: v})
		}
		if got := versionOf(bi, true).line("mfad"); got != tc.want {
			t.Errorf("line = %q, want %q", got, tc.want)
		}
	}
	v := versionOf(nil, false)
	if v.Version != "(devel)" || !strings.HasPrefix(v.Go, "go") || v.Revision != "" || v.Modified {
		t.Errorf("without build information: %+v", v)
	}
}

// "mfad --version" of the built binary tells what "go version -m" reads
// from it.
func TestVersionCommand(t *testing.T) {
	bin := binary(t)
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	settings := map[string]string{}
	version, goVersion := "", ""
	for i, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case i == 0:
			_, goVersion, _ = strings.Cut(line, ": ")
		case len(f) >= 3 && f[0] == "mod":
			version = f[2]
		case len(f) >= 2 && f[0] == "build":
			k, v, _ := strings.Cut(f[1], "=")
			settings[k] = v
		}
	}
	want := "mfad " + version
	if rev := settings["vcs.revision"]; rev != "" {
		want += ", revision " + rev[:12]
	}
	if settings["vcs.modified"] == "true" {
		want += ", modified"
	}
	want += ", " + strings.TrimSpace(goVersion) + "\n"
	for _, arg := range []string{"--version", "version", "-version"} {
		cmd := exec.Command(bin, arg)
		cmd.Env = []string{} // no configuration needed
		got, err := cmd.Output()
		if err != nil || string(got) != want {
			t.Errorf("mfad %s = %q, %v; want %q", arg, got, err, want)
		}
	}

	stdout, _, err := runQuick(t, nil, "--version")
	if err != nil || !strings.HasPrefix(stdout, "mfad ") || !strings.Contains(stdout, ", go1.") {
		t.Errorf("run --version: %q, %v", stdout, err)
	}
	_, _, err = runQuick(t, nil, "version", "extra")
	wantUsageError(t, err, "version extra")
	_, stderr, err := runQuick(t, nil, "help", "version")
	if err != nil || !strings.Contains(stderr, "Usage: mfad --version") {
		t.Errorf("help version: %v, stderr %q", err, stderr)
	}
	stdout, _, err = runQuick(t, nil, "help")
	if err != nil || !strings.Contains(stdout, "mfad --version") {
		t.Errorf("help does not list --version: %v\n%s", err, stdout)
	}
}
