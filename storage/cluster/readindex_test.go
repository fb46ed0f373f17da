package cluster_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"cxt/storage/cluster/loopback"
)

// A linearizable read costs a quorum heartbeat, not a log entry and a
// quorum fsync: however many reads, the log does not grow.
func TestClusterReadsWriteNothingToTheLog(t *testing.T) {
	c := start(t, 3)
	l := leader(t, c)
	if _, err := l.ProposeOK(ctx(t), loopback.Put("k", []byte("v-k"))); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Running() { // every node has done a round in this term
		if err := n.ReadBarrier(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	before := l.Raft().LastIndex()
	var wg sync.WaitGroup
	for _, n := range c.Running() {
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					if err := n.ReadBarrier(ctx(t)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if after := l.Raft().LastIndex(); after != before {
		t.Fatalf("600 reads grew the log from %d to %d", before, after)
	}
}

// A new leader's commit index may lag what its predecessor committed; the
// first read of its term commits an empty entry first, so a read right after
// a change of leader still sees every acknowledged write.
func TestClusterReadsRightAfterALeaderChangeSeeEveryAcknowledgedWrite(t *testing.T) {
	c := start(t, 3)
	for round := range 3 {
		old := leader(t, c)
		var acked []string
		for i := range 20 {
			key := fmt.Sprintf("r%d-%02d", round, i)
			if _, err := old.ProposeOK(ctx(t), loopback.Put(key, []byte("v-"+key))); err != nil {
				t.Fatal(err)
			}
			acked = append(acked, key)
		}
		if err := old.TransferLeadership(); err != nil {
			t.Fatal(err)
		}
		var next *loopback.Node
		for next = leader(t, c); next.ID == old.ID; next = leader(t, c) {
			time.Sleep(10 * time.Millisecond)
		}
		for _, n := range c.Running() {
			if err := n.ReadBarrier(ctx(t)); err != nil {
				t.Fatal(err)
			}
			mustHave(t, n, acked)
		}
	}
}
