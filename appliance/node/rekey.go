package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/datadir"
	"cxt/appliance/errs"
	"cxt/crypto/keyring"
	"cxt/storage/auditlog"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// RekeyRequest is what "cxt operator rekey" sends over the operator socket:
// the current master key, proved as for break-glass (the key file, or a
// quorum of shares combined by the CLI), and what the new key should be.
type RekeyRequest struct {
	MasterKey string `json:"master_key"` // hex, the current key
	Reason    string `json:"reason"`
	// Mode is "keyfile" (a new DIR/master.key) or "shares"; empty keeps the
	// folder's mode, and in shares mode its share count and threshold.
	Mode      string `json:"mode,omitempty"`
	Shares    int    `json:"shares,omitempty"`
	Threshold int    `json:"threshold,omitempty"`
}

// RekeyResult answers a rekey step.
type RekeyResult struct {
	Mode string `json:"mode"`
	// Done: the new key is in force. Otherwise (shares) the new shares are
	// here, once, and nothing changes until Threshold of them come back
	// with the Nonce (RekeyVerify).
	Done      bool     `json:"done"`
	Shares    []string `json:"shares,omitempty"`
	Threshold int      `json:"threshold,omitempty"`
	Nonce     string   `json:"nonce,omitempty"`
	KeyFile   string   `json:"key_file,omitempty"`
}

// RekeyVerifyRequest gives back a threshold of the new shares.
type RekeyVerifyRequest struct {
	Nonce  string   `json:"nonce"`
	Shares []string `json:"shares"`
}

// pendingRekey is a rekey to shares waiting for its custodians to show they
// hold them. It lives in memory only: a restart forgets it, and the printed
// shares then open nothing.
type pendingRekey struct {
	nonce  string
	next   *keyring.MasterKey
	seal   datadir.Seal
	reason string
}

// Rekey replaces the master key. To a key file it switches at once; to
// shares it returns them and switches when RekeyVerify gets a threshold of
// them back, so that the old key stays in force until people demonstrably
// hold the new one. Every attempt is audited, refused or not.
func (n *Node) Rekey(ctx context.Context, in RekeyRequest) (*RekeyResult, error) {
	const op = "rekey"
	c, err := n.active()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	raw, err := hex.DecodeString(strings.TrimSpace(in.MasterKey))
	old, kerr := keyring.MasterKeyFromBytes(raw)
	clear(raw)
	if err != nil || kerr != nil || old.Check(n.config().Seal.Verifier) != nil {
		if old != nil {
			old.Zero()
		}
		return nil, n.refuseRekey(ctx, c, "wrong_key", in.Reason, errs.Coded(op, errs.Permission, "wrong_key", "the key file or shares do not rebuild this node's master key"))
	}
	defer old.Zero()
	if len(strings.TrimSpace(in.Reason)) < 5 {
		return nil, errs.E(op, errs.Invalid, "a reason of at least 5 characters is required")
	}
	seal, err := n.targetSeal(in)
	if err != nil {
		return nil, err
	}
	if err := n.canRekey(c); err != nil {
		return nil, n.refuseRekey(ctx, c, "refused", in.Reason, err)
	}
	next := keyring.NewMasterKey()
	if seal.Mode == datadir.SealKeyFile {
		if err := n.switchKey(ctx, old, next, seal, in.Reason); err != nil {
			next.Zero()
			return nil, err
		}
		return &RekeyResult{Mode: seal.Mode, Done: true, KeyFile: n.config().Path(datadir.MasterKeyFile)}, nil
	}
	shares, err := next.Split(seal.Shares, seal.Threshold)
	if err != nil {
		next.Zero()
		return nil, errs.Wrap(op, errs.Invalid, err, "cannot split the key so")
	}
	res := &RekeyResult{Mode: seal.Mode, Threshold: seal.Threshold, Nonce: newNonce()}
	for _, s := range shares {
		res.Shares = append(res.Shares, hex.EncodeToString(s))
		clear(s)
	}
	n.rekeyMu.Lock()
	if p := n.pending; p != nil {
		p.next.Zero()
	}
	n.pending = &pendingRekey{nonce: res.Nonce, next: next, seal: seal, reason: in.Reason}
	n.rekeyMu.Unlock()
	rec := n.rekeyAudit(in.Reason)
	rec.Event, rec.Result = "keyring.rekey_started", "ok"
	if _, err := c.ProposeOK(ctx, auditlog.RecordCommand(rec, n.opts.Now())); err != nil {
		n.RekeyCancel()
		return nil, errs.Wrap(op, errs.Unavailable, err, "the rekey could not be audited, so it was not started")
	}
	n.log.Warn("master-key rekey started: new shares handed out; the old key stays in force until they are verified")
	return res, nil
}

