package api_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestThePipelineImportsNoDomain keeps appliance/api the pipeline and its
// contract: a domain (identity, tax, important, notify, documents, and every
// merchants, workers, payouts or gateway to come) joins as a Backend that
// the node mounts, never as an import of the pipeline, directly or through
// another package. The pipeline may use the error kinds, the
// preview → confirm records and the strict JSON check; everything else
// under appliance/ and gateway/ is a domain.
func TestThePipelineImportsNoDomain(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "cxt/appliance/api").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	allowed := map[string]string{
		"cxt/appliance/api":               "itself",
		"cxt/appliance/errs":              "error kinds, statuses and codes",
		"cxt/appliance/important/confirm": "the records of preview → confirm, which the pipeline writes",
		"cxt/appliance/strictjson":        "refuses repeated and mis-cased keys in request bodies",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed too little to be the pipeline's dependencies: %q", deps)
	}
	for _, p := range deps {
		if !strings.HasPrefix(p, "cxt/appliance/") && !strings.HasPrefix(p, "cxt/gateway/") && p != "cxt/gateway" {
			continue
		}
		if _, ok := allowed[p]; !ok {
			t.Errorf("appliance/api depends on the domain package %s: define an interface in api and let the node inject the domain, or mount it as a Backend", p)
		}
	}
	for p, why := range allowed {
		if p != "cxt/appliance/api" && !slices.Contains(deps, p) {
			t.Logf("%s is allowed (%s) but no longer used", p, why)
		}
	}
}
