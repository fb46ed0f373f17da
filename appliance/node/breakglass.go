package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/identity"
	"cxt/crypto/keyring"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// BreakGlassRequest is what "cxt operator break-glass" sends over the
// operator socket. The master key proves that the people asking hold what
// unseals the node — the key file of an embedded node, or a quorum of
// shares combined by the CLI — which is more than any account can grant.
type BreakGlassRequest struct {
	Account   string `json:"account"` // username
	Reason    string `json:"reason"`
	MasterKey string `json:"master_key"` // hex
}

// BreakGlassResult hands the operator the one-time password, once.
type BreakGlassResult struct {
	Account         string `json:"account"`
	Username        string `json:"username"`
	OneTimePassword string `json:"one_time_password"`
}

// BreakGlass recovers an administrator who lost their password or second
// factor: with the master key proved, the account gets a one-time password
// (returned here, to the operator), loses its second factor and its lock,
// its sessions end, and its owner is notified. Every attempt, refused or
// not, is in the audit log under the subject "operator:<node>".
func (n *Node) BreakGlass(ctx context.Context, in BreakGlassRequest) (*BreakGlassResult, error) {
	const op = "break-glass"
	c, err := n.active()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	in.Account = strings.TrimSpace(in.Account)
	if in.Account == "" || len(strings.TrimSpace(in.Reason)) < 5 {
		return nil, errs.E(op, errs.Invalid, "an account (its username) and a reason of at least 5 characters are required")
	}
	indexKey, err := c.Keys().IndexKey()
	if err != nil {
		return nil, err
	}
	idx := identity.NameIndex(indexKey, in.Account)
	audit := auditlog.Context{Subject: "operator:" + n.cfg.NodeID, Source: "operator socket", Action: "break_glass",
		Object: "login:" + hex.EncodeToString(idx[:8]), Reason: in.Reason}
	refuse := func(result string, e error) (*BreakGlassResult, error) {
		rec := audit
		rec.Event, rec.Result = "account.break_glass", result
		if _, aerr := c.ProposeOK(ctx, auditlog.RecordCommand(rec, n.opts.Now())); aerr != nil {
			return nil, errs.Wrap(op, errs.Unavailable, aerr, "the attempt could not be audited, so it was refused")
		}
		return nil, e
	}
	raw, err := hex.DecodeString(strings.TrimSpace(in.MasterKey))
	master, kerr := keyring.MasterKeyFromBytes(raw)
	clear(raw)
	if err != nil || kerr != nil || master.Check(n.config().Seal.Verifier) != nil {
		if master != nil {
			master.Zero()
		}
		return refuse("wrong_key", errs.Coded(op, errs.Permission, "wrong_key", "the key file or shares do not rebuild this node's master key"))
	}
	master.Zero()

	if err := c.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	var acct *identity.Account
	if err := c.State().View(func(r *state.ReadTx) error {
		var err error
		acct, err = identity.AccountByName(r, idx)
		return err
	}); err != nil {
		return nil, err
	}
	if acct == nil {
		return refuse("not_found", errs.E(op, errs.NotExist, "no account %q", in.Account))
	}
	password := identity.GeneratePassword()
	hash, err := n.domains.identity.Hashing.Hash(password)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(identity.BreakGlass{Account: acct.ID, NameIndex: idx, Hash: hash, Node: n.cfg.NodeID})
	cmd := state.NewCommand(identity.CmdBreakGlass, body, n.opts.Now())
	audit.Object = acct.ID
	cmd.Audit = audit.Encode()
	if _, err := c.ProposeOK(ctx, cmd); err != nil {
		return nil, err
	}
	n.log.Warn("break-glass recovery", "account", acct.ID, "reason", in.Reason)
	return &BreakGlassResult{Account: acct.ID, Username: acct.Username, OneTimePassword: password}, nil
}

func (n *Node) adminBreakGlass(w http.ResponseWriter, r *http.Request) {
	var in BreakGlassRequest
	api.LimitBody(w, r)
	if err := api.DecodeJSON(r, &in); err != nil {
		api.WriteError(w, err)
		return
	}
	res, err := n.BreakGlass(r.Context(), in)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, res)
}
