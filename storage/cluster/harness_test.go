package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// testCluster runs nodes in this process on loopback listeners in temp dirs,
// as rqlite's store_multi_test does.
type testCluster struct {
	t      *testing.T
	master *keyring.MasterKey
	caKey  *sm.PrivateKey
	ca     *sm.Certificate
	nodes  map[string]*testNode
}

type testNode struct {
	id, dir, addr string
	identity      *Identity
	node          *Node
}

func registerKV(reg *state.Registry) {
	reg.Bucket("kv")
	reg.Handle("kv.put", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		k, v, ok := bytes.Cut(cmd.Body, []byte("="))
		if !ok {
			return nil, state.Reject("invalid", "want key=value")
		}
		return k, tx.Put("kv", k, v)
	})
}

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	caKey, _ := sm.GenerateKey()
	ca, err := sm.NewCA(caKey, "test cluster CA", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, master: keyring.NewMasterKey(), caKey: caKey, ca: ca, nodes: map[string]*testNode{}}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n.node != nil {
				n.node.Close()
			}
		}
	})
	return c
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // a restarted node takes its old port back; it may linger briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}

func (c *testCluster) config(n *testNode, ln net.Listener, join []string) Config {
	return Config{
		NodeID: n.id, Dir: n.dir, Listener: ln, Advertise: ln.Addr().String(), Identity: n.identity,
		Master: c.master, Register: registerKV, JoinAddrs: join,
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
	}
}

// bootstrap starts the first node of a new cluster.
func (c *testCluster) bootstrap(id string) *testNode {
	c.t.Helper()
	key, _ := sm.GenerateKey()
	cert, err := sm.Issue(c.ca, c.caKey, key.Public(), id, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		c.t.Fatal(err)
	}
	n := &testNode{id: id, dir: c.t.TempDir(), addr: "127.0.0.1:0", identity: &Identity{Key: key, Cert: cert, CA: c.ca}}
	cfg := c.config(n, listen(c.t, n.addr), nil)
	n.addr = cfg.Advertise
	if n.node, err = Open(cfg); err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.node.Bootstrap(ctx, c.caKey); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id] = n
	return n
}

// join adds a node through via, as "cxt join" then "cxt serve" do.
func (c *testCluster) join(id string, via *testNode) *testNode {
	c.t.Helper()
	ln := listen(c.t, "127.0.0.1:0")
	n := &testNode{id: id, dir: c.t.TempDir(), addr: ln.Addr().String()}
	key, _ := sm.GenerateKey()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	if n.identity, err = RequestIdentity(ctx, via.addr, c.master, id, n.addr, key); err != nil {
		c.t.Fatal(err)
	}
	cfg := c.config(n, ln, []string{via.addr})
	if n.node, err = Open(cfg); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id] = n
	return n
}

// stop closes a node as a crash would leave it: its files stay as they are.
func (c *testCluster) stop(n *testNode) {
	c.t.Helper()
	n.node.Close()
	n.node = nil
}

func (c *testCluster) restart(n *testNode) {
	c.t.Helper()
	cfg := c.config(n, listen(c.t, n.addr), nil)
	var err error
	if n.node, err = Open(cfg); err != nil {
		c.t.Fatal(err)
	}
}

func (c *testCluster) running() []*testNode {
	var out []*testNode
	for _, n := range c.nodes {
		if n.node != nil {
			out = append(out, n)
		}
	}
	return out
}

func (c *testCluster) leader() *testNode {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.running() {
			if n.node.Status().Role == "leader" {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader elected within 20s")
	return nil
}

func (c *testCluster) waitVoters(n int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if l := c.leader(); len(l.node.Status().Servers) == n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("cluster did not reach %d voters", n)
}

// converge waits until every running node has applied the same index and
// returns their state hashes at that index.
func (c *testCluster) converge() map[string][sm.HashSize]byte {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		sums := map[string][sm.HashSize]byte{}
		indexes := map[uint64]bool{}
		for _, n := range c.running() {
			sum, idx, err := n.node.State().Hash()
			if err != nil {
				c.t.Fatal(err)
			}
			sums[n.id] = sum
			indexes[idx] = true
		}
		if len(indexes) == 1 {
			return sums
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatal("replicas did not reach the same applied index")
	return nil
}

func put(key, value string) *state.Command {
	return state.NewCommand("kv.put", []byte(key+"="+value), time.Now())
}

func get(t *testing.T, n *Node, key string) string {
	t.Helper()
	var v []byte
	if err := n.State().View(func(r *state.ReadTx) error {
		var err error
		v, err = r.Get("kv", []byte(key))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// writers proposes count records through each of nodes concurrently and
// returns the keys whose writes were acknowledged.
func writers(t *testing.T, nodes []*testNode, prefix string, count int) []string {
	t.Helper()
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func(n *Node, id string) {
			defer wg.Done()
			for i := range count {
				key := fmt.Sprintf("%s-%s-%04d", prefix, id, i)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := n.ProposeOK(ctx, put(key, "v-"+key))
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				}
			}
		}(n.node, n.id)
	}
	wg.Wait()
	return acked
}

func scanFor(t *testing.T, root string, marker []byte) []string {
	t.Helper()
	var hits []string
	filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, marker) {
			hits = append(hits, path)
		}
		return nil
	})
	return hits
}
