package cluster_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"cxt/storage/cluster"
	"cxt/storage/cluster/loopback"
)

// members returns the running nodes other than skip.
func members(c *loopback.Cluster, skip *loopback.Node) []*loopback.Node {
	var out []*loopback.Node
	for _, n := range c.Running() {
		if n != skip {
			out = append(out, n)
		}
	}
	return out
}

func followerOf(t *testing.T, c *loopback.Cluster) *loopback.Node {
	t.Helper()
	l := leader(t, c)
	for _, n := range c.Running() {
		if n != l {
			return n
		}
	}
	t.Fatal("no follower")
	return nil
}

func peerAs(t *testing.T, id *cluster.Identity) *cluster.TestPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := cluster.NewTestPeer(ln, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func shortCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// A removed node keeps its certificate, its key and a copy of the data. It
// must not be able to disturb the members: not vote or call an election,
// not forward a write, not remove anyone, not add itself back.
func TestClusterRefusesARemovedNodeEverything(t *testing.T) {
	c := start(t, 3)
	victim := followerOf(t, c)
	if err := leader(t, c).RemoveServer(ctx(t), victim.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitVoters(ctx(t), 2); err != nil {
		t.Fatal(err)
	}
	rest := members(c, victim)
	for _, n := range rest { // the removal has applied on every member
		if err := n.ReadBarrier(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	l := leader(t, c)
	other := rest[0]
	if other == l {
		other = rest[1]
	}
	term := l.Raft().CurrentTerm()

	// The victim keeps running, as a node whose operator did not stop it;
	// the test speaks for it with its very certificate.
	removed := peerAs(t, victim.Identity)
	if err := removed.Forward(shortCtx(t), victim.Keys(), l.Addr, loopback.Put("intruder", []byte("x"))); err == nil {
		t.Error("the leader applied a write forwarded by the removed node")
	}
	if err := removed.Remove(shortCtx(t), l.Addr, other.ID); err == nil {
		t.Errorf("the leader removed %s at the removed node's request", other.ID)
	}
	if err := removed.AddSelf(shortCtx(t), l.Addr); err == nil {
		t.Error("the removed node added itself back with its old certificate")
	}
	if err := removed.ReadIndex(shortCtx(t), l.Addr); err == nil {
		t.Error("the leader served a read index to the removed node")
	}

	// Votes and leadership transfers last: were they taken, the leader
	// would change and the requests above would miss it.
	for _, m := range rest {
		if resp, err := removed.RequestVote(m.Addr, m.ID, term+100); err == nil {
			t.Errorf("%s answered a vote request of the removed node: %+v", m.ID, resp)
		}
		if err := removed.TimeoutNow(m.Addr, m.ID); err == nil {
			t.Errorf("%s took a leadership transfer from the removed node", m.ID)
		}
	}
	// The cluster is as it was, and keeps serving.
	if got := leader(t, c); got.ID != l.ID || got.Raft().CurrentTerm() != term {
		t.Fatalf("leadership moved: %s in term %d, was %s in %d", got.ID, got.Raft().CurrentTerm(), l.ID, term)
	}
	if s := l.Status().Servers; len(s) != 2 {
		t.Fatalf("configuration changed: %+v", s)
	}
	var nodes []*cluster.Node
	for _, n := range rest {
		nodes = append(nodes, n.Node)
	}
	if acked := writers(nodes, "after", 10); len(acked) != 20 {
		t.Fatalf("%d of 20 writes acknowledged after the attempts", len(acked))
	}
	for _, n := range rest {
		if err := n.ReadBarrier(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if v, _ := loopback.Get(n.Node, "intruder"); v != nil {
			t.Fatalf("%s holds the removed node's write", n.ID)
		}
	}
}

// The same holds on the connections a node opened while it was a member:
// they stop carrying anything once it is removed.
func TestClusterCutsOffTheOpenConnectionsOfARemovedNode(t *testing.T) {
	c := start(t, 3)
	l := leader(t, c)
	victim := followerOf(t, c)
	other := members(c, victim)[0]
	if other == l {
		other = members(c, victim)[1]
	}
	// As a member, the victim opens an RPC connection to the leader and a
	// Raft connection to the other follower; both stay open.
	peer := peerAs(t, victim.Identity)
	if err := peer.ReadIndex(ctx(t), l.Addr); err != nil {
		t.Fatalf("a member's read index: %v", err)
	}
	if resp, err := peer.RequestVote(other.Addr, other.ID, 1); err != nil || resp.Granted {
		t.Fatalf("a member's stale vote request: %+v, %v", resp, err)
	}
	if err := l.RemoveServer(ctx(t), victim.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitVoters(ctx(t), 2); err != nil {
		t.Fatal(err)
	}
	if err := other.ReadBarrier(ctx(t)); err != nil { // the other follower knows
		t.Fatal(err)
	}
	term := l.Raft().CurrentTerm()
	if err := peer.ReadIndex(shortCtx(t), l.Addr); err == nil {
		t.Error("the leader still serves read indexes on the removed node's open connection")
	}
	if resp, err := peer.RequestVote(other.Addr, other.ID, term+100); err == nil {
		t.Fatalf("%s answered a vote request on the removed node's open connection: %+v", other.ID, resp)
	}
	if got := leader(t, c); got.ID != l.ID || got.Raft().CurrentTerm() != term {
		t.Fatalf("leadership moved: %s in term %d", got.ID, got.Raft().CurrentTerm())
	}
}

// A removed node comes back only through a new join, which proves the
// master key and issues a new certificate; the old one stays refused.
func TestClusterTakesARemovedNodeBackOnlyThroughANewJoin(t *testing.T) {
	c := start(t, 3)
	victim := c.Nodes["n3"]
	old := victim.Identity
	if err := c.Nodes["n1"].RemoveServer(ctx(t), "n3"); err != nil {
		t.Fatal(err)
	}
	c.Stop(victim)
	delete(c.Nodes, "n3")
	if err := c.WaitVoters(ctx(t), 2); err != nil {
		t.Fatal(err)
	}
	back, err := c.Join(ctx(t), "n3", c.Nodes["n1"])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitVoters(ctx(t), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := back.ProposeOK(ctx(t), loopback.Put("back", []byte("v-back"))); err != nil {
		t.Fatal(err)
	}
	l := leader(t, c)
	if err := l.ReadBarrier(ctx(t)); err != nil {
		t.Fatal(err)
	}
	stale := peerAs(t, old)
	if err := stale.Forward(shortCtx(t), back.Keys(), l.Addr, loopback.Put("stale", []byte("x"))); err == nil {
		t.Error("the old certificate of a node that joined again is still accepted")
	}
	// A member cannot be joined over: its certificate would be replaced.
	if _, err := c.Join(shortCtx(t), "n2", c.Nodes["n1"]); err == nil || !strings.Contains(err.Error(), "member") {
		t.Fatalf("a join under a member's ID: %v", err)
	}
}

// Whoever holds a copy of the CA key can mint a certificate for a member's
// ID; it is not the certificate the cluster pinned for that ID. And a
// dialler checks that the peer it reached is the member it meant.
func TestClusterRefusesCertificatesNamingAnotherNode(t *testing.T) {
	c := start(t, 3)
	l := leader(t, c)
	follower := followerOf(t, c)
	minted, err := c.Issue(follower.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := peerAs(t, minted).Forward(shortCtx(t), l.Keys(), l.Addr, loopback.Put("minted", []byte("x"))); err == nil {
		t.Errorf("the leader accepted a minted certificate for %s", follower.ID)
	}
	for _, m := range members(c, l) {
		if _, err := peerAs(t, minted).RequestVote(m.Addr, m.ID, l.Raft().CurrentTerm()+100); err == nil {
			t.Errorf("%s answered a vote request over a minted certificate", m.ID)
		}
	}
	outsider, err := c.Issue("n9")
	if err != nil {
		t.Fatal(err)
	}
	if err := peerAs(t, outsider).AddSelf(shortCtx(t), l.Addr); err == nil {
		t.Error("a node the cluster issued no certificate added itself")
	}

	// An impostor at a member's address, with a valid certificate naming
	// another member: a node dialling that address refuses it.
	victim := c.Nodes["n3"]
	if victim == l {
		victim = c.Nodes["n2"]
	}
	addr := victim.Addr
	c.Stop(victim)
	var ln net.Listener
	for i := 0; ; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		if i == 50 {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	liar, err := c.Issue(l.ID) // names a member, just not the one at this address
	if err != nil {
		t.Fatal(err)
	}
	imp, err := cluster.NewTestPeer(ln, liar)
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	err = l.DialRaft(addr)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("names node %q, not %q", l.ID, victim.ID)) {
		t.Fatalf("dialling %s's address reached an impostor: %v", victim.ID, err)
	}
}

// A member whose folder comes back from a backup taken before another node
// joined does not know the newcomer; if the newcomer leads, the member takes
// it on the word of a member it knows, and catches up from it.
func TestClusterAMemberRestoredFromBeforeAJoinCatchesUpFromTheNewcomer(t *testing.T) {
	c := start(t, 3)
	stale := c.Nodes["n3"]
	c.Stop(stale)
	backup := t.TempDir()
	if err := os.CopyFS(backup, os.DirFS(stale.Dir)); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(stale); err != nil {
		t.Fatal(err)
	}
	n4, err := c.Join(ctx(t), "n4", c.Nodes["n1"])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitVoters(ctx(t), 4); err != nil {
		t.Fatal(err)
	}
	acked := writers([]*cluster.Node{c.Nodes["n1"].Node, n4.Node}, "since-backup", 10)
	if len(acked) != 20 {
		t.Fatalf("%d of 20 writes acknowledged", len(acked))
	}
	for l := leader(t, c); l.ID != "n4"; l = leader(t, c) {
		if err := l.Raft().LeadershipTransferToServer("n4", raft.ServerAddress(n4.Addr)).Error(); err != nil {
			t.Logf("transfer to n4: %v", err)
		}
	}

	c.Stop(stale)
	if err := os.RemoveAll(stale.Dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(stale.Dir, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(stale); err != nil {
		t.Fatal(err)
	}
	if err := stale.ReadBarrier(ctx(t)); err != nil {
		t.Fatal(err)
	}
	mustHave(t, stale, acked)
	if st := stale.Status(); st.Leader != "n4" || len(st.Servers) != 4 {
		t.Fatalf("the restored member follows %q with %d members", st.Leader, len(st.Servers))
	}
}