// RekeyVerify takes a threshold of the shares a Rekey handed out and, if
// they rebuild the pending key, switches to it.
func (n *Node) RekeyVerify(ctx context.Context, in RekeyVerifyRequest) (*RekeyResult, error) {
	const op = "rekey verify"
	c, err := n.active()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	raw := make([][]byte, 0, len(in.Shares))
	defer func() {
		for _, s := range raw {
			clear(s)
		}
	}()
	for _, s := range in.Shares {
		b, err := hex.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return nil, errs.E(op, errs.Invalid, "a share is hex")
		}
		raw = append(raw, b)
	}
	n.rekeyMu.Lock()
	p := n.pending
	if p == nil || p.nonce != in.Nonce {
		n.rekeyMu.Unlock()
		return nil, errs.Coded(op, errs.Conflict, "no_rekey", "no rekey with this nonce is waiting (a node restart forgets one); start again with cxt operator rekey")
	}
	if len(raw) < p.seal.Threshold {
		n.rekeyMu.Unlock()
		return nil, errs.E(op, errs.Invalid, "give back %d of the new shares", p.seal.Threshold)
	}
	got, err := keyring.MasterKeyFromShares(raw)
	if err == nil {
		err = got.Check(p.next.Verifier())
		got.Zero()
	}
	if err != nil {
		n.rekeyMu.Unlock()
		return nil, errs.Coded(op, errs.Invalid, "wrong_shares", "the shares do not rebuild the new key; the rekey still waits, nothing changed")
	}
	n.pending = nil
	n.rekeyMu.Unlock()
	old := n.unsealedKey()
	if old == nil {
		p.next.Zero()
		return nil, errSealed
	}
	if err := n.canRekey(c); err != nil {
		p.next.Zero()
		return nil, err
	}
	if err := n.switchKey(ctx, old, p.next, p.seal, p.reason); err != nil {
		p.next.Zero()
		return nil, err
	}
	return &RekeyResult{Mode: p.seal.Mode, Done: true, Threshold: p.seal.Threshold}, nil
}

// RekeyCancel forgets a rekey waiting for its shares.
func (n *Node) RekeyCancel() bool {
	n.rekeyMu.Lock()
	defer n.rekeyMu.Unlock()
	if n.pending == nil {
		return false
	}
	n.pending.next.Zero()
	n.pending = nil
	return true
}

// canRekey refuses what this version cannot rekey safely: a cluster of more
// than one node, whose members would each have to switch at the same point
// of the log.
func (n *Node) canRekey(c *cluster.Node) error {
	if set := c.State().CommandSet(); set < state.RekeySet {
		return errs.Coded("rekey", errs.Conflict, "cluster_rekey_unsupported",
			"this cluster speaks command set %d and rekeying needs %d: raise it with cxt cluster command-set %d once every node runs this release (docs/operations.md, \"Upgrading a cluster\")", set, state.RekeySet, state.RekeySet)
	}
	st := c.Status()
	if len(st.Servers) > 1 {
		return errs.Coded("rekey", errs.Conflict, "cluster_rekey_unsupported",
			"this cluster has %d nodes; cxt rekeys a one-node cluster only. Remove the other nodes (cxt cluster remove), rekey, then join them again with the new key (docs/operations.md, \"Rekey\")", len(st.Servers))
	}
	if st.Role != "leader" {
		return errs.E("rekey", errs.Unavailable, "the node is not leading its one-node cluster yet; retry in a moment")
	}
	return nil
}

func (n *Node) targetSeal(in RekeyRequest) (datadir.Seal, error) {
	cur := n.config().Seal
	mode := in.Mode
	if mode == "" {
		mode = cur.Mode
	}
	switch mode {
	case datadir.SealKeyFile:
		if in.Shares != 0 || in.Threshold != 0 {
			return datadir.Seal{}, errs.E("rekey", errs.Invalid, "a key file has no shares or threshold")
		}
		return datadir.Seal{Mode: mode}, nil
	case datadir.SealShares:
		s := datadir.Seal{Mode: mode, Shares: in.Shares, Threshold: in.Threshold}
		if s.Shares == 0 && s.Threshold == 0 && cur.Mode == datadir.SealShares {
			s.Shares, s.Threshold = cur.Shares, cur.Threshold
		}
		if s.Threshold < 2 || s.Threshold > s.Shares || s.Shares > 255 {
			return datadir.Seal{}, errs.E("rekey", errs.Invalid, "shares need a threshold between 2 and the number of shares (at most 255); got %d of %d", s.Threshold, s.Shares)
		}
		return s, nil
	}
	return datadir.Seal{}, errs.E("rekey", errs.Invalid, "the new key is a %q or %q, not %q", datadir.SealKeyFile, datadir.SealShares, mode)
}

