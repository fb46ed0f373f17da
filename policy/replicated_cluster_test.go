package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"cxt/policy"
	"cxt/storage/cluster"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// strictBundle is the embedded policy with sys.health taken from workers:
// a restriction, which keeps every duty rule.
func strictBundle(t *testing.T) *policy.Bundle {
	t.Helper()
	b, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(b)
	var out policy.Bundle
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	perms := out.Data["cxt"].(map[string]any)["roles"].(map[string]any)["permissions"].(map[string]any)
	var kept []any
	for _, r := range perms["sys.health"].([]any) {
		if r != "worker" {
			kept = append(kept, r)
		}
	}
	perms["sys.health"] = kept
	out.Version = "strict-health"
	return &out
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

// A follower that misses a policy change and catches up by InstallSnapshot
// enforces the new policy as soon as it has restored the snapshot, not
// after its next restart: restoring rebuilds the derived policy.
func TestAFollowerCaughtUpBySnapshotEnforcesTheNewPolicyAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	embedded, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	authz := map[string]*policy.Authorizer{}
	c, err := loopback.New(t.TempDir, loopback.RegisterKV)
	if err != nil {
		t.Fatal(err)
	}
	c.Configure = func(cfg *cluster.Config) {
		a, err := policy.New(ctx, embedded) // as a node process starts
		if err != nil {
			t.Fatal(err)
		}
		authz[cfg.NodeID] = a
		cfg.Register = func(reg *state.Registry) {
			loopback.RegisterKV(reg)
			policy.Register(reg, a)
		}
		cfg.TrailingLogs = 2 // a snapshot drops the log a stopped follower would need
	}
	t.Cleanup(c.Close)
	if err := c.Start(ctx, 3); err != nil {
		t.Fatal(err)
	}
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var follower *loopback.Node
	for _, n := range c.Running() {
		if n != l {
			follower = n
		}
	}
	if !workerMaySeeHealth(t, authz[follower.ID]) {
		t.Fatal("the embedded policy should let a worker see sys.health")
	}
	c.Stop(follower)

	cmd, err := policy.SetCommand(strictBundle(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ProposeOK(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if workerMaySeeHealth(t, authz[l.ID]) {
		t.Fatal("the leader does not enforce the policy it applied")
	}
	for i := range 10 {
		if _, err := l.ProposeOK(ctx, loopback.Put(fmt.Sprintf("k%d", i), []byte("v"))); err != nil {
			t.Fatal(err)
		}
	}
	// Every running node snapshots, so that whichever leads when the
	// follower returns (a slow run can change leaders) has dropped the log
	// it would need.
	for _, n := range c.Running() {
		if err := n.Raft().Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
	}

	if err := c.Restart(follower); err != nil {
		t.Fatal(err)
	}
	if err := follower.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if snaps, _ := filepath.Glob(filepath.Join(follower.Dir, "raft", "snapshots", "*")); len(snaps) == 0 {
		t.Fatal("the follower caught up from the log, not by InstallSnapshot")
	}
	a := authz[follower.ID]
	if a.Version() != "strict-health" || workerMaySeeHealth(t, a) {
		t.Fatalf("the follower restored the snapshot but enforces policy %q", a.Version())
	}
}
