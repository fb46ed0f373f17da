package api_test

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"cxt/policy"
)

var updateDocs = flag.Bool("update", false, "rewrite generated parts of docs/ (the role table in docs/security.md)")

const (
	roleTableBegin = "<!-- role-table:begin — generated from policy/rego/data.json, node.Routes() and node.GatewayRoutes(); regenerate with: go test ./appliance/api -run TestRoleTable -update -->"
	roleTableEnd   = "<!-- role-table:end -->"
)

// roleOrder is how roles are listed: the anonymous caller, the three
// administrators, platform staff, merchants and their machine clients,
// workers.
var roleOrder = []string{"anonymous", "system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker", "tax_officer"}

// roleTable renders who may call each route, from the role data the policy
// decides with.
func roleTable(t *testing.T) string {
	b, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	roles, _ := b.Data["cxt"].(map[string]any)["roles"].(map[string]any)
	perms, _ := roles["permissions"].(map[string]any)
	mfa := map[string]bool{}
	for _, a := range roles["needs_mfa"].([]any) {
		mfa[a.(string)] = true
	}
	allowed := func(action string) []string {
		var out []string
		for _, r := range perms[action].([]any) {
			out = append(out, r.(string))
		}
		sort.Slice(out, func(i, j int) bool { return slices.Index(roleOrder, out[i]) < slices.Index(roleOrder, out[j]) })
		return out
	}
	var sb strings.Builder
	sb.WriteString("| route | action | roles allowed | second factor | important |\n|---|---|---|---|---|\n")
	routed := map[string]bool{}
	for _, rt := range allRoutes() {
		routed[rt.Action] = true
		who := "nobody"
		if _, ok := perms[rt.Action]; ok {
			who = strings.Join(allowed(rt.Action), ", ")
		}
		yes := func(b bool) string {
			if b {
				return "yes"
			}
			return ""
		}
		fmt.Fprintf(&sb, "| `%s %s` | `%s` | %s | %s | %s |\n", rt.Method, rt.Path, rt.Action, who, yes(mfa[rt.Action]), yes(rt.Important()))
	}
	var other []string
	for a := range perms {
		if !routed[a] {
			other = append(other, fmt.Sprintf("`%s` (%s)", a, strings.Join(allowed(a), ", ")))
		}
	}
	sort.Strings(other)
	if len(other) > 0 {
		fmt.Fprintf(&sb, "\nIn the role data but on no route: %s.\n", strings.Join(other, "; "))
	}
	return sb.String()
}

// TestRoleTableInTheSecurityDocIsCurrent fails when docs/security.md's
// route × role table differs from what the role data and the routes say.
func TestRoleTableInTheSecurityDocIsCurrent(t *testing.T) {
	const path = "../../docs/security.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, roleTableBegin), strings.Index(doc, roleTableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no role table between the markers %q and %q", path, roleTableBegin, roleTableEnd)
	}
	want := roleTable(t)
	got := strings.TrimPrefix(doc[i+len(roleTableBegin):j], "\n")
	if got == want {
		return
	}
	if *updateDocs {
		doc = doc[:i+len(roleTableBegin)] + "\n" + want + doc[j:]
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("the role table in %s is stale; regenerate it with: go test ./appliance/api -run TestRoleTable -update\n--- want\n%s", path, want)
}
