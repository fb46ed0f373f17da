// Package loopback runs a cxt cluster inside one process on loopback
// listeners, for tests and benchmarks (rqlite's store_multi_test idea).
package loopback

import (
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// Cluster is a set of in-process nodes sharing one master key and CA.
type Cluster struct {
	Master   *keyring.MasterKey
	CA       *sm.Certificate
	caKey    *sm.PrivateKey
	register func(*state.Registry)
	tempDir  func() string
	Nodes    map[string]*Node
	// Configure, when set, adjusts each node's configuration as it opens
	// (a node of another binary version, its own policy, log tuning).
	Configure func(*cluster.Config)
}

// Node is one member; Node is nil while it is stopped.
type Node struct {
	ID, Dir, Addr string
	Identity      *cluster.Identity
	*cluster.Node
}

// New prepares a cluster whose nodes keep their data under folders made by
// tempDir (t.TempDir in tests) and apply the commands register adds.
func New(tempDir func() string, register func(*state.Registry)) (*Cluster, error) {
	caKey, err := sm.GenerateKey()
	if err != nil {
		return nil, err
	}
	ca, err := sm.NewCA(caKey, "loopback cluster CA", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	return &Cluster{Master: keyring.NewMasterKey(), CA: ca, caKey: caKey, register: register, tempDir: tempDir, Nodes: map[string]*Node{}}, nil
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		if n.Node != nil {
			n.Node.Close()
		}
	}
}

func listen(addr string) (net.Listener, error) {
	var err error
	for range 50 { // a restarted node takes its old port back; it may linger briefly
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

func (c *Cluster) config(n *Node, ln net.Listener, join []string) cluster.Config {
	cfg := cluster.Config{
		NodeID: n.ID, Dir: n.Dir, Listener: ln, Advertise: ln.Addr().String(), Identity: n.Identity,
		Master: c.Master, Register: c.register, JoinAddrs: join,
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
	}
	if c.Configure != nil {
		c.Configure(&cfg)
	}
	return cfg
}

// Issue makes a new key and a certificate naming id, signed with the
// cluster CA's key: what "cxt init" does for the first node, and what anyone
// holding a copy of the CA key could do.
func (c *Cluster) Issue(id string) (*cluster.Identity, error) {
	key, err := sm.GenerateKey()
	if err != nil {
		return nil, err
	}
	cert, err := sm.Issue(c.CA, c.caKey, key.Public(), id, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	return &cluster.Identity{Key: key, Cert: cert, CA: c.CA}, nil
}

// Bootstrap starts the first node of the cluster.
func (c *Cluster) Bootstrap(ctx context.Context, id string) (*Node, error) {
	identity, err := c.Issue(id)
	if err != nil {
		return nil, err
	}
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, Dir: c.tempDir(), Addr: ln.Addr().String(), Identity: identity}
	if n.Node, err = cluster.Open(c.config(n, ln, nil)); err != nil {
		return nil, err
	}
	c.Nodes[id] = n
	return n, n.Node.Bootstrap(ctx, c.caKey)
}

// Join adds a node through via, as "cxt join" followed by "cxt serve" does.
func (c *Cluster) Join(ctx context.Context, id string, via *Node) (*Node, error) {
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, Dir: c.tempDir(), Addr: ln.Addr().String()}
	key, err := sm.GenerateKey()
	if err != nil {
		return nil, err
	}
	if n.Identity, err = cluster.RequestIdentity(ctx, via.Addr, c.Master, id, n.Addr, key); err != nil {
		ln.Close()
		return nil, err
	}
	if n.Node, err = cluster.Open(c.config(n, ln, []string{via.Addr})); err != nil {
		return nil, err
	}
	c.Nodes[id] = n
	return n, nil
}

// Start builds a cluster of size nodes named n1..nN and waits until all are
// voters.
func (c *Cluster) Start(ctx context.Context, size int) error {
	first, err := c.Bootstrap(ctx, "n1")
	if err != nil {
		return err
	}
	for i := 2; i <= size; i++ {
		if _, err := c.Join(ctx, fmt.Sprintf("n%d", i), first); err != nil {
			return err
		}
	}
	return c.WaitVoters(ctx, size)
}

// Stop closes a node, leaving its files as a crash would.
func (c *Cluster) Stop(n *Node) {
	n.Node.Close()
	n.Node = nil
}

// Restart opens a stopped node again on its old address.
func (c *Cluster) Restart(n *Node) error {
	ln, err := listen(n.Addr)
	if err != nil {
		return err
	}
	n.Node, err = cluster.Open(c.config(n, ln, nil))
	return err
}

// Running returns the nodes that are up, by ID.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Node != nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Leader waits for a running node to lead and returns it.
func (c *Cluster) Leader(ctx context.Context) (*Node, error) {
	for {
		for _, n := range c.Running() {
			if n.Status().Role == "leader" {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitVoters waits until the leader's configuration has count servers.
func (c *Cluster) WaitVoters(ctx context.Context, count int) error {
	for {
		l, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		if len(l.Status().Servers) == count {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster did not reach %d voters: %w", count, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Converge waits until every running node has applied the same index and
// returns each node's state hash at that index.
func (c *Cluster) Converge(ctx context.Context) (map[string][sm.HashSize]byte, error) {
	for {
		sums := map[string][sm.HashSize]byte{}
		indexes := map[uint64]bool{}
		for _, n := range c.Running() {
			sum, idx, err := n.State().Hash()
			if err != nil {
				return nil, err
			}
			sums[n.ID] = sum
			indexes[idx] = true
		}
		if len(indexes) == 1 {
			return sums, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("replicas did not reach the same applied index: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago, for servers that must be told their address before they listen.
//
// The port is drawn below the kernel's ephemeral range (32768 and up on
// Linux), which is where outgoing connections of every test process take
// their local ports: a port handed out there could be taken by any client
// between now and the server's listen. Ports are drawn at random, never
// twice in a process, checked by listening, and claimed for the life of
// the process by a lock on a file named for the port: go test runs
// packages in parallel processes, and a node that closes and reopens on
// its port must not find another package's server there in between.
func FreeAddr() string {
	freeMu.Lock()
	defer freeMu.Unlock()
	for range 1000 {
		port := 20000 + mathrand.IntN(12000)
		if freeUsed[port] || !claimPort(port) {
			continue
		}
		freeUsed[port] = true
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return ln.Addr().String()
	}
	panic("loopback: no free port between 20000 and 32000")
}

// claimPort takes an exclusive lock on the port's file in the shared
// claims folder and keeps it (and its descriptor) until the process ends;
// false when another process holds it. Without a claims folder every port
// counts as unclaimed and only the listen check is left.
func claimPort(port int) bool {
	dir := filepath.Join(os.TempDir(), "cxt-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	freeClaims = append(freeClaims, f)
	return true
}

var (
	freeMu     sync.Mutex
	freeUsed   = map[int]bool{}
	freeClaims []*os.File // held open: closing one would release its lock
)
