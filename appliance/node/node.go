package node

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"cxt/appliance/api"
	"cxt/appliance/callbacks"
	"cxt/appliance/channel"
	"cxt/appliance/datadir"
	"cxt/appliance/errs"
	"cxt/appliance/identity"
	"cxt/appliance/invoices"
	"cxt/appliance/notify"
	"cxt/appliance/workers/realname"
	"cxt/crypto/keyring"
	"cxt/policy"
	"cxt/storage/blob"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// Options configure a running node; empty addresses take node.json's.
type Options struct {
	Dir         string
	APIAddr     string
	ClusterAddr string
	Logger      *slog.Logger
	RaftLog     io.Writer
	// Now is the API's clock (tests move it); default time.Now.
	Now func() time.Time
	// Notify overrides node.json's notification providers.
	Notify *notify.Config
	// NotifyInterval is how often the leader works off the outbox (default 1 s).
	NotifyInterval time.Duration
	// Limits override node.json's per-source rates of anonymous requests.
	Limits *api.Limits
	// SweepInterval is how often the leader purges expired records
	// (default 1 min; see state.CmdSweep).
	SweepInterval time.Duration
	// Callbacks tune the delivery of merchants' callbacks: how often the
	// leader looks for due ones (default 1 s), their backoff, the TLS
	// configuration of the connections (tests trust their own server), and
	// whether callback URLs may name private and loopback addresses (tests;
	// there is no node.json field for it).
	CallbackInterval      time.Duration
	CallbackBackoff       callbacks.Backoff
	CallbackTLS           *tls.Config
	AllowPrivateCallbacks bool
	// PasswordIterations is the work factor of new password hashes (0:
	// sm.PasswordIterations, production's). There is no flag or node.json
	// field for it: tests raise it to see logins re-derive older hashes, and
	// lower it (honoured in test binaries only, see identity.Hashing) where
	// they hash many passwords.
	PasswordIterations int
	// Channel is the payment channel (default: the sandbox bank, its
	// journal in the data directory). A test cluster shares one.
	Channel channel.Channel
	// Issuer is the tax-control system invoices are issued by; nil: the
	// sandbox (appliance/invoices).
	Issuer invoices.Issuer
	// PayoutInterval is how often the leader drives payouts (default 500 ms).
	PayoutInterval time.Duration
	// GatewayAddr is the tax bureaus' gateway listener's address; empty
	// takes node.json's gateway.listen, and none serves no gateway.
	GatewayAddr string
	// GatewayKeyInterval is how often the leader looks whether it must
	// make the gateway key (default 1 s).
	GatewayKeyInterval time.Duration
	// InspectEvery is how often the leader starts a scheduled post-hoc
	// inspection job (appliance/risk); 0: none, only jobs started on
	// demand (`cxt serve` defaults to daily). InspectPoll is how often the
	// leader looks for a job to run (default 1 s).
	InspectEvery, InspectPoll time.Duration
}

// Node is a running appliance node.
type Node struct {
	cfg  *datadir.Node
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	shares  [][]byte           // collected toward the threshold while sealed
	master  *keyring.MasterKey // the key the node is unsealed with; zeroed at Close
	cluster *cluster.Node
	blobs   *blob.Store
	// stopSender ends the notification sender.
	stopSender context.CancelFunc

	apiLn   net.Listener
	http    *http.Server
	api     *api.Server
	domains *backends   // what n.api and n.gw serve
	gw      *api.Server // the gateway listener's pipeline
	// withhold is why the node serves nothing but health now (the key of
	// a destroyed archive is alive in its state), or nil.
	withhold atomic.Pointer[error]
	// reloaded wakes guardDestroyed when the state file was opened or
	// replaced by a snapshot.
	reloaded chan struct{}
	gwLn     net.Listener
	gwHTTP   *http.Server
	adminLn  net.Listener
	admin    *http.Server
	started  time.Time
	lock     *datadir.Lock // held from Open to Close

	stopped chan struct{} // closed when the replica stopped itself (fail-stop)
	stopErr error

	// A rekey (rekey.go): pending waits for its new shares; switchMu lets
	// one switch run at a time; settleMu one settle.
	rekeyMu  sync.Mutex
	pending  *pendingRekey
	switchMu sync.Mutex
	settleMu sync.Mutex
}

