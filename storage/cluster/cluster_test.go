package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

func TestClusterReplicatesThroughAnyNodeAndSurvivesLosingTheLeader(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.bootstrap("n1")
	c.join("n2", n1)
	c.join("n3", n1)
	c.waitVoters(3)

	acked := writers(t, c.running(), "before", 30)
	if len(acked) != 90 {
		t.Fatalf("%d of 90 writes acknowledged with all nodes up", len(acked))
	}

	old := c.leader()
	c.stop(old)
	// Writes keep going through the survivors while they elect a new leader.
	acked = append(acked, writers(t, c.running(), "during", 20)...)
	newLeader := c.leader()
	if newLeader.id == old.id {
		t.Fatal("stopped node still leads")
	}

	c.restart(old)
	acked = append(acked, writers(t, c.running(), "after", 10)...)

	for _, n := range c.running() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := n.node.ReadBarrier(ctx); err != nil {
			t.Fatalf("%s read barrier: %v", n.id, err)
		}
		cancel()
		for _, k := range acked {
			if got := get(t, n.node, k); got != "v-"+k {
				t.Fatalf("%s lost acknowledged write %s (got %q)", n.id, k, got)
			}
		}
	}
	sums := c.converge()
	if sums["n1"] != sums["n2"] || sums["n2"] != sums["n3"] {
		t.Fatalf("replicas diverged at the same index: %x", sums)
	}
}

func TestClusterFollowerReadsAreLinearizable(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.bootstrap("n1")
	n2 := c.join("n2", n1)
	c.join("n3", n1)
	c.waitVoters(3)
	leader := c.leader()
	var follower *testNode
	for _, n := range c.running() {
		if n != leader {
			follower = n
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 20 {
		v := string(rune('a' + i))
		if _, err := leader.node.ProposeOK(ctx, put("x", v)); err != nil {
			t.Fatal(err)
		}
		if err := follower.node.ReadBarrier(ctx); err != nil {
			t.Fatal(err)
		}
		if got := get(t, follower.node, "x"); got != v {
			t.Fatalf("follower read %q after %q was acknowledged", got, v)
		}
	}
	_ = n2
}

func TestClusterRefusesAJoinWithTheWrongKey(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.bootstrap("n1")
	key, _ := sm.GenerateKey()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := RequestIdentity(ctx, n1.addr, keyring.NewMasterKey(), "intruder", "127.0.0.1:1", key)
	if !errors.Is(err, ErrWrongClusterKey) {
		t.Fatalf("join with a wrong key: %v", err)
	}
	if len(n1.node.Status().Servers) != 1 {
		t.Fatal("the cluster changed after a refused join")
	}
}

func TestClusterRemovesNodesAndTransfersLeadership(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.bootstrap("n1")
	c.join("n2", n1)
	n3 := c.join("n3", n1)
	c.waitVoters(3)
	leader := c.leader()
	if err := leader.node.TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	next := c.leader()
	for next.id == leader.id {
		time.Sleep(50 * time.Millisecond)
		next = c.leader()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Remove n3 through whichever node we hold; followers forward.
	via := n1
	if via == n3 {
		via = c.nodes["n2"]
	}
	if err := via.node.RemoveServer(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	c.stop(n3)
	delete(c.nodes, "n3")
	c.waitVoters(2)
	if _, err := c.leader().node.ProposeOK(ctx, put("after-remove", "ok")); err != nil {
		t.Fatal(err)
	}
}

func TestClusterKeepsNoPlaintextInLogSnapshotsOrState(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.bootstrap("n1")
	c.join("n2", n1)
	c.waitVoters(2)
	marker := "CANARY-6222020200112233445"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 50 {
		if _, err := n1.node.ProposeOK(ctx, put("w"+string(rune('a'+i%26))+string(rune('0'+i/26)), marker)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n1.node.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	c.converge()
	for _, n := range c.running() {
		if hits := scanFor(t, n.dir, []byte(marker)); len(hits) > 0 {
			t.Fatalf("plaintext marker found in %v", hits)
		}
	}
}

func TestClusterNodeRestartKeepsEveryAcknowledgedWrite(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.bootstrap("n1")
	// Stop the node while writers are in flight.
	done := make(chan []string)
	go func() { done <- writers(t, []*testNode{n1, n1, n1, n1}, "mid", 200) }()
	time.Sleep(150 * time.Millisecond)
	c.stop(n1)
	acked := <-done
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before the stop; the test proves nothing")
	}
	c.restart(n1)
	c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n1.node.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range acked {
		if get(t, n1.node, k) != "v-"+k {
			t.Fatalf("acknowledged write %s lost across restart", k)
		}
	}
}
