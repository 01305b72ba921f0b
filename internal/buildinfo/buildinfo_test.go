package buildinfo

import (
	"encoding/json"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		settings map[string]string
		main     string
		line     string
		fields   []string // of the JSON form
	}{
		{map[string]string{"vcs.revision": "0123456789abcdef0123456789abcdef01234567", "vcs.modified": "true"}, "v1.2.3",
			"mfad v1.2.3, revision 0123456789ab, modified, go1.99.1", []string{"go", "modified", "revision", "version"}},
		{map[string]string{"vcs.revision": "0123456789abcdef0123456789abcdef01234567", "vcs.modified": "false", "vcs": "git"}, "(devel)",
			"mfad (devel), revision 0123456789ab, go1.99.1", []string{"go", "revision", "version"}},
		{map[string]string{"vcs.modified": "true"}, "", "mfad (devel), modified, go1.99.1", []string{"go", "modified", "version"}},
		{map[string]string{"vcs.revision": "abc"}, "", "mfad (devel), revision abc, go1.99.1", []string{"go", "revision", "version"}},
		{nil, "v0.0.0-20261206232500-c7a7a4c01734+dirty", "mfad v0.0.0-20261206232500-c7a7a4c01734+dirty, go1.99.1", []string{"go", "version"}},
	} {
		bi := &debug.BuildInfo{GoVersion: "go1.99.1"}
		bi.Main.Version = tc.main
		for k, v := range tc.settings {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: k, Value: v})
		}
		v := Of(bi, true)
		if got := v.Line("mfad"); got != tc.line {
			t.Errorf("Line = %q, want %q", got, tc.line)
		}
		data, _ := json.Marshal(v)
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, tc.fields) {
			t.Errorf("JSON %s, want the fields %v", data, tc.fields)
		}
	}
	v := Of(nil, false)
	if v.Version != "(devel)" || !strings.HasPrefix(v.Go, "go") || v.Revision != "" || v.Modified {
		t.Errorf("without build information: %+v", v)
	}
}