// Open loads the data folder and starts listening. A node in key-file mode
// unseals itself; in shares mode it waits for "cxt unseal".
func Open(ctx context.Context, o Options) (*Node, error) {
	cfg, err := datadir.Load(o.Dir)
	if err != nil {
		return nil, err
	}
	// The folder's lock comes before any port or file is opened: a second
	// node on the same folder is told which process holds it, not that a
	// port is taken.
	lock, err := cfg.Lock()
	if err != nil {
		return nil, err
	}
	// A rekey that a crash interrupted is finished or abandoned before the
	// folder's key is used; node.json says which key is in force after.
	if what, err := datadir.Recover(o.Dir); err != nil {
		lock.Unlock()
		return nil, err
	} else if what != "" {
		if cfg, err = datadir.Load(o.Dir); err != nil {
			lock.Unlock()
			return nil, err
		}
		logger(o).Warn(what)
	}
	n, err := open(ctx, cfg, o)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	n.lock = lock
	return n, nil
}

// logger is o's logger or the default one.
func logger(o Options) *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return o.Logger
}

func open(ctx context.Context, cfg *datadir.Node, o Options) (*Node, error) {
	o.Logger = logger(o)
	if o.APIAddr == "" {
		o.APIAddr = cfg.API
	}
	if o.ClusterAddr == "" {
		o.ClusterAddr = cfg.Cluster
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n := &Node{cfg: cfg, opts: o, log: o.Logger.With("node", cfg.NodeID), started: time.Now(), stopped: make(chan struct{})}
	hardenProcess(n.log)
	bundle, err := policy.Embedded()
	if err != nil {
		return nil, err
	}
	authz, err := policy.New(ctx, bundle)
	if err != nil {
		return nil, err
	}
	// Derive the decoy password hash now, off the request path, so the
	// first login of an unknown user costs what every other one does.
	go identity.VerifyOrDecoy(nil, "")
	hashing := identity.Hashing{Iterations: o.PasswordIterations}
	if err := hashing.Check(); err != nil {
		return nil, err
	}
	limits, err := securityPolicy(cfg.Security)
	if err != nil {
		return nil, err
	}
	rates, err := rateLimits(cfg.Security)
	if err != nil {
		return nil, err
	}
	if o.Limits != nil {
		rates = *o.Limits
	}
	n.domains = compose(authz, hashing, limits)
	// Every payment is booked under the channel's name: node.json's, or the
	// one a test hands over.
	chName, err := cfg.ChannelName()
	if err != nil {
		return nil, err
	}
	if o.Channel != nil {
		chName = o.Channel.Name()
	}
	n.domains.payouts.Rules.Channel = chName
	n.domains.merchants.Documents = n.Documents
	n.domains.agreements.Documents = n.Documents
	n.domains.tasks.Documents = n.Documents
	n.domains.training.Documents = n.Documents
	n.domains.archives.Documents = n.Documents
	n.domains.gwReports.Documents = n.Documents
	n.domains.gwQueries.Documents = n.Documents
	n.domains.clients.AllowPrivateCallbacks = o.AllowPrivateCallbacks
	shred := n.compactAfterShred
	n.domains.subjects.onShred.Store(&shred)
	n.domains.archives.OnDestroyed = n.afterDestroy
	n.reloaded = make(chan struct{}, 1)
	n.domains.archives.Reloaded = func() {
		select {
		case n.reloaded <- struct{}{}:
		default: // a check is due already
		}
	}
	n.api = &api.Server{Cluster: n.Cluster, Authz: authz, Now: o.Now, Log: n.log, Withhold: n.withheld}
	n.domains.mount(n.api)
	n.api.SetLimits(rates)
	if err := n.mountGateway(cfg.Gateway); err != nil {
		return nil, err
	}
	n.gw.SetLimits(rates)
	if cfg.Seal.Mode == datadir.SealKeyFile {
		master, err := cfg.MasterFromKeyFile()
		if err != nil {
			return nil, err
		}
		if err := n.unsealWith(ctx, master); err != nil {
			master.Zero()
			return nil, err
		}
	}
	if err := n.listen(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) listen() error {
	cert, err := tls.LoadX509KeyPair(n.cfg.Path(datadir.APICertFile), n.cfg.Path(datadir.APIKeyFile))
	if err != nil {
		return fmt.Errorf("node: API certificate: %w", err)
	}
	ln, err := net.Listen("tcp", n.opts.APIAddr)
	if err != nil {
		return fmt.Errorf("node: API address %s: %w", n.opts.APIAddr, err)
	}
	n.apiLn = ln
	n.http = &http.Server{
		Handler:           n.routes(),
		TLSConfig:         apiTLS(cert),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	go n.http.ServeTLS(ln, "", "")
	if err := n.listenGateway(); err != nil {
		return err
	}

	sock := n.cfg.Path(datadir.AdminSocket)
	os.Remove(sock) // left by a crash; the folder's lock proves no other node runs here
	aln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("node: operator socket: %w", err)
	}
	os.Chmod(sock, 0o600)
	n.adminLn = aln
	n.admin = &http.Server{Handler: n.adminRoutes(), ReadHeaderTimeout: 10 * time.Second}
	go n.admin.Serve(aln)
	return nil
}

// APIAddr returns the address the HTTPS listener is bound to.
func (n *Node) APIAddr() string { return n.apiLn.Addr().String() }

// Sealed reports whether the node still waits for its master key.
func (n *Node) Sealed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cluster == nil
}

// config returns node.json as in force (a rekey replaces it).
func (n *Node) config() *datadir.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg
}

