package api_test

import (
	"encoding/binary"
	"errors"
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

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/storage/state"

	// The node links every mounted domain's codes; these domains are not
	// mounted yet.
	_ "cxt/appliance/merchants"
	_ "cxt/appliance/subjects"
)

// documentedStatuses reads docs/errors.md's table: code -> HTTP status.
func documentedStatuses(t *testing.T) map[string]int {
	t.Helper()
	doc, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ([0-9]{3}) \\|")
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		out[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(out) == 0 {
		t.Fatal("docs/errors.md has no table of codes")
	}
	return out
}

// declaredCodes finds every state.NewCode call in the tree's non-test Go
// files and returns the code it names -> where. A name must be a string
// literal or a string constant of the same package, so that this test can
// read it.
func declaredCodes(t *testing.T) map[string]string {
	t.Helper()
	type file struct {
		dir string
		f   *ast.File
	}
	fset := token.NewFileSet()
	var files []file
	consts := map[string]map[string]string{} // dir -> constant -> value
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || strings.HasPrefix(n, ".") && n != "." && n != ".." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		files = append(files, file{dir, f})
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if consts[dir] == nil {
								consts[dir] = map[string]string{}
							}
							consts[dir][name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, fl := range files {
		ast.Inspect(fl.f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				if fn.Name != "NewCode" || fl.f.Name.Name != "state" {
					return true
				}
			case *ast.SelectorExpr:
				if x, ok := fn.X.(*ast.Ident); !ok || x.Name != "state" || fn.Sel.Name != "NewCode" {
					return true
				}
			default:
				return true
			}
			pos := fset.Position(call.Pos()).String()
			switch a := call.Args[1].(type) {
			case *ast.BasicLit:
				s, _ := strconv.Unquote(a.Value)
				out[s] = pos
			case *ast.Ident:
				if v, ok := consts[fl.dir][a.Name]; ok {
					out[v] = pos
					return true
				}
				t.Errorf("%s: a code named by %s: use a string literal or constant", pos, a.Name)
			default:
				t.Errorf("%s: a code named by an expression: use a string literal or constant", pos)
			}
			return true
		})
	}
	if len(out) == 0 {
		t.Fatal("no state.NewCode call found")
	}
	return out
}

// Every refusal the state machine can produce — every code the tree
// declares — reaches the caller with the status docs/errors.md gives it,
// whichever node answers: the kind travels with the rejection.
func TestEveryRejectionMapsToItsDocumentedStatus(t *testing.T) {
	doc := documentedStatuses(t)
	registered := map[string]state.Code{}
	for _, c := range state.Codes() {
		registered[c.String()] = c
	}
	for name, pos := range declaredCodes(t) {
		if _, ok := registered[name]; !ok {
			t.Errorf("%s declares code %q, which this test binary does not link: import its package here", pos, name)
		}
	}
	for _, c := range state.Codes() {
		want, ok := doc[c.String()]
		if !ok {
			t.Errorf("rejection code %q (%s) has no row in docs/errors.md", c, c.Kind())
			continue
		}
		// As a follower sees it: the result crossed the log and the wire.
		b, _ := state.Result{Err: state.Reject(c, "refused").(*state.Rejection)}.MarshalBinary()
		res, err := state.UnmarshalResult(b)
		if err != nil {
			t.Fatal(err)
		}
		e := errs.Of(api.Classify(res.Error()))
		if e.Kind.Status() != want || e.Code != c.String() {
			t.Errorf("rejection %q answers %d %s; docs/errors.md says %d", c, e.Kind.Status(), e.Code, want)
		}
	}
	// The kinds' own codes are documented too.
	for k := errs.Internal; k <= errs.WrongMethod; k++ {
		if doc[k.Code()] != k.Status() {
			t.Errorf("kind code %q is %d; docs/errors.md says %d", k.Code(), k.Status(), doc[k.Code()])
		}
	}
}

// A result stored before rejections had kinds (format 1: code and message)
// still answers with its code's status; the early spelling "invalid" is
// invalid_request, and a code no longer declared is internal.
func TestARejectionStoredBeforeKindsKeepsItsStatus(t *testing.T) {
	format1 := func(code, msg string) []byte {
		b := binary.AppendUvarint([]byte{1}, uint64(len(code)))
		return append(append(b, code...), msg...)
	}
	for _, c := range []struct {
		code, wantCode string
		status         int
	}{
		{"invalid", "invalid_request", 400},
		{"approval_closed", "approval_closed", 409},
		{"invalid_credentials", "invalid_credentials", 401},
		{"internal", "internal", 500},
		{"unknown_command", "internal", 500},
	} {
		res, err := state.UnmarshalResult(format1(c.code, "old refusal"))
		if err != nil {
			t.Fatal(err)
		}
		var rej *state.Rejection
		if !errors.As(res.Error(), &rej) || rej.Message != "old refusal" {
			t.Fatalf("%s: %+v", c.code, res)
		}
		e := errs.Of(api.Classify(res.Error()))
		if e.Kind.Status() != c.status || e.Code != c.wantCode {
			t.Errorf("a stored %q answers %d %s, want %d %s", c.code, e.Kind.Status(), e.Code, c.status, c.wantCode)
		}
	}
}
