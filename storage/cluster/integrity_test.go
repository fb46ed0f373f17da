package cluster_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"cxt/storage/cluster"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

func TestClusterRotatesAKeyTermThatTookItsSealBudget(t *testing.T) {
	c, err := loopback.New(t.TempDir, loopback.RegisterKV)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.Configure = func(cfg *cluster.Config) { cfg.SealBudget = 40 }
	if err := c.Start(ctx(t), 3); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 30 {
		key := fmt.Sprintf("k-%02d", i)
		if _, err := leader(t, c).ProposeOK(ctx(t), loopback.Put(key, []byte("v-"+key))); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	// Every write seals two values (the record and its command result):
	// the budget of 40 is spent by the 20th, and the leader rotates.
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Running() {
		for n.Keys().Active() < 2 {
			if time.Now().After(deadline) {
				term, log, records := n.State().SealCounts()
				t.Fatalf("%s still on term %d (%d log seals, %d values)", n.ID, term, log, records)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := c.Converge(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Running() {
		mustHave(t, n, keys)
		if term, worn := n.State().Worn(); worn {
			t.Fatalf("%s: term %d still worn after rotation", n.ID, term)
		}
	}
}

func follower(t *testing.T, c *loopback.Cluster) *loopback.Node {
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

func TestClusterCatchesUpAWholeOlderStateFileAndRefusesAnEditedOne(t *testing.T) {
	c := start(t, 3)
	f := follower(t, c)
	path := filepath.Join(f.Dir, "state.db")
	early := writers([]*cluster.Node{leader(t, c).Node}, "early", 10)
	if _, err := c.Converge(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c.Stop(f)
	older, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(f); err != nil {
		t.Fatal(err)
	}
	late := writers([]*cluster.Node{leader(t, c).Node}, "late", 10)
	if _, err := c.Converge(ctx(t)); err != nil {
		t.Fatal(err)
	}

	// The whole file put back is genuine (its own head): Raft replays the
	// log after its applied index and the node is current again.
	c.Stop(f)
	if err := os.WriteFile(path, older, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Converge(ctx(t)); err != nil {
		t.Fatal(err)
	}
	mustHave(t, f, append(early, late...))

	// An applied index moved past entries the file does not hold would make
	// the node skip them: the node refuses to start instead.
	c.Stop(f)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		return meta.Put([]byte("applied"), binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(meta.Get([]byte("applied")))+1000))
	})
	db.Close()
	if err := c.Restart(f); !errors.Is(err, state.ErrTampered) {
		t.Fatalf("restart on an edited applied index: %v", err)
	}
	f.Node = nil
}