// unsealedKey returns the master key the node is unsealed with, or nil.
func (n *Node) unsealedKey() *keyring.MasterKey {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.master
}

// Cluster returns the replication node, or nil while sealed.
func (n *Node) Cluster() *cluster.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cluster
}

// Documents returns the document store, or nil while sealed.
func (n *Node) Documents() *blob.Store {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.blobs
}

// UnsealStatus is the answer to an unseal step.
type UnsealStatus struct {
	Sealed    bool `json:"sealed"`
	Progress  int  `json:"progress"`
	Threshold int  `json:"threshold"`
}

var errNotWaiting = errs.E("unseal", errs.Invalid, "this node is not waiting for key shares; cxt status --data DIR on its machine says why")

// Unseal adds one Shamir share (hex). At the threshold the master key is
// rebuilt and checked; a wrong set of shares is discarded whole.
func (n *Node) Unseal(ctx context.Context, shareHex string) (UnsealStatus, error) {
	const op = "unseal"
	// A share is refused for what it is before anything else: answering
	// "unsealed" to garbage would tell an operator it was accepted. The
	// answer does not say why the node takes no shares (a key file, or
	// already unsealed): anyone may call this route; the operator's
	// "cxt status" says.
	if n.config().Seal.Mode != datadir.SealShares || !n.Sealed() {
		return UnsealStatus{Sealed: n.Sealed()}, errNotWaiting
	}
	share, err := hex.DecodeString(shareHex)
	n.mu.Lock()
	if err != nil || len(share) != keyring.SecretSize+1 {
		clear(share)
		st := n.unsealStatus()
		n.mu.Unlock()
		return st, errs.E(op, errs.Invalid, "a share is %d hex-encoded bytes", keyring.SecretSize+1)
	}
	if n.cluster != nil { // unsealed by a share that raced this one
		clear(share)
		n.mu.Unlock()
		return UnsealStatus{Sealed: false}, errNotWaiting
	}
	for _, s := range n.shares {
		if s[len(s)-1] == share[len(share)-1] {
			clear(share)
			n.mu.Unlock()
			return n.unsealStatus(), errs.E(op, errs.Invalid, "this share was already given")
		}
	}
	n.shares = append(n.shares, share)
	if len(n.shares) < n.cfg.Seal.Threshold { // n.mu held
		st := n.unsealStatus()
		n.mu.Unlock()
		return st, nil
	}
	shares := n.shares
	n.shares = nil
	verifier := n.cfg.Seal.Verifier
	n.mu.Unlock()

	master, err := keyring.MasterKeyFromShares(shares) // clears the shares, right or wrong
	if err == nil {
		if err = master.Check(verifier); err != nil {
			master.Zero()
		}
	}
	if err != nil {
		n.log.Warn("unseal failed: shares do not rebuild this node's master key")
		return n.unsealStatus(), errs.Coded(op, errs.Invalid, "wrong_shares", "the shares do not rebuild this node's master key; start again")
	}
	if err := n.unsealWith(ctx, master); err != nil {
		master.Zero()
		return n.unsealStatus(), errs.Wrap(op, errs.Internal, err, "unsealed, but the node could not start")
	}
	return UnsealStatus{Sealed: false}, nil
}

