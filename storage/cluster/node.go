package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// Errors a caller can act on.
var (
	ErrNoLeader  = errors.New("cluster: no leader elected; try again")
	ErrNotLeader = errors.New("cluster: this node is not the leader")
	ErrShutdown  = errors.New("cluster: node is shut down")
)

// Config describes one node.
type Config struct {
	NodeID    string
	Dir       string       // holds raft/ and state.db
	Listener  net.Listener // the cluster listener, bound by the caller
	Advertise string       // the address peers dial; defaults to the listener's
	Identity  *Identity
	Master    *keyring.MasterKey
	// Register adds the domain's buckets and command handlers.
	Register func(*state.Registry)
	// JoinAddrs are peers asked to add this node when it has no Raft state
	// and is not bootstrapping a new cluster.
	JoinAddrs []string
	Logger    *slog.Logger
	RaftLog   io.Writer // hashicorp/raft's own log; nil discards it
	// BootID is the OS boot the node runs in (default: the kernel's); see
	// state.Options.
	BootID string
	// SealBudget is how many seals a key term takes before the leader
	// rotates it (default state.DefaultSealBudget); see rotate.go.
	SealBudget uint64

	// Tuning; zero values take defaults suited to a LAN.
	HeartbeatTimeout  time.Duration
	ElectionTimeout   time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64
}

// Node is a running member of a cluster.
type Node struct {
	cfg   Config
	log   *slog.Logger
	keys  *keyring.Keyring
	st    *state.State
	store *raftboltdb.BoltStore
	snaps *raft.FileSnapshotStore
	tr    *transport
	raft  *raft.Raft
	rpc   *rpcClient
	batch *batcher

	applied     chan struct{} // closed and replaced after every applied batch
	appliedMu   sync.Mutex
	appliedTerm atomic.Uint64 // Raft term of the last entry applied

	leaderReads   *readIndexer // read rounds this node runs as leader
	followerReads *readIndexer // read rounds this node forwards to the leader

	ctx      context.Context // ends when the node stops
	cancel   context.CancelFunc
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	failed   chan struct{} // closed when the node stopped itself; see failstop.go
	failErr  error
	failOnce sync.Once
}

// Open starts a node. It restores state.db from the newest snapshot if the
// file is behind it, then starts Raft, and — if the node has no Raft state
// and JoinAddrs are given — asks the cluster to add it.
func Open(cfg Config) (_ *Node, err error) {
	if cfg.NodeID == "" || cfg.Dir == "" || cfg.Listener == nil || cfg.Identity == nil || cfg.Master == nil {
		return nil, errors.New("cluster: config needs NodeID, Dir, Listener, Identity and Master")
	}
	if cfg.Advertise == "" {
		cfg.Advertise = cfg.Listener.Addr().String()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.RaftLog == nil {
		cfg.RaftLog = io.Discard
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), applied: make(chan struct{}), stop: make(chan struct{}), failed: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.leaderReads = newReadIndexer(n.ctx, defaultProposeTimeout, n.leaderReadRound)
	n.followerReads = newReadIndexer(n.ctx, defaultProposeTimeout, n.forwardedReadRound)
	defer func() {
		if err != nil {
			n.cancel()
			n.closeStores()
		}
	}()
	if n.keys, err = keyring.New(cfg.Master); err != nil {
		return nil, err
	}
	reg := state.NewRegistry()
	registerCluster(reg)
	if cfg.Register != nil {
		cfg.Register(reg)
	}
	raftDir := filepath.Join(cfg.Dir, "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return nil, err
	}
	if cfg.BootID == "" {
		cfg.BootID = state.BootID()
	}
	if n.st, err = state.OpenWith(filepath.Join(cfg.Dir, "state.db"), reg, n.keys, cfg.Master, state.Options{BootID: cfg.BootID, SealBudget: cfg.SealBudget}); err != nil {
		return nil, err
	}
	if n.st.Untrusted() {
		n.log.Warn("the machine restarted while the state file was open; rebuilding it from the newest snapshot and the Raft log")
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: cfg.RaftLog, Level: hclog.Info})
	if n.store, err = raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(raftDir, "raft.db"),
		BoltOptions: &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: 1 << 30},
	}); err != nil {
		return nil, fmt.Errorf("cluster: open Raft log %s: %w", filepath.Join(raftDir, "raft.db"), err)
	}
	if n.snaps, err = raft.NewFileSnapshotStoreWithLogger(raftDir, 2, hlog); err != nil {
		return nil, err
	}
	if err := n.catchUpFromSnapshot(); err != nil {
		return nil, err
	}
	if n.tr, err = newTransport(cfg.Listener, cfg.Advertise, cfg.Identity, n.log); err != nil {
		return nil, err
	}
	n.rpc = newRPCClient(n.tr)
	n.tr.rpc = n.serveRPC
	n.tr.join = n.serveJoin
	n.tr.admit, n.tr.expect, n.tr.idAt = n.admit, n.expect, n.idAt
	netTr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: raftLayer{n.tr}, MaxPool: 4, Timeout: 10 * time.Second, Logger: hlog,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.MaxAppendEntries = 1024
	// The leader batches concurrent Apply calls from an unbuffered channel as
	// well; a buffered one (BatchApplyCh) strands futures queued at shutdown.
	rc.BatchApplyCh = false
	rc.NoSnapshotRestoreOnStart = true // state.db is durable; see catchUpFromSnapshot
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
		rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	if n.raft, err = raft.NewRaft(rc, (*fsm)(n), n.store, n.store, n.snaps, netTr); err != nil {
		n.tr.close()
		return nil, err
	}
	n.batch = newBatcher(n)
	n.wg.Add(3)
	go n.batch.run()
	go n.rotateWornTerms()
	go n.pinOwnCertificate()
	n.tr.serve()
	if len(cfg.JoinAddrs) > 0 {
		existing, err := raft.HasExistingState(n.store, n.store, n.snaps)
		if err != nil {
			n.Close()
			return nil, err
		}
		if !existing {
			n.wg.Add(1)
			go n.joinLoop()
		}
	}
	return n, nil
}

