package policy

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/tester"
)

// The rego unit tests in rego/ and risk/ run as part of go test.
func TestRegoUnitTests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results, err := tester.Run(ctx, "rego", "risk")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no rego tests found")
	}
	for _, r := range results {
		if r.Fail || r.Error != nil {
			t.Errorf("%s.%s failed: %v", r.Package, r.Name, r.Error)
		}
	}
}

func authorizer(t testing.TB) *Authorizer {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDecisionsFromGo(t *testing.T) {
	a := authorizer(t)
	d, err := a.Decide(context.Background(), Input{
		Subject: Subject{ID: "a1", Roles: []string{"audit_admin"}, Clearance: 2, MFA: true},
		Action:  "audit.search",
	})
	if err != nil || !d.Allow {
		t.Fatalf("audit admin searching audit: %+v %v", d, err)
	}
	d, _ = a.Decide(context.Background(), Input{Subject: Subject{ID: "w", Roles: []string{"worker"}, Clearance: 1}, Action: "audit.search"})
	if d.Allow || len(d.Reasons) == 0 {
		t.Fatalf("worker searching audit: %+v", d)
	}
}

func TestAFailedSwapKeepsTheOldPolicy(t *testing.T) {
	a := authorizer(t)
	if err := a.Swap(context.Background(), &Bundle{Modules: map[string]string{"bad.rego": "package cxt.authz\nthis is not rego"}, Version: "broken"}); err == nil {
		t.Fatal("broken policy compiled")
	}
	if a.Version() != "embedded" {
		t.Fatal("a failed swap replaced the policy")
	}
	open := `package cxt.authz
import rego.v1
allow := true
decision := {"allow": true}`
	if err := a.Swap(context.Background(), &Bundle{Modules: map[string]string{"open.rego": open}, Version: "v2"}); err != nil {
		t.Fatal(err)
	}
	d, _ := a.Decide(context.Background(), Input{Action: "anything"})
	if !d.Allow || a.Version() != "v2" {
		t.Fatal("the new policy is not in force")
	}
}

func TestNetworkBuiltinsAreRefused(t *testing.T) {
	a := authorizer(t)
	evil := `package cxt.authz
import rego.v1
allow := http.send({"method": "get", "url": "http://127.0.0.1:1"}).status_code == 200
decision := {"allow": allow}`
	if err := a.Swap(context.Background(), &Bundle{Modules: map[string]string{"evil.rego": evil}, Version: "evil"}); err == nil {
		t.Fatal("a policy calling http.send compiled")
	}
}

// BenchmarkDecision reports the median decision time (goal ≤ 25 µs).
func BenchmarkDecision(b *testing.B) {
	a := authorizer(b)
	in := Input{Subject: Subject{ID: "u", Roles: []string{"merchant_operator"}, Clearance: 2, MFA: true}, Action: "tax.quote", Resource: Resource{Label: 1}}
	ctx := context.Background()
	times := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		if _, err := a.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1000, "median-µs")
}