// switchKey moves the node from old to next: the data folder's files are
// staged, the keyring gains wrappings under next (keyring.rekey) and a
// snapshot makes them durable, node.json is switched (the commit point), the
// node reopens its store with next, and keyring.settle drops the old
// wrappings, after which the log is compacted into a snapshot so that no
// entry sealed with the old key's term 0 remains. A failure before the
// commit point leaves the old key in force; one after it, the new.
func (n *Node) switchKey(ctx context.Context, old, next *keyring.MasterKey, seal datadir.Seal, reason string) error {
	const op = "rekey"
	n.switchMu.Lock()
	defer n.switchMu.Unlock()
	c, err := n.active()
	if err != nil {
		return err
	}
	cfg := n.config()
	if err := cfg.StageRekey(old, next, seal); err != nil {
		return errs.Wrap(op, errs.Internal, err, "staging the re-wrapped files failed; nothing changed")
	}
	abort := func(err error, msg string) error {
		cfg.AbortRekey()
		// The keyring may hold wrappings under next already: drop them.
		if _, serr := c.ProposeOK(ctx, state.SettleKeysCommand(old.Verifier(), n.opts.Now())); serr != nil {
			n.log.Warn("rekey abandoned; the keyring is settled on the old key at the next unseal", "err", serr)
		}
		return errs.Wrap(op, errs.Internal, err, "%s; the old key stays in force", msg)
	}
	cmd, err := state.RekeyCommand(c.Keys(), old, next, n.opts.Now())
	if err != nil {
		return abort(err, "re-wrapping the key terms failed")
	}
	audit := n.rekeyAudit(reason)
	cmd.Audit = audit.Encode()
	if _, err := c.ProposeOK(ctx, cmd); err != nil {
		return abort(err, "the keyring could not be re-wrapped")
	}
	// A node rebuilt from its newest snapshot after a power loss must find
	// the new wrappings there, or the new key would not open it.
	if err := c.Raft().Snapshot().Error(); err != nil {
		return abort(err, "the snapshot after re-wrapping failed")
	}
	next2, err := cfg.CommitRekey()
	if err != nil {
		if _, serr := datadir.Recover(cfg.Dir()); serr != nil {
			n.log.Error("rekey: the data folder could not be put back in order; it is at the next start", "err", serr)
		}
		return errs.Wrap(op, errs.Internal, err, "switching node.json failed; restart the node: it finishes or abandons the rekey")
	}
	n.mu.Lock()
	n.cfg = next2
	n.mu.Unlock()
	n.log.Warn("master key replaced; reopening the store with the new key", "mode", seal.Mode)
	if err := n.reopen(ctx, next); err != nil {
		return errs.Wrap(op, errs.Internal, err, "the new key is in force but the store did not reopen; restart the node and unseal it with the new key")
	}
	nc, err := n.active()
	if err != nil {
		return err
	}
	// A rekey to shares still waiting was authorised by the key just
	// replaced: it goes too.
	n.RekeyCancel()
	if err := n.settleKeys(ctx, nc, next.Verifier()); err != nil {
		return errs.Wrap(op, errs.Internal, err, "the new key is in force; dropping the old key's wrappings failed and is retried at the next unseal")
	}
	return nil
}

// reopen closes the replication node and unseals again with master: the
// Raft log's term 0, the state's master key and the join proof all follow.
func (n *Node) reopen(ctx context.Context, master *keyring.MasterKey) error {
	n.mu.Lock()
	c, stop, old := n.cluster, n.stopSender, n.master
	n.cluster, n.blobs, n.stopSender, n.master = nil, nil, nil, nil
	n.mu.Unlock()
	if stop != nil {
		stop()
	}
	if c != nil {
		if err := c.Close(); err != nil {
			n.log.Warn("closing the store before reopening it", "err", err)
		}
		c.Keys().Zero()
	}
	if old != nil && old != master {
		old.Zero()
	}
	return n.unsealWith(ctx, master)
}