// catchUpFromSnapshot restores state.db from the newest snapshot when the
// file is behind it (lost or copied from an old backup): Raft will replay
// only the entries after the snapshot.
func (n *Node) catchUpFromSnapshot() error {
	metas, err := n.snaps.List()
	if err != nil || len(metas) == 0 {
		return err
	}
	if metas[0].Index <= n.st.AppliedIndex() {
		return nil
	}
	_, rc, err := n.snaps.Open(metas[0].ID)
	if err != nil {
		return err
	}
	defer rc.Close()
	n.log.Info("state is behind the newest snapshot; restoring it", "state", n.st.AppliedIndex(), "snapshot", metas[0].Index)
	return n.st.Restore(rc)
}

// Bootstrap makes this node a new one-node cluster, installs the first key
// term and stores the cluster CA. It is what "cxt init" does once.
func (n *Node) Bootstrap(ctx context.Context, caKey *sm.PrivateKey) error {
	existing, err := raft.HasExistingState(n.store, n.store, n.snaps)
	if err != nil {
		return err
	}
	if existing {
		return errors.New("cluster: this node already has Raft state; refusing to bootstrap over it")
	}
	conf := raft.Configuration{Servers: []raft.Server{{ID: raft.ServerID(n.cfg.NodeID), Address: raft.ServerAddress(n.cfg.Advertise)}}}
	if err := n.raft.BootstrapCluster(conf).Error(); err != nil {
		return err
	}
	install, err := state.InstallTermCommand(n.cfg.Master, 1, keyring.NewSecret(), time.Now())
	if err != nil {
		return err
	}
	if _, err := n.ProposeOK(ctx, install); err != nil {
		return fmt.Errorf("cluster: install key term 1: %w", err)
	}
	if set := n.st.Speaks(); set > 1 { // a new cluster speaks what its first binary does
		if _, err := n.ProposeOK(ctx, state.CommandSetCommand(set, time.Now())); err != nil {
			return fmt.Errorf("cluster: record command set %d: %w", set, err)
		}
	}
	caCmd, err := caCommand(n.cfg.Identity.CA, caKey)
	if err != nil {
		return err
	}
	if _, err = n.ProposeOK(ctx, caCmd); err != nil {
		return err
	}
	_, err = n.ProposeOK(ctx, pinCommand(n.cfg.Identity.Cert, false, auditlog.Context{Subject: "operator:" + n.cfg.NodeID, Action: "bootstrap", Object: n.cfg.NodeID}))
	return err
}

// State returns the node's state machine, for reads.
func (n *Node) State() *state.State { return n.st }

// Keys returns the node's keyring.
func (n *Node) Keys() *keyring.Keyring { return n.keys }

// Raft exposes the Raft instance to tests and operator tools.
func (n *Node) Raft() *raft.Raft { return n.raft }

// Addr returns the cluster address peers dial.
func (n *Node) Addr() string { return n.cfg.Advertise }

// ID returns the node ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// Close stops the node: Raft first, then the transport and the files.
func (n *Node) Close() error {
	var err error
	n.stopOnce.Do(func() {
		close(n.stop)
		n.cancel()
		if n.raft != nil {
			err = n.raft.Shutdown().Error()
		}
		if n.tr != nil {
			n.tr.close()
		}
		n.rpc.closeIdle()
		n.wg.Wait()
		n.closeStores()
	})
	return err
}

func (n *Node) closeStores() {
	if n.store != nil {
		n.store.Close()
	}
	if n.st != nil {
		n.st.Close()
	}
}

// notifyApplied wakes everyone waiting for the applied index to move.
func (n *Node) notifyApplied() {
	n.appliedMu.Lock()
	close(n.applied)
	n.applied = make(chan struct{})
	n.appliedMu.Unlock()
}

// WaitApplied blocks until this node's state has applied the entry at
// index — for instance the index a write reported — so that reads after it
// see that write and everything acknowledged before it.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error { return n.waitApplied(ctx, index) }

// waitApplied blocks until the state has applied index.
func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	for {
		n.appliedMu.Lock()
		ch := n.applied
		n.appliedMu.Unlock()
		if n.st.AppliedIndex() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stop:
			return ErrShutdown
		}
	}
}