func (n *Node) unsealStatus() UnsealStatus {
	return UnsealStatus{Sealed: n.cluster == nil, Progress: len(n.shares), Threshold: n.cfg.Seal.Threshold}
}

// unsealWith starts replication and documents with the master key.
func (n *Node) unsealWith(ctx context.Context, master *keyring.MasterKey) error {
	// Secrets an operator wrote into node.json in plaintext are wrapped now.
	cfg := n.config()
	if sealed, err := cfg.SealSecrets(master); err != nil {
		return fmt.Errorf("node: wrap the plaintext secrets of %s: %w", cfg.Path(datadir.NodeFile), err)
	} else if sealed {
		n.log.Warn("node.json held plaintext notification secrets; they are now wrapped by the master key", "file", cfg.Path(datadir.NodeFile))
	}
	key, cert, ca, err := cfg.Identity(master)
	if err != nil {
		return fmt.Errorf("node: identity: %w", err)
	}
	ln, err := net.Listen("tcp", n.opts.ClusterAddr)
	if err != nil {
		return fmt.Errorf("node: cluster address %s: %w", n.opts.ClusterAddr, err)
	}
	c, err := cluster.Open(cluster.Config{
		NodeID: n.cfg.NodeID, Dir: n.cfg.Dir(), Listener: ln, Advertise: n.cfg.Advertise,
		Identity: &cluster.Identity{Key: key, Cert: cert, CA: ca}, Master: master,
		Register: func(reg *state.Registry) { register(reg, n.api.Authz, n.domains) }, JoinAddrs: n.cfg.Join, Logger: n.log, RaftLog: n.opts.RaftLog,
	})
	if err != nil {
		ln.Close()
		return err
	}
	var backend blob.Backend
	if n.cfg.Documents.Backend == "minio" {
		mc, err := n.cfg.MinIO(master)
		if err == nil {
			backend, err = blob.NewMinIO(ctx, mc)
		}
		if err != nil {
			c.Close()
			return fmt.Errorf("node: documents: %w", err)
		}
	} else {
		if backend, err = blob.NewDir(n.cfg.Path(datadir.DocumentsDir)); err != nil {
			c.Close()
			return err
		}
	}
	// The replicated policy is in force already: policy.Register's reload
	// hook loaded it when the state was opened.
	nc, err := cfg.NotifyConfig(master)
	if err != nil {
		c.Close()
		return err
	}
	if n.opts.Notify != nil {
		nc = *n.opts.Notify
	}
	// Real names are checked by the configured service, or the sandbox.
	rn, err := cfg.RealNameConfig(master)
	if err != nil {
		c.Close()
		return err
	}
	if rn.URL != "" {
		n.domains.workers.Verifier = &realname.HTTP{URL: rn.URL, App: rn.App, Secret: []byte(rn.Secret), Provider: rn.Provider,
			Timeout: time.Duration(rn.TimeoutSeconds) * time.Second, Retries: min(rn.Retries, 5)}
	}
	sctx, stop := context.WithCancel(context.Background())
	sender := &notify.Sender{Node: c, Config: nc, Now: n.opts.Now, Log: n.log, Interval: n.opts.NotifyInterval}
	go sender.Run(sctx)
	deliverer := &callbacks.Deliverer{Node: c, Now: n.opts.Now, Log: n.log, Interval: n.opts.CallbackInterval,
		Backoff: n.opts.CallbackBackoff, TLS: n.opts.CallbackTLS, AllowPrivate: n.opts.AllowPrivateCallbacks}
	go deliverer.Run(sctx)
	go n.sweep(sctx, c)
	n.keepGatewayKey(sctx, c)
	go n.keepStoredPolicy(sctx, c)
	go n.watchFailStop(sctx, c)
	go n.settleInBackground(sctx, c, master.Verifier())
	n.inspect(sctx, c)
	if err := n.drivePayouts(sctx, c); err != nil {
		stop()
		c.Close()
		return err
	}
	n.driveInvoices(sctx, c)
	n.checkDestroyed(sctx, c, backend, true)
	go n.guardDestroyed(sctx, c, backend)
	n.domains.keys.newTerm = func(term uint32, now time.Time) (*state.Command, error) {
		return state.InstallTermCommandFor(c.State().CommandSet(), master, term, keyring.NewSecret(), now)
	}
	n.domains.identity.Sign = func(msg []byte) ([]byte, []byte, error) {
		sig, err := key.Sign(msg)
		return sig, cert.PEM(), err
	}
	n.mu.Lock()
	n.cluster = c
	n.master = master
	n.blobs = blob.New(backend, c.Keys())
	n.stopSender = stop
	n.mu.Unlock()
	n.log.Info("unsealed", "cluster_addr", n.opts.ClusterAddr)
	return nil
}

