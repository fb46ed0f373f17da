package node

import (
	"context"
	"crypto/rand"
	"cxt/gateway/feed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"cxt/appliance/datadir"
	"cxt/appliance/documents"
	"cxt/appliance/identity"
	"cxt/appliance/notify"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/blob"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// Defaults of the embedded single-node setup.
const (
	DefaultAPI     = "127.0.0.1:8443"
	DefaultCluster = "127.0.0.1:8300"
)

// Register adds every domain package's buckets and commands to reg. It is the
// one place the appliance's state machine is composed.
func Register(reg *state.Registry) {
	register(reg, nil, compose(nil, identity.Hashing{}, identity.DefaultPolicy))
}

// register composes the state machine: the core's commands, then each
// backend's; a policy change swaps authz when set.
func register(reg *state.Registry, authz *policy.Authorizer, domains *backends) {
	state.RegisterRekey(reg)
	policy.Register(reg, authz, identity.PolicySignerKey)
	auditlog.Register(reg)
	for _, b := range domains.list() {
		b.Register(reg)
	}
	notify.Register(reg)
	documents.Register(reg)
	feed.Register(reg)
}

// InitOptions configure a new cluster's first node.
type InitOptions struct {
	NodeID, API, Cluster, Advertise string
	Gateway                         string // the gateway listener's address (optional)
	Shares, Threshold               int    // 0 shares: embedded key file
	MinIO                           *blob.MinIOConfig
	Logger                          *slog.Logger
	// PasswordIterations: see Options.PasswordIterations.
	PasswordIterations int
	// Demo marks the node as cxt demo's (node.json "demo": true).
	Demo bool
}

// InitResult is what init hands the operator once: the shares in shares mode.
type InitResult struct {
	NodeID string   `json:"node_id"`
	Shares []string `json:"shares,omitempty"` // hex; shown once, never stored
	Admins []Admin  `json:"admins"`           // one-time passwords; shown once
}

// Admin is one of the three administrator accounts init creates.
type Admin struct {
	Role     string `json:"role"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func (o *InitOptions) defaults() {
	if o.NodeID == "" {
		b := make([]byte, 4)
		rand.Read(b)
		o.NodeID = "cxt-" + hex.EncodeToString(b)
	}
	if o.API == "" {
		o.API = DefaultAPI
	}
	if o.Cluster == "" {
		o.Cluster = DefaultCluster
	}
	if o.Advertise == "" {
		o.Advertise = o.Cluster
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Init creates dir as the first node of a new cluster: keys, node identity,
// cluster CA, the first key term. A failure removes whatever it created.
func Init(ctx context.Context, dir string, o InitOptions) (res *InitResult, err error) {
	o.defaults()
	hashing := identity.Hashing{Iterations: o.PasswordIterations}
	if err := hashing.Check(); err != nil {
		return nil, err
	}
	if o.Shares != 0 && (o.Threshold < 2 || o.Threshold > o.Shares) {
		return nil, fmt.Errorf("init: --threshold must be between 2 and --shares (%d)", o.Shares)
	}
	master := keyring.NewMasterKey()
	defer master.Zero()
	res = &InitResult{NodeID: o.NodeID}
	if o.Shares > 0 {
		shares, err := master.Split(o.Shares, o.Threshold)
		if err != nil {
			return nil, err
		}
		for _, s := range shares {
			res.Shares = append(res.Shares, hex.EncodeToString(s))
		}
	}
	caKey, err := sm.GenerateKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca, err := sm.NewCA(caKey, "cxt cluster CA "+o.NodeID, now.Add(-time.Hour), now.Add(20*365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	nodeKey, err := sm.GenerateKey()
	if err != nil {
		return nil, err
	}
	cert, err := sm.Issue(ca, caKey, nodeKey.Public(), o.NodeID, now.Add(-time.Hour), now.Add(5*365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	if o.MinIO != nil { // fail now, not at first upload
		if _, err := blob.NewMinIO(ctx, *o.MinIO); err != nil {
			return nil, err
		}
	}
	made := missingTop(dir)
	created, err := datadir.Create(dir, datadir.Spec{
		NodeID: o.NodeID, API: o.API, Cluster: o.Cluster, Advertise: o.Advertise,
		Master: master, KeyFile: o.Shares == 0, Shares: o.Shares, Threshold: o.Threshold,
		NodeKey: nodeKey, NodeCert: cert, CA: ca, MinIO: o.MinIO, Demo: o.Demo, Gateway: o.Gateway,
	})
	if err != nil {
		removeMade(made)
		return nil, err
	}
	defer func() {
		if err != nil {
			removeContents(dir)
			removeMade(made)
		}
	}()
	ln, err := net.Listen("tcp", o.Cluster)
	if err != nil {
		return nil, fmt.Errorf("init: cluster address %s: %w", o.Cluster, err)
	}
	c, err := cluster.Open(cluster.Config{
		NodeID: o.NodeID, Dir: created.Dir(), Listener: ln, Advertise: o.Advertise,
		Identity: &cluster.Identity{Key: nodeKey, Cert: cert, CA: ca}, Master: master,
		Register: func(reg *state.Registry) { register(reg, nil, compose(nil, hashing, identity.DefaultPolicy)) }, Logger: o.Logger,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	defer c.Close()
	if err := c.Bootstrap(ctx, caKey); err != nil {
		return nil, fmt.Errorf("init: bootstrap: %w", err)
	}
	if res.Admins, err = createAdmins(ctx, c, hashing); err != nil {
		return nil, fmt.Errorf("init: administrator accounts: %w", err)
	}
	return res, nil
}

// createAdmins opens exactly one account for each administrator duty, each
// with a one-time password that must be changed at first login.
func createAdmins(ctx context.Context, c *cluster.Node, hashing identity.Hashing) ([]Admin, error) {
	indexKey, err := c.Keys().IndexKey()
	if err != nil {
		return nil, err
	}
	var out []Admin
	for _, a := range []struct{ role, username string }{
		{identity.SystemAdmin, "sysadmin"}, {identity.SecurityAdmin, "secadmin"}, {identity.AuditAdmin, "auditadmin"},
	} {
		password := identity.GeneratePassword()
		hash, err := hashing.Hash(password)
		if err != nil {
			return nil, err
		}
		idx := identity.NameIndex(indexKey, a.username)
		acct := identity.Account{ID: "acct-" + a.username, Username: a.username, Roles: []string{a.role}, Clearance: 4, Password: hash, MustChange: true}
		body, _ := json.Marshal(identity.CreateAccount{Account: acct, NameIndex: idx})
		cmd := state.NewCommand(identity.CmdCreateAccount, body, time.Now())
		cmd.Audit = auditlog.Context{Subject: "cxt init", Action: "create administrator", Object: acct.ID}.Encode()
		if _, err := c.ProposeOK(ctx, cmd); err != nil {
			return nil, err
		}
		out = append(out, Admin{Role: a.role, Username: a.username, Password: password})
	}
	return out, nil
}

// JoinOptions configure a node joining an existing cluster.
type JoinOptions struct {
	NodeID, API, Cluster, Advertise string
	Gateway                         string // the gateway listener's address (optional)
	Leader                          string // cluster address of any member
	Master                          *keyring.MasterKey
	KeyFile                         bool // keep the key beside the data (embedded mode)
	Shares, Threshold               int  // as the cluster's
	MinIO                           *blob.MinIOConfig
}

// Join creates dir for a node of an existing cluster: it proves the master
// key to a member, receives a node certificate, and writes the folder. The
// node asks to become a voter when it is first served.
func Join(ctx context.Context, dir string, o JoinOptions) error {
	io := InitOptions{NodeID: o.NodeID, API: o.API, Cluster: o.Cluster, Advertise: o.Advertise}
	io.defaults()
	if o.Master == nil {
		return errors.New("join: the cluster's master key is required (--key-file or --share)")
	}
	if err := ensureFree(dir); err != nil {
		return err
	}
	key, err := sm.GenerateKey()
	if err != nil {
		return err
	}
	id, err := cluster.RequestIdentity(ctx, o.Leader, o.Master, io.NodeID, io.Advertise, key)
	if err != nil {
		return err
	}
	made := missingTop(dir)
	_, err = datadir.Create(dir, datadir.Spec{
		NodeID: io.NodeID, API: io.API, Cluster: io.Cluster, Advertise: io.Advertise, Join: []string{o.Leader}, Gateway: o.Gateway,
		Master: o.Master, KeyFile: o.KeyFile, Shares: o.Shares, Threshold: o.Threshold,
		NodeKey: key, NodeCert: id.Cert, CA: id.CA, MinIO: o.MinIO,
	})
	if err != nil {
		removeMade(made)
	}
	return err
}

func ensureFree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty; refusing to overwrite it", dir)
	}
	return nil
}

func removeContents(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(dir + string(os.PathSeparator) + e.Name())
	}
}
