package mfad

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// constsOf returns the integer constants that file declares, by name.
func constsOf(t *testing.T, file string) map[string]int {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.INT {
					n, _ := strconv.Atoi(lit.Value)
					out[name.Name] = n
				}
			}
		}
	}
	return out
}

// The table holds every code constant of error.go, once, in order, and
// the SDK declares the same constants with the same values.
func TestCodeTable(t *testing.T) {
	want := map[string]int{}
	for i, row := range Codes {
		if i > 0 && row.Code <= Codes[i-1].Code {
			t.Errorf("row %d (%s): codes not in increasing order", i, row.Name)
		}
		if _, dup := want[row.Name]; dup {
			t.Errorf("%s: two rows", row.Name)
		}
		want[row.Name] = int(row.Code)
		if row.Code.Status() != row.Status || row.Status < 400 || row.Status > 599 || row.Summary == "" {
			t.Errorf("row %+v", row)
		}
	}
	for file, got := range map[string]map[string]int{"error.go": constsOf(t, "error.go"), "client/errors.go": constsOf(t, "client/errors.go")} {
		for name, v := range got {
			if !strings.HasPrefix(name, "Code") {
				delete(got, name)
				continue
			}
			if w, ok := want[name]; !ok || w != v {
				t.Errorf("%s: %s = %d; the table has %d (%v)", file, name, v, w, ok)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s declares %d codes, the table has %d", file, len(got), len(want))
		}
	}
}

// The error tables of docs/api.md and of openapi.yaml list exactly the
// table's codes, each with its status.
func TestCodeTablesInDocs(t *testing.T) {
	for _, doc := range []struct {
		file string
		row  *regexp.Regexp // captures the code and the status
	}{
		{"docs/api.md", regexp.MustCompile(`(?m)^\| (\d+) \| (\d{3}) \| .+ \|$`)},
		{"openapi.yaml", regexp.MustCompile(`(?m)^ +\| (\d+) \| .+ \| (\d{3}) \|$`)},
	} {
		data, err := os.ReadFile(doc.file)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range doc.row.FindAllStringSubmatch(string(data), -1) {
			got = append(got, m[1]+" "+m[2])
		}
		var want []string
		for _, row := range Codes {
			want = append(want, strconv.Itoa(int(row.Code))+" "+strconv.Itoa(row.Status))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s lists codes and statuses %q, the table %q", doc.file, got, want)
		}
	}
}

// openapi.yaml's description of the audit trail's event field lists
// exactly TrailEvents, in order.
func TestTrailEventsInOpenAPI(t *testing.T) {
	s := string(OpenAPI)
	start := strings.Index(s, "    ActivityItem:")
	end := strings.Index(s[start:], "outcome:")
	if start < 0 || end < 0 {
		t.Fatal("no ActivityItem event description in openapi.yaml")
	}
	var got []string
	for _, m := range regexp.MustCompile("`([a-z0-9_.]+)`").FindAllStringSubmatch(s[start:start+end], -1) {
		got = append(got, m[1])
	}
	if !slices.Equal(got, TrailEvents) {
		t.Errorf("openapi.yaml lists events %q, TrailEvents is %q", got, TrailEvents)
	}
}
