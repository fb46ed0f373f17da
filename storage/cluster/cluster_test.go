package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/cluster"
	"cxt/storage/cluster/loopback"
)

func start(t *testing.T, size int) *loopback.Cluster {
	t.Helper()
	c, err := loopback.New(t.TempDir, loopback.RegisterKV)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Start(ctx(t), size); err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func leader(t *testing.T, c *loopback.Cluster) *loopback.Node {
	t.Helper()
	l, err := c.Leader(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// writers proposes count records through each of nodes concurrently and
// returns the keys whose writes were acknowledged.
func writers(nodes []*cluster.Node, prefix string, count int) []string {
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range count {
				key := fmt.Sprintf("%s-%d-%04d", prefix, w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := n.ProposeOK(ctx, loopback.Put(key, []byte("v-"+key)))
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return acked
}

func running(c *loopback.Cluster) []*cluster.Node {
	var out []*cluster.Node
	for _, n := range c.Running() {
		out = append(out, n.Node)
	}
	return out
}

func mustHave(t *testing.T, n *loopback.Node, keys []string) {
	t.Helper()
	for _, k := range keys {
		v, err := loopback.Get(n.Node, k)
		if err != nil {
			t.Fatal(err)
		}
		if string(v) != "v-"+k {
			t.Fatalf("%s lost acknowledged write %s (got %q)", n.ID, k, v)
		}
	}
}

func TestClusterReplicatesThroughAnyNodeAndSurvivesLosingTheLeader(t *testing.T) {
	c := start(t, 3)
	acked := writers(running(c), "before", 30)
	if len(acked) != 90 {
		t.Fatalf("%d of 90 writes acknowledged with all nodes up", len(acked))
	}

	old := leader(t, c)
	c.Stop(old)
	// Writes keep going through the survivors while they elect a new leader.
	acked = append(acked, writers(running(c), "during", 20)...)
	if l := leader(t, c); l.ID == old.ID {
		t.Fatal("stopped node still leads")
	}
	if err := c.Restart(old); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, writers(running(c), "after", 10)...)

	for _, n := range c.Running() {
		if err := n.ReadBarrier(ctx(t)); err != nil {
			t.Fatalf("%s read barrier: %v", n.ID, err)
		}
		mustHave(t, n, acked)
	}
	sums, err := c.Converge(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if sums["n1"] != sums["n2"] || sums["n2"] != sums["n3"] {
		t.Fatalf("replicas diverged at the same index: %x", sums)
	}
}

func TestClusterFollowerReadsAreLinearizable(t *testing.T) {
	c := start(t, 3)
	l := leader(t, c)
	var follower *loopback.Node
	for _, n := range c.Running() {
		if n != l {
			follower = n
		}
	}
	for i := range 20 {
		v := []byte{byte('a' + i)}
		if _, err := l.ProposeOK(ctx(t), loopback.Put("x", v)); err != nil {
			t.Fatal(err)
		}
		if err := follower.ReadBarrier(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if got, _ := loopback.Get(follower.Node, "x"); !bytes.Equal(got, v) {
			t.Fatalf("follower read %q after %q was acknowledged", got, v)
		}
	}
}

func TestClusterRefusesAJoinWithTheWrongKey(t *testing.T) {
	c := start(t, 1)
	key, _ := sm.GenerateKey()
	_, err := cluster.RequestIdentity(ctx(t), c.Nodes["n1"].Addr, keyring.NewMasterKey(), "intruder", "127.0.0.1:1", key)
	if !errors.Is(err, cluster.ErrWrongClusterKey) {
		t.Fatalf("join with a wrong key: %v", err)
	}
	if len(c.Nodes["n1"].Status().Servers) != 1 {
		t.Fatal("the cluster changed after a refused join")
	}
}

func TestClusterRemovesNodesAndTransfersLeadership(t *testing.T) {
	c := start(t, 3)
	l := leader(t, c)
	if err := l.TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	for leader(t, c).ID == l.ID {
		time.Sleep(50 * time.Millisecond)
	}
	// Remove a node through a node we hold, whatever its role: followers forward.
	victim, via := c.Nodes["n3"], c.Nodes["n1"]
	if err := via.RemoveServer(ctx(t), victim.ID); err != nil {
		t.Fatal(err)
	}
	c.Stop(victim)
	delete(c.Nodes, victim.ID)
	if err := c.WaitVoters(ctx(t), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := leader(t, c).ProposeOK(ctx(t), loopback.Put("after-remove", []byte("ok"))); err != nil {
		t.Fatal(err)
	}
}

func TestClusterKeepsNoPlaintextInLogSnapshotsOrState(t *testing.T) {
	c := start(t, 2)
	marker := []byte("CANARY-6222020200112233445")
	n1 := c.Nodes["n1"]
	for i := range 50 {
		if _, err := n1.ProposeOK(ctx(t), loopback.Put(fmt.Sprintf("w%03d", i), marker)); err != nil {
			t.Fatal(err)
		}
	}
	if err := leader(t, c).Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Converge(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Running() {
		if hits := scanFor(n.Dir, marker); len(hits) > 0 {
			t.Fatalf("plaintext marker found in %v", hits)
		}
	}
}

func TestClusterNodeRestartKeepsEveryAcknowledgedWrite(t *testing.T) {
	c := start(t, 1)
	n1 := c.Nodes["n1"]
	node := n1.Node
	// Writers propose until the node stops under them.
	var mu sync.Mutex
	var acked []string
	interrupted := 0
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("mid-%d-%06d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := node.ProposeOK(ctx, loopback.Put(key, []byte("v-"+key)))
				cancel()
				mu.Lock()
				if err != nil {
					interrupted++
					mu.Unlock()
					return
				}
				acked = append(acked, key)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	c.Stop(n1) // mid-batch: writers are still proposing
	wg.Wait()
	if len(acked) == 0 || interrupted == 0 {
		t.Fatalf("%d acknowledged, %d interrupted: the stop did not land mid-stream", len(acked), interrupted)
	}
	if err := c.Restart(n1); err != nil {
		t.Fatal(err)
	}
	if err := n1.ReadBarrier(ctx(t)); err != nil {
		t.Fatal(err)
	}
	mustHave(t, n1, acked)
}

func scanFor(root string, marker []byte) []string {
	var hits []string
	filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, marker) {
			hits = append(hits, path)
		}
		return nil
	})
	return hits
}

// After a power loss the state file may be torn; the node sets it aside and
// rebuilds from its newest snapshot and the Raft log.
func TestClusterRebuildsAStateFileLeftDirtyByAMachineRestart(t *testing.T) {
	c := start(t, 3)
	acked := writers(running(c), "pre", 20)
	victim := c.Nodes["n2"]
	if err := victim.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, writers(running(c), "post", 10)...)
	c.Stop(victim)
	statePath := filepath.Join(victim.Dir, "state.db")
	os.WriteFile(statePath, bytes.Repeat([]byte("torn"), 4096), 0o600)
	os.WriteFile(statePath+".dirty", []byte("a-previous-boot\n"), 0o600)
	if err := c.Restart(victim); err != nil {
		t.Fatal(err)
	}
	if err := victim.ReadBarrier(ctx(t)); err != nil {
		t.Fatal(err)
	}
	mustHave(t, victim, acked)
	sums, err := c.Converge(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if sums["n2"] != sums["n1"] {
		t.Fatal("the rebuilt replica differs")
	}
}
