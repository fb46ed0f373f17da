package node_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"cxt/appliance/node"
	"cxt/storage/auditlog"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// documentedTypes reads the type column of docs/security.md's table of
// audit event types.
func documentedTypes(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "### Audit event types")
	if !ok {
		t.Fatal("docs/security.md has no \"### Audit event types\" section")
	}
	if i := strings.Index(table, "\n#"); i >= 0 {
		table = table[:i]
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	out := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		out[m[1]] = true
	}
	return out
}

// writtenEvents finds every event type the code can write besides a
// command's own type: the Event of an auditlog.Context, and the Type of an
// auditlog.Entry appended directly. Each must be a string literal, so that
// this test sees it; a computed one fails the test.
func writtenEvents(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{} // event -> where
	fset := token.NewFileSet()
	add := func(kind string, v ast.Expr) {
		pos := fset.Position(v.Pos())
		lit, ok := v.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("%s: an audit %s set from %s: write it as a string literal so that it is documented", pos, kind, types(v))
			return
		}
		s, _ := strconv.Unquote(lit.Value)
		out[s] = pos.String()
	}
	isType := func(e ast.Expr, pkg, name string, inPkg bool) bool {
		switch x := e.(type) {
		case *ast.SelectorExpr:
			id, ok := x.X.(*ast.Ident)
			return ok && id.Name == pkg && x.Sel.Name == name
		case *ast.Ident:
			return inPkg && x.Name == name
		}
		return false
	}
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		inPkg := f.Name.Name == "auditlog"
		imports := inPkg
		for _, im := range f.Imports {
			imports = imports || im.Path.Value == `"cxt/storage/auditlog"`
		}
		if !imports {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CompositeLit:
				ctx, entry := isType(x.Type, "auditlog", "Context", inPkg), isType(x.Type, "auditlog", "Entry", inPkg)
				for _, el := range x.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					key, ok := kv.Key.(*ast.Ident)
					if !ok {
						continue
					}
					switch {
					case ctx && key.Name == "Event":
						add("event", kv.Value)
					case entry && key.Name == "Type":
						// The hook's entries take the command's type: the registry covers those.
						if sel, ok := kv.Value.(*ast.SelectorExpr); !(ok && inPkg && sel.Sel.Name == "Type") {
							add("entry type", kv.Value)
						}
					}
				}
			case *ast.AssignStmt:
				for i, lhs := range x.Lhs {
					if sel, ok := lhs.(*ast.SelectorExpr); ok && sel.Sel.Name == "Event" && len(x.Rhs) == len(x.Lhs) {
						add("event", x.Rhs[i])
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func types(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return "the identifier " + x.Name
	case *ast.SelectorExpr:
		return "the selector " + x.Sel.Name
	}
	return "an expression"
}

func TestEveryAuditEventTypeIsDocumented(t *testing.T) {
	documented := documentedTypes(t)
	reg := state.NewRegistry()
	node.Register(reg)
	cluster.Register(reg)
	for _, typ := range reg.Commands() {
		if typ == auditlog.CmdRecord {
			continue // its entries carry the event they record, found below
		}
		if !documented[typ] {
			t.Errorf("command type %q writes audit entries but has no row in docs/security.md's table", typ)
		}
	}
	events := writtenEvents(t)
	if len(events) < 3 {
		t.Fatalf("found only %v: the scan is broken", events)
	}
	for ev, where := range events {
		if !documented[ev] {
			t.Errorf("audit event %q (%s) has no row in docs/security.md's table", ev, where)
		}
	}
	// And no row names a type nothing writes.
	for typ := range documented {
		if _, ok := events[typ]; !ok && !contains(reg.Commands(), typ) {
			t.Errorf("docs/security.md documents %q, which nothing writes", typ)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
