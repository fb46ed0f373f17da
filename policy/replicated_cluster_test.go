package policy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"cxt/policy"
	"cxt/storage/cluster"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

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
	sec := newKey(t)
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
			policy.Register(reg, a, signers{"acct-sec": sec}.key)
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

	if _, err := l.ProposeOK(ctx, activation(t, bundleOf(t, "strict-health", strictHealth), sec, "acct-sec")); err != nil {
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

// Every node of a cluster switches to a signed bundle at the same log
// index, refuses a bad one alike, and a rollback brings the earlier
// decisions back on every node.
func TestEveryNodeSwitchesAtTheSameIndexAndARollbackRestoresTheOldDecisions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	embedded, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	sec := newKey(t)
	authz := map[string]*policy.Authorizer{}
	c, err := loopback.New(t.TempDir, loopback.RegisterKV)
	if err != nil {
		t.Fatal(err)
	}
	c.Configure = func(cfg *cluster.Config) {
		a, err := policy.New(ctx, embedded)
		if err != nil {
			t.Fatal(err)
		}
		authz[cfg.NodeID] = a
		cfg.Register = func(reg *state.Registry) {
			loopback.RegisterKV(reg)
			policy.Register(reg, a, signers{"acct-sec": sec}.key)
		}
	}
	t.Cleanup(c.Close)
	if err := c.Start(ctx, 3); err != nil {
		t.Fatal(err)
	}
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// everyNode waits until every node has applied what the leader has,
	// then checks each one's record and decisions.
	everyNode := func(version string, index uint64, workerMay bool) {
		t.Helper()
		if _, err := c.Converge(ctx); err != nil {
			t.Fatal(err)
		}
		for _, n := range c.Running() {
			cur := current(t, n.State())
			if cur == nil || cur.Version != version || cur.Index != index {
				t.Fatalf("node %s: in force %+v, want %s at %d", n.ID, cur, version, index)
			}
			if a := authz[n.ID]; a.Version() != version || workerMaySeeHealth(t, a) != workerMay {
				t.Fatalf("node %s enforces %q (worker may see health: %v)", n.ID, a.Version(), !workerMay)
			}
		}
	}
	// inForce is the activation in force once every node has applied
	// what the leader has: the node proposed through may have lost the
	// lead on a slow run, and then applies after it answers.
	inForce := func() *policy.Activation {
		t.Helper()
		if _, err := c.Converge(ctx); err != nil {
			t.Fatal(err)
		}
		return current(t, l.State())
	}
	if _, err := l.ProposeOK(ctx, activation(t, bundleOf(t, "strict-1", strictHealth), sec, "acct-sec")); err != nil {
		t.Fatal(err)
	}
	strict := inForce()
	everyNode("strict-1", strict.Index, false)

	// A bundle whose tests fail is refused by every node: the one in force stays.
	failing := bundleOf(t, "open-2", func(f policy.Files) {
		f["rego/extra_test.rego"] = "package cxt.extra_test\n\nimport rego.v1\n\ntest_fails if false\n"
	})
	if _, err := l.ProposeOK(ctx, activation(t, failing, sec, "acct-sec")); !policy.CodeTestsFail.Is(err) {
		t.Fatalf("a failing bundle: %v", err)
	}
	everyNode("strict-1", strict.Index, false)

	if _, err := l.ProposeOK(ctx, activation(t, bundleOf(t, "open-2", nil), sec, "acct-sec")); err != nil {
		t.Fatal(err)
	}
	open := inForce()
	if open.Index <= strict.Index {
		t.Fatalf("open-2 activated at %d, strict-1 at %d", open.Index, strict.Index)
	}
	everyNode("open-2", open.Index, true)

	if _, err := l.ProposeOK(ctx, policy.RollbackCommand("strict-1", strict.Index, time.Now())); err != nil {
		t.Fatal(err)
	}
	back := inForce()
	if back.RollbackOf != strict.Index || back.Digest != strict.Digest {
		t.Fatalf("rollback recorded %+v", back)
	}
	everyNode("strict-1", back.Index, false)
}