// sweepLimit is how many keys of each bucket one sweep visits.
const sweepLimit = 2_000

// sweep proposes a purge of expired records now and then while this node
// leads; every replica applies it alike.
func (n *Node) sweep(ctx context.Context, c *cluster.Node) {
	every := n.opts.SweepInterval
	if every == 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.Status().Role != "leader" {
			continue
		}
		if _, err := c.ProposeOK(ctx, state.SweepCommand(sweepLimit, n.opts.Now())); err != nil && ctx.Err() == nil {
			n.log.Warn("sweep of expired records failed; the next one retries", "err", err)
		}
	}
}

// Close stops the listeners, then replication.
func (n *Node) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Shutdown closes only listeners its Serve goroutine has registered;
	// closing them here too frees the address before Close returns, so a
	// node reopened at once on the same address can listen.
	if n.http != nil {
		n.http.Shutdown(ctx)
		n.apiLn.Close()
	}
	n.closeGateway(ctx)
	if n.admin != nil {
		n.admin.Shutdown(ctx)
		n.adminLn.Close()
		os.Remove(n.cfg.Path(datadir.AdminSocket))
	}
	n.mu.Lock()
	c, master := n.cluster, n.master
	n.cluster, n.master = nil, nil
	if n.stopSender != nil {
		n.stopSender()
	}
	for _, s := range n.shares {
		clear(s)
	}
	n.shares = nil
	n.mu.Unlock()
	n.RekeyCancel()
	var err error
	if c != nil {
		err = c.Close()
		c.Keys().Zero()
	}
	if master != nil {
		master.Zero()
	}
	n.lock.Unlock() // last: the folder is free only once nothing uses it
	return err
}