// settleKeys finishes what a rekey left: the keyring keeps only this node's
// key's wrappings, then the Raft log is compacted into fresh snapshots so
// that nothing on disk still opens with another key. It runs at every
// unseal; with nothing under way it only reads.
func (n *Node) settleKeys(ctx context.Context, c *cluster.Node, mine []byte) error {
	n.settleMu.Lock()
	defer n.settleMu.Unlock()
	cur, pending, err := c.State().MasterKeys()
	if err != nil || (pending == nil && (cur == nil || string(cur) == string(mine))) {
		return err
	}
	if _, err := c.ProposeOK(ctx, state.SettleKeysCommand(mine, n.opts.Now())); err != nil {
		return fmt.Errorf("keyring.settle: %w", err)
	}
	if err := compact(ctx, c, func() error {
		_, err := c.ProposeOK(ctx, state.SettleKeysCommand(mine, n.opts.Now()))
		return err
	}); err != nil {
		return fmt.Errorf("compact the Raft log: %w", err)
	}
	n.log.Info("keyring settled on this node's master key; the Raft log is compacted")
	return nil
}

// compactAfterShred compacts this node's Raft log after a data subject's key
// was destroyed: the command that installed the wrapped key leaves raft.db.
// It runs on the apply goroutine's hook, so it only starts the work.
func (n *Node) compactAfterShred(subject string) {
	c := n.Cluster()
	if c == nil {
		return
	}
	go func() {
		n.settleMu.Lock() // one compaction at a time, with a rekey's
		defer n.settleMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		err := compact(ctx, c, func() error {
			rec := auditlog.Context{Subject: "system", Event: "subject.compacted", Result: "ok", Object: subject,
				Reason: "the Raft log is compacted after a shred"}
			_, err := c.ProposeOK(ctx, auditlog.RecordCommand(rec, n.opts.Now()))
			return err
		})
		if err != nil {
			n.log.Warn("compacting the Raft log after a shred failed; the next snapshot will drop the entry", "subject", subject, "err", err)
			return
		}
		n.log.Info("Raft log compacted after a shred", "subject", subject)
	}()
}

// compact takes snapshots with no trailing log: every entry up to the
// snapshot leaves raft.db. The snapshot store keeps two, so a second one,
// after one more entry (nudge), pushes out the older snapshot from before.
func compact(ctx context.Context, c *cluster.Node, nudge func() error) error {
	r := c.Raft()
	rc := r.ReloadableConfig()
	keep := rc.TrailingLogs
	rc.TrailingLogs = 0
	if err := r.ReloadConfig(rc); err != nil {
		return err
	}
	defer func() {
		rc.TrailingLogs = keep
		r.ReloadConfig(rc)
	}()
	for i := range 2 {
		if i > 0 {
			if err := nudge(); err != nil {
				return err
			}
		}
		if err := r.Snapshot().Error(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// settleInBackground settles the keyring after an unseal, retrying while the
// node has no leader yet.
func (n *Node) settleInBackground(ctx context.Context, c *cluster.Node, mine []byte) {
	for backoff := time.Second; ; backoff = min(2*backoff, time.Minute) {
		err := n.settleKeys(ctx, c, mine)
		if err == nil || ctx.Err() != nil || errors.Is(err, cluster.ErrShutdown) {
			return
		}
		n.log.Warn("settling the keyring after a rekey failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

func (n *Node) rekeyAudit(reason string) auditlog.Context {
	return auditlog.Context{Subject: "operator:" + n.cfg.NodeID, Source: "operator socket", Action: "rekey", Object: "master key", Reason: reason}
}

// refuseRekey audits a refused rekey and returns e.
func (n *Node) refuseRekey(ctx context.Context, c *cluster.Node, result, reason string, e error) error {
	rec := n.rekeyAudit(reason)
	rec.Event, rec.Result = "keyring.rekey_refused", result
	if _, err := c.ProposeOK(ctx, auditlog.RecordCommand(rec, n.opts.Now())); err != nil {
		return errs.Wrap("rekey", errs.Unavailable, err, "the attempt could not be audited, so it was refused")
	}
	return e
}

func newNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (n *Node) adminRekey(w http.ResponseWriter, r *http.Request) {
	var in RekeyRequest
	api.LimitBody(w, r)
	if err := api.DecodeJSON(r, &in); err != nil {
		api.WriteError(w, err)
		return
	}
	res, err := n.Rekey(r.Context(), in)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, res)
}

func (n *Node) adminRekeyVerify(w http.ResponseWriter, r *http.Request) {
	var in RekeyVerifyRequest
	api.LimitBody(w, r)
	if err := api.DecodeJSON(r, &in); err != nil {
		api.WriteError(w, err)
		return
	}
	res, err := n.RekeyVerify(r.Context(), in)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, res)
}

func (n *Node) adminRekeyCancel(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, map[string]bool{"cancelled": n.RekeyCancel()})
}
