package cluster_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"cxt/storage/cluster"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// startMixed starts a 3-node cluster in which old registers only the kv
// commands (an older binary) and the others also what newer adds.
func startMixed(t *testing.T, old string, newer func(*state.Registry)) *loopback.Cluster {
	t.Helper()
	c, err := loopback.New(t.TempDir, loopback.RegisterKV)
	if err != nil {
		t.Fatal(err)
	}
	c.Configure = func(cfg *cluster.Config) {
		if cfg.NodeID != old {
			cfg.Register = func(reg *state.Registry) {
				loopback.RegisterKV(reg)
				newer(reg)
			}
		}
	}
	t.Cleanup(c.Close)
	if err := c.Start(ctx(t), 3); err != nil {
		t.Fatal(err)
	}
	// Keep the old binary off the lead, so that the outcome of the
	// proposals below does not depend on the election.
	for leader(t, c).ID == old {
		c.Nodes[old].TransferLeadership()
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

func putKV(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	return nil, tx.Put(loopback.KVBucket, []byte(cmd.Type), cmd.Body)
}

// waitFailStop waits for n to stop itself and returns why.
func waitFailStop(t *testing.T, n *loopback.Node) error {
	t.Helper()
	select {
	case <-n.Failed():
	case <-ctx(t).Done():
		t.Fatalf("%s did not stop itself", n.ID)
	}
	err := n.FailStop()
	if !errors.Is(err, cluster.ErrFailStop) {
		t.Fatalf("%s stopped with %v", n.ID, err)
	}
	return err
}

// A node given a log entry of a type its binary does not know stops, with
// a line that says to upgrade, instead of answering unknown_command while
// its peers apply the entry; the others go on.
func TestANodeStopsAtALogEntryOfAnUnknownType(t *testing.T) {
	c := startMixed(t, "n3", func(reg *state.Registry) { reg.Handle("kv.newer", putKV) })
	n1, n3 := c.Nodes["n1"], c.Nodes["n3"]

	if _, err := n1.ProposeOK(ctx(t), state.NewCommand("kv.newer", []byte("applied"), time.Now())); err != nil {
		t.Fatalf("n1 and n2 should apply kv.newer: %v", err)
	}
	at := leader(t, c).State().AppliedIndex() // the leader applied kv.newer
	err := waitFailStop(t, n3)
	for _, want := range []string{"kv.newer", "unknown to this cxt", "upgrade"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the fail-stop does not say %q: %v", want, err)
		}
	}
	st := n3.State()
	c.Stop(n3)
	for _, id := range []string{"n1", "n2"} {
		if err := c.Nodes[id].ReadBarrier(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if v, _ := loopback.Get(c.Nodes[id].Node, "kv.newer"); string(v) != "applied" {
			t.Fatalf("%s did not apply kv.newer: %q", id, v)
		}
	}
	// The entry was neither answered nor skipped on n3: its file stops
	// before it, so a restart meets it again.
	if got := st.AppliedIndex(); got >= at {
		t.Fatalf("n3 applied up to %d, past the entry it could not apply (%d)", got, at)
	}
	if _, err := n1.ProposeOK(ctx(t), loopback.Put("after", []byte("v-after"))); err != nil {
		t.Fatalf("the two remaining nodes stopped too: %v", err)
	}
}

// Command sets in a rolling upgrade: a cluster made by a binary of set 1
// whose n2 and n3 were upgraded to one that speaks set 2 (kv.v2) while n1
// was not yet. kv.v2 is not proposed until the cluster speaks set 2;
// raising it stops n1 with a message to upgrade; once upgraded, n1 catches
// up.
func TestACommandSetIsRaisedOnlyForBinariesThatSpeakIt(t *testing.T) {
	c := startMixed(t, "n1", func(reg *state.Registry) { reg.HandleFrom(2, "kv.v2", putKV) })
	via, old := c.Nodes["n2"], c.Nodes["n1"]

	index := via.State().AppliedIndex()
	if _, err := via.Propose(ctx(t), state.NewCommand("kv.v2", []byte("early"), time.Now())); !errors.Is(err, state.ErrCommandSet) {
		t.Fatalf("kv.v2 proposed before the cluster speaks set 2: %v", err)
	}
	if via.State().AppliedIndex() != index {
		t.Fatal("a refused proposal reached the log")
	}

	if _, err := via.ProposeOK(ctx(t), state.CommandSetCommand(2, time.Now())); err != nil {
		t.Fatal(err)
	}
	err := waitFailStop(t, old)
	if !strings.Contains(err.Error(), "command set 2") || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("the old node's fail-stop: %v", err)
	}
	c.Stop(old)
	if _, err := via.ProposeOK(ctx(t), state.NewCommand("kv.v2", []byte("now"), time.Now())); err != nil {
		t.Fatalf("kv.v2 once the cluster speaks set 2: %v", err)
	}

	// Restarted with the old binary it stops at the same entry again.
	if err := c.Restart(old); err != nil {
		t.Fatal(err)
	}
	waitFailStop(t, old)
	c.Stop(old)
	// Upgraded, it applies the raise and everything after.
	c.Configure = func(cfg *cluster.Config) {
		cfg.Register = func(reg *state.Registry) {
			loopback.RegisterKV(reg)
			reg.HandleFrom(2, "kv.v2", putKV)
		}
	}
	if err := c.Restart(old); err != nil {
		t.Fatal(err)
	}
	if err := old.ReadBarrier(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if v, _ := loopback.Get(old.Node, "kv.v2"); string(v) != "now" || old.State().CommandSet() != 2 {
		t.Fatalf("the upgraded node: kv.v2=%q, set %d", v, old.State().CommandSet())
	}
	if _, err := c.Converge(ctx(t)); err != nil {
		t.Fatal(err)
	}
}
