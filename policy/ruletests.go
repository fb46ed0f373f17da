package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one rego test of a bundle.
type TestResult struct {
	Name  string `json:"name"` // package.rule, as opa test names it
	File  string `json:"file"`
	Pass  bool   `json:"pass"`
	Error string `json:"error,omitempty"` // why it could not be evaluated, if it could not
}

// RunTests runs the rego tests of the files (every rule named test_* in any
// module) against the bundle's data, with OPA's tester, and returns their
// results sorted by name. The built-ins a policy may not call are not
// there for tests either: a test gives the same answer on every replica,
// which is what lets the state machine run the tests (timeout 0: none).
func RunTests(ctx context.Context, f Files, timeout time.Duration) ([]TestResult, error) {
	b, err := f.Bundle()
	if err != nil {
		return nil, err
	}
	modules := map[string]*ast.Module{}
	for _, p := range f.Paths() {
		if !strings.HasSuffix(p, ".rego") {
			continue
		}
		m, err := ast.ParseModuleWithOpts(p, f[p], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, err
		}
		modules[p] = m
	}
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(caps.Builtins, func(b *ast.Builtin) bool {
		_, unsafe := unsafeBuiltins[b.Name]
		return unsafe
	})
	compiler := ast.NewCompiler().WithCapabilities(caps).WithEnablePrintStatements(true).WithDefaultRegoVersion(ast.RegoV1)
	if timeout <= 0 {
		timeout = 1 << 62 // no deadline: each replica runs every test to its end
	}
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(inmem.NewFromObject(b.Data)).
		SetModules(modules).
		SetTimeout(timeout).
		SetDefaultRegoVersion(ast.RegoV1)
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("the tests do not compile: %w", err)
	}
	var out []TestResult
	for r := range ch {
		if r.Skip {
			continue
		}
		t := TestResult{Name: strings.TrimPrefix(r.Package, "data.") + "." + r.Name, Pass: r.Pass()}
		if r.Location != nil {
			t.File = r.Location.File
		}
		if r.Error != nil {
			t.Error = r.Error.Error()
		}
		out = append(out, t)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b TestResult) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Failed returns the names of the tests that did not pass.
func Failed(results []TestResult) []string {
	var names []string
	for _, r := range results {
		if !r.Pass {
			names = append(names, r.Name)
		}
	}
	return names
}
