package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The binary's dependencies, checked the way Tailscale's deptest does: each
// banned import with the reason it is banned.
var banned = map[string]string{
	"net/http/pprof": "exposes profiling handlers on whatever mux imports it",
	"github.com/open-policy-agent/opa/v1/sdk": "pulls in bundle downloads and decision-log uploads; embed v1/rego only",
	"github.com/open-policy-agent/opa/sdk":    "the same, through the v0 path",
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func TestTheBinaryHasNoBannedDependencies(t *testing.T) {
	for _, dep := range goList(t, "-deps", "cxt/appliance/cmd/cxt") {
		if why, bad := banned[dep]; bad {
			t.Errorf("cxt depends on %s: %s", dep, why)
		}
	}
}

func TestOnlyCryptoImportsGmsm(t *testing.T) {
	for _, line := range goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}}", "cxt/...") {
		pkg, imports, _ := strings.Cut(line, " ")
		if strings.HasPrefix(pkg, "cxt/crypto/") {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, "github.com/emmansun/gmsm") {
				t.Errorf("%s imports %s directly; go through cxt/crypto", pkg, imp)
			}
		}
	}
}
