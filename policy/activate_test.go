package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// signers is a policy.SignerKey over a fixed set of accounts: those in it
// are open security administrators with the key given.
type signers map[string]*sm.PrivateKey

func (s signers) key(_ policy.Getter, id string) (string, error) {
	k, ok := s[id]
	if !ok {
		return "", state.Reject(policy.CodeSignatureInvalid, "the signer %s is not a security administrator", id)
	}
	pem, err := k.Public().MarshalPEM()
	return string(pem), err
}

func newKey(t testing.TB) *sm.PrivateKey {
	k, err := sm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// bundleOf is the default bundle as version, changed by edit.
func bundleOf(t testing.TB, version string, edit func(policy.Files)) policy.Files {
	t.Helper()
	f := policy.DefaultFiles()
	f["manifest.json"] = fmt.Sprintf(`{"version": %q}`, version)
	if edit != nil {
		edit(f)
	}
	return f
}

// strictHealth takes sys.health from workers — data and test alike: a
// restriction that keeps every duty rule.
func strictHealth(f policy.Files) {
	var data map[string]any
	if err := json.Unmarshal([]byte(f["rego/data.json"]), &data); err != nil {
		panic(err)
	}
	perms := data["cxt"].(map[string]any)["roles"].(map[string]any)["permissions"].(map[string]any)
	var kept []any
	for _, r := range perms["sys.health"].([]any) {
		if r != "worker" {
			kept = append(kept, r)
		}
	}
	perms["sys.health"] = kept
	raw, _ := json.MarshalIndent(data, "", "  ")
	f["rego/data.json"] = string(raw) + "\n"
	const line = "\tdecide(\"sys.health\", {\"worker\"})\n"
	if !strings.Contains(f["rego/sys_test.rego"], line) {
		panic("sys_test.rego changed: update strictHealth")
	}
	f["rego/sys_test.rego"] = strings.Replace(f["rego/sys_test.rego"], line, "\tnot decide(\"sys.health\", {\"worker\"})\n", 1)
}

func activation(t testing.TB, f policy.Files, key *sm.PrivateKey, signer string) *state.Command {
	t.Helper()
	var sig []byte
	if key != nil {
		var err error
		if sig, err = policy.Sign(key, f); err != nil {
			t.Fatal(err)
		}
	}
	cmd, err := policy.ActivateCommand(policy.Activate{Files: f, Signature: sig, Signer: signer}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

func workerMaySeeHealth(t *testing.T, a *policy.Authorizer) bool {
	t.Helper()
	d, err := a.Decide(context.Background(), policy.Input{
		Subject: policy.Subject{ID: "w1", Roles: []string{"worker"}, Clearance: 1}, Action: "sys.health",
	})
	if err != nil {
		t.Fatal(err)
	}
	return d.Allow
}

func current(t *testing.T, st *state.State) *policy.Activation {
	t.Helper()
	var cur *policy.Activation
	if err := st.View(func(r *state.ReadTx) error {
		var err error
		cur, err = policy.Current(r)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return cur
}

func machine(t *testing.T, s signers) (*statetest.Machine, *policy.Authorizer) {
	t.Helper()
	embedded, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	a, err := policy.New(context.Background(), embedded)
	if err != nil {
		t.Fatal(err)
	}
	m := statetest.New(t, func(reg *state.Registry) { policy.Register(reg, a, s.key) })
	return m, a
}

func code(res state.Result) string {
	if res.Err == nil {
		return ""
	}
	return res.Err.Code
}

// The state machine checks every bundle itself: a command that reaches it
// without the API's checks (a buggy or hostile proposer) is refused alike
// on every replica, and the policy in force stays.
func TestTheStateMachineRefusesABadBundleAndKeepsThePolicyInForce(t *testing.T) {
	sec, ops := newKey(t), newKey(t)
	m, a := machine(t, signers{"acct-sec": sec})
	good := bundleOf(t, "strict-1", strictHealth)
	if res := m.Apply(activation(t, good, sec, "acct-sec")); res.Err != nil {
		t.Fatal(res.Err)
	}
	in := current(t, m.State)
	if in == nil || in.Version != "strict-1" || in.Signer != "acct-sec" || in.Index == 0 || workerMaySeeHealth(t, a) {
		t.Fatalf("the good bundle is not in force: %+v", in)
	}

	huge := strings.Repeat("# padding\n", policy.MaxBundleSize/10+1)
	for _, c := range []struct {
		name, want string
		cmd        func() *state.Command
	}{
		{"a file changed after signing", "bundle_signature_invalid", func() *state.Command {
			f := bundleOf(t, "open-2", nil)
			sig, _ := policy.Sign(sec, f)
			f["rego/authz.rego"] += "\n# changed\n"
			cmd, _ := policy.ActivateCommand(policy.Activate{Files: f, Signature: sig, Signer: "acct-sec"}, time.Now())
			return cmd
		}},
		{"no signature", "bundle_unsigned", func() *state.Command { return activation(t, bundleOf(t, "open-2", nil), nil, "acct-sec") }},
		{"signed by an account that is not a security administrator", "bundle_signature_invalid", func() *state.Command {
			return activation(t, bundleOf(t, "open-2", nil), ops, "acct-ops")
		}},
		{"another key's signature naming the security administrator", "bundle_signature_invalid", func() *state.Command {
			return activation(t, bundleOf(t, "open-2", nil), ops, "acct-sec")
		}},
		{"a failing rego test", "bundle_tests_fail", func() *state.Command {
			return activation(t, bundleOf(t, "open-2", func(f policy.Files) {
				f["rego/extra_test.rego"] = "package cxt.extra_test\n\nimport rego.v1\n\ntest_fails if false\n"
			}), sec, "acct-sec")
		}},
		{"rego that does not compile", "bundle_invalid", func() *state.Command {
			return activation(t, bundleOf(t, "open-2", func(f policy.Files) { f["rego/bad.rego"] = "package cxt.authz\nthis is not rego" }), sec, "acct-sec")
		}},
		{"conflicting data files", "bundle_invalid", func() *state.Command {
			return activation(t, bundleOf(t, "open-2", func(f policy.Files) { f["more/data.json"] = `{"cxt": {"roles": {"admins": []}}}` }), sec, "acct-sec")
		}},
		{"too large", "bundle_too_large", func() *state.Command {
			f := bundleOf(t, "open-2", func(f policy.Files) { f["rego/pad.rego"] = "package pad\n" + huge })
			sig, _ := policy.Sign(sec, f)
			body, _ := json.Marshal(policy.Activate{Files: f, Signature: sig, Signer: "acct-sec"})
			return state.NewCommand(policy.CmdActivate, body, time.Now()) // past ActivateCommand's own check
		}},
		{"a version used before for other files", "bundle_version_reused", func() *state.Command {
			return activation(t, bundleOf(t, "strict-1", nil), sec, "acct-sec")
		}},
		{"the bundle in force again", "bundle_in_force", func() *state.Command { return activation(t, good, sec, "acct-sec") }},
		{"a policy that breaks a duty rule", "policy_breaks_duty", func() *state.Command {
			return activation(t, bundleOf(t, "greedy-2", func(f policy.Files) {
				f["rego/data.json"] = strings.Replace(f["rego/data.json"], `"audit.search": [`, `"audit.search": ["security_admin", `, 1)
				for p := range f { // without the tests that would catch it first
					if policy.IsTest(p) {
						delete(f, p)
					}
				}
			}), sec, "acct-sec")
		}},
	} {
		if got := code(m.Apply(c.cmd())); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if cur := current(t, m.State); cur.Index != in.Index || a.Version() != "strict-1" || workerMaySeeHealth(t, a) {
			t.Fatalf("%s: the policy in force changed: %+v, authorizer %q", c.name, cur, a.Version())
		}
	}
	// The unsigned command of old is refused once the cluster speaks signed bundles.
	embedded, _ := policy.Embedded()
	embedded.Version = "unsigned"
	set, _ := policy.SetCommand(embedded, time.Now())
	if got := code(m.Apply(set)); got != "bundle_unsigned" || a.Version() != "strict-1" {
		t.Fatalf("policy.set: %q, in force %q", got, a.Version())
	}
}

// A rollback puts an earlier activation back, its signature checked again
// against the key recorded then, and keeps the history.
func TestARollbackPutsAnEarlierBundleBackByItsVersion(t *testing.T) {
	sec := newKey(t)
	s := signers{"acct-sec": sec}
	m, a := machine(t, s)
	m.Apply(activation(t, bundleOf(t, "strict-1", strictHealth), sec, "acct-sec"))
	first := current(t, m.State)
	if res := m.Apply(activation(t, bundleOf(t, "open-2", nil), sec, "acct-sec")); res.Err != nil {
		t.Fatal(res.Err)
	}
	if !workerMaySeeHealth(t, a) {
		t.Fatal("open-2 is not in force")
	}
	// The signer's account changes (a new key, or none): the rollback
	// holds to the key that verified the bundle when it was activated.
	delete(s, "acct-sec")
	if got := code(m.Apply(policy.RollbackCommand("strict-1", first.Index+1, time.Now()))); got != "policy_version_unknown" {
		t.Fatalf("rollback to another index: %q", got)
	}
	if got := code(m.Apply(policy.RollbackCommand("open-2", first.Index, time.Now()))); got != "policy_version_unknown" {
		t.Fatalf("rollback naming another version: %q", got)
	}
	if res := m.Apply(policy.RollbackCommand("strict-1", first.Index, time.Now())); res.Err != nil {
		t.Fatal(res.Err)
	}
	cur := current(t, m.State)
	if cur.Version != "strict-1" || cur.RollbackOf != first.Index || cur.Index <= first.Index || cur.Digest != first.Digest || cur.Signer != "acct-sec" ||
		a.Version() != "strict-1" || workerMaySeeHealth(t, a) {
		t.Fatalf("after the rollback: %+v, authorizer %q", cur, a.Version())
	}
	if got := code(m.Apply(policy.RollbackCommand("strict-1", first.Index, time.Now()))); got != "bundle_in_force" {
		t.Fatalf("rollback to the bundle in force: %q", got)
	}
	var hs []policy.Activation
	m.State.View(func(r *state.ReadTx) error { hs, _ = policy.History(r.ForEach); return nil })
	if len(hs) != 3 || hs[0].Version != "strict-1" || hs[1].Version != "open-2" || hs[2].RollbackOf != first.Index {
		t.Fatalf("history: %+v", hs)
	}
}