// Status is what /healthz and "cxt status" show.
type Status struct {
	Node         string          `json:"node"`
	Role         string          `json:"role"`
	Leader       string          `json:"leader"`
	AppliedIndex uint64          `json:"applied_index"`
	Sealed       bool            `json:"sealed"`
	Unseal       *UnsealStatus   `json:"unseal,omitempty"`
	Cluster      *cluster.Status `json:"cluster,omitempty"`
	Policy       string          `json:"policy"` // version of the authorization policy in force
	Uptime       string          `json:"uptime"`

	// The command set the cluster speaks, and the highest this binary speaks.
	CommandSet uint32 `json:"command_set,omitempty"`
	Speaks     uint32 `json:"speaks,omitempty"`
}

// Status reports the node's seal state and, unsealed, its cluster view.
func (n *Node) Status() Status {
	s := Status{Node: n.cfg.NodeID, Role: "sealed", Uptime: time.Since(n.started).Round(time.Second).String(), Policy: n.api.Authz.Version()}
	n.mu.Lock()
	c := n.cluster
	if c == nil {
		st := n.unsealStatus()
		s.Sealed, s.Unseal = true, &st
	}
	n.mu.Unlock()
	if c != nil {
		cs := c.Status()
		s.Role, s.Leader, s.AppliedIndex, s.Cluster = cs.Role, cs.Leader, cs.AppliedIndex, &cs
		s.CommandSet, s.Speaks = c.State().CommandSet(), c.State().Speaks()
	}
	return s
}

var errSealed = errs.E("", errs.Sealed, "the node is sealed; unseal it with cxt unseal")

// active returns the cluster node or a Sealed error.
func (n *Node) active() (*cluster.Node, error) {
	if c := n.Cluster(); c != nil {
		return c, nil
	}
	return nil, errSealed
}

// rateLimits applies node.json's "security" rate overrides to the defaults.
func rateLimits(c datadir.Security) (api.Limits, error) {
	l := api.DefaultLimits
	if c.AnonymousPerSecond < 0 || c.AnonymousBurst < 0 || c.LoginsPerSecond < 0 || c.LoginBurst < 0 {
		return l, fmt.Errorf("node.json security: rates and bursts must not be negative")
	}
	if c.AnonymousPerSecond > 0 {
		l.Anonymous = rate.Limit(c.AnonymousPerSecond)
	}
	if c.AnonymousBurst > 0 {
		l.AnonymousBurst = c.AnonymousBurst
	}
	if c.LoginsPerSecond > 0 {
		l.Logins = rate.Limit(c.LoginsPerSecond)
	}
	if c.LoginBurst > 0 {
		l.LoginBurst = c.LoginBurst
	}
	if c.RefusalHold != "" {
		d, err := time.ParseDuration(c.RefusalHold)
		if err != nil || d < 0 {
			return l, fmt.Errorf("node.json security.refusal_hold: %q is not a duration such as \"1s\"", c.RefusalHold)
		}
		l.Hold = d
	}
	return l, nil
}

// securityPolicy applies node.json's "security" overrides to the defaults.
func securityPolicy(c datadir.Security) (identity.Policy, error) {
	p := identity.DefaultPolicy
	if c.CaptchaAfter > 0 {
		p.CaptchaAfter = c.CaptchaAfter
	}
	if c.MaxFailures > 0 {
		p.MaxFailures = c.MaxFailures
	}
	for name, f := range map[string]struct {
		s   string
		dst *time.Duration
	}{
		"failure_window": {c.FailureWindow, &p.FailureWindow}, "lock_for": {c.LockFor, &p.LockFor},
		"idle_timeout": {c.IdleTimeout, &p.IdleTimeout}, "absolute_timeout": {c.AbsoluteTimeout, &p.AbsoluteTimeout},
	} {
		if f.s == "" {
			continue
		}
		d, err := time.ParseDuration(f.s)
		if err != nil || d <= 0 {
			return p, fmt.Errorf("node.json security.%s: %q is not a positive duration such as \"15m\"", name, f.s)
		}
		*f.dst = d
	}
	return p, passwordAges(&p, c.PasswordMaxAge)
}
