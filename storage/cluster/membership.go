package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"cxt/crypto/sm"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// Membership is enforced where peers meet: a certificate from the cluster CA
// is necessary but not enough. The replicated state pins, per node ID, the
// certificate the cluster issued it last (a join proves the master key and
// replaces the pin), and keeps the IDs of removed nodes. On every handshake
// a node refuses a removed ID and a certificate that is not the pinned one;
// of the rest it accepts for Raft and cluster RPCs only IDs in its Raft
// configuration, and for RPCs a node it has issued a certificate to but
// not yet added, which may only ask to be added. A dialler checks that the
// peer's certificate names the node it meant to reach. So a removed node,
// or one holding a copy of the CA key, can neither vote nor forward writes
// nor remove anyone, and comes back only through a new join.

const (
	cmdPinCert = "cluster.cert"   // body: certPin
	cmdRemoved = "cluster.remove" // body: removal
)

// Errors of a peer refused for its certificate.
var (
	ErrRemoved  = errors.New("cluster: the node was removed from the cluster; it can come back only by joining again with the master key")
	ErrReplaced = errors.New("cluster: the cluster issued this node ID a newer certificate; this one is no longer accepted")
)

// certPin names the certificate the cluster accepts for a node ID.
type certPin struct {
	ID          string `json:"id"`
	Fingerprint []byte `json:"fingerprint"` // SM3 of the certificate's DER
	// IfAbsent pins only when the ID has no pin and was not removed: a
	// member of a cluster made before pinning registers its own certificate.
	IfAbsent bool `json:"if_absent,omitempty"`
}

// removal is the record of a removed node.
type removal struct {
	ID          string    `json:"id"`
	Fingerprint []byte    `json:"fingerprint,omitempty"` // the certificate pinned until then
	At          time.Time `json:"at"`                    // the command's time
}

func pinKey(id string) []byte     { return []byte("cert/" + id) }
func removedKey(id string) []byte { return []byte("removed/" + id) }

func certFingerprint(c *sm.Certificate) []byte {
	sum := sm.Sum(c.DER())
	return sum[:]
}

func registerMembership(reg *state.Registry) {
	reg.Handle(cmdPinCert, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var p certPin
		if err := json.Unmarshal(cmd.Body, &p); err != nil || p.ID == "" || len(p.Fingerprint) != sm.HashSize {
			return nil, state.Reject(state.InvalidRequest, "cluster.cert needs a node ID and an SM3 fingerprint")
		}
		if p.IfAbsent {
			prev, err := tx.Get(bucketCluster, pinKey(p.ID))
			if err != nil || prev != nil {
				return nil, err
			}
			if gone, err := tx.Get(bucketCluster, removedKey(p.ID)); err != nil || gone != nil {
				return nil, err
			}
		}
		if err := tx.Delete(bucketCluster, removedKey(p.ID)); err != nil {
			return nil, err
		}
		return nil, tx.Put(bucketCluster, pinKey(p.ID), p.Fingerprint)
	})
	reg.Handle(cmdRemoved, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var r removal
		if err := json.Unmarshal(cmd.Body, &r); err != nil || r.ID == "" {
			return nil, state.Reject(state.InvalidRequest, "cluster.remove needs a node ID")
		}
		pin, err := tx.Get(bucketCluster, pinKey(r.ID))
		if err != nil {
			return nil, err
		}
		rec, _ := json.Marshal(removal{ID: r.ID, Fingerprint: pin, At: tx.Time()})
		if err := tx.Delete(bucketCluster, pinKey(r.ID)); err != nil {
			return nil, err
		}
		return nil, tx.Put(bucketCluster, removedKey(r.ID), rec)
	})
}

func pinCommand(cert *sm.Certificate, ifAbsent bool, audit auditlog.Context) *state.Command {
	body, _ := json.Marshal(certPin{ID: cert.CommonName(), Fingerprint: certFingerprint(cert), IfAbsent: ifAbsent})
	cmd := state.NewCommand(cmdPinCert, body, time.Now())
	cmd.Audit = audit.Encode()
	return cmd
}

// certStatus checks cert against the replicated pins and removals: an error
// if its node was removed or the cluster has pinned another certificate for
// it since; pinned tells whether it is the pinned one (false: no pin, as in a
// cluster made before pinning, or one this node has not applied yet).
func (n *Node) certStatus(cert *sm.Certificate) (pinned bool, err error) {
	id := cert.CommonName()
	if id == "" {
		return false, errors.New("the certificate names no node")
	}
	var pin, gone []byte
	if err := n.st.View(func(r *state.ReadTx) error {
		var err error
		if pin, err = r.Get(bucketCluster, pinKey(id)); err != nil {
			return err
		}
		gone, err = r.Get(bucketCluster, removedKey(id))
		return err
	}); err != nil {
		return false, fmt.Errorf("cluster: read the membership of %q: %w", id, err)
	}
	switch {
	case gone != nil:
		return false, fmt.Errorf("node %q: %w", id, ErrRemoved)
	case pin == nil:
		return false, nil
	case !sm.Equal(pin, certFingerprint(cert)):
		return false, fmt.Errorf("node %q: %w", id, ErrReplaced)
	}
	return true, nil
}

// mayAskToJoin tells whether a node outside the configuration may ask to be
// added: only with the certificate a join issued it, pinned and not removed.
func (n *Node) mayAskToJoin(cert *sm.Certificate) error {
	pinned, err := n.certStatus(cert)
	if err == nil && !pinned {
		err = fmt.Errorf("node %q is not a member and the cluster issued it no certificate; join with the master key first", cert.CommonName())
	}
	return err
}

// configHas tells whether id is in this node's latest Raft configuration,
// and whether that configuration is empty (a node that has just joined).
func (n *Node) configHas(id string) (member, empty bool) {
	servers := n.raft.GetConfiguration().Configuration().Servers
	for _, s := range servers {
		if string(s.ID) == id {
			return true, false
		}
	}
	return false, len(servers) == 0
}

// idAt names the member the configuration places at addr.
func (n *Node) idAt(addr string) string {
	for _, s := range n.raft.GetConfiguration().Configuration().Servers {
		if string(s.Address) == addr {
			return string(s.ID)
		}
	}
	return ""
}

func (n *Node) memberIDs() []byte {
	var ids []string
	for _, s := range n.raft.GetConfiguration().Configuration().Servers {
		ids = append(ids, string(s.ID))
	}
	b, _ := json.Marshal(ids)
	return b
}

// admit decides whether a peer that proved cert in this TLS session may open
// a connection of kind (see the comment at the top of this file).
func (n *Node) admit(cert *sm.Certificate, kind byte) (func() bool, error) {
	id := cert.CommonName()
	pinned, err := n.certStatus(cert)
	if err != nil {
		return nil, err
	}
	member, empty := n.configHas(id)
	vouched := false
	switch {
	case member:
	case kind == kindRaft && empty:
		// A node that has just joined learns the configuration from the
		// leader's first entries; until then it cannot tell who is a member.
	case kind == kindRPC && pinned:
		// Issued a certificate by a join, not yet added: handleRPC lets it
		// ask for that and nothing else.
	case kind == kindRaft:
		if vouched = n.vouch(id); !vouched {
			return nil, fmt.Errorf("node %q is not a member of this cluster", id)
		}
	default:
		return nil, fmt.Errorf("node %q is not a member of this cluster", id)
	}
	return n.stillTalks(id, empty || vouched), nil
}

// stillTalks tells, at every read of an accepted Raft connection, whether
// its peer may still talk: while it is in the configuration. A peer accepted
// before this node knew the configuration, or on another member's word,
// talks until the configuration names it, and is held to it from then on.
func (n *Node) stillTalks(id string, provisional bool) func() bool {
	var named atomic.Bool
	return func() bool {
		if member, _ := n.configHas(id); member {
			named.Store(true)
			return true
		}
		return provisional && !named.Load()
	}
}

// vouch asks the members this node knows whether id is in their
// configuration. A node that missed a configuration change (it was down, or
// its folder came back from a backup) would otherwise refuse a member added
// meanwhile, perhaps the very leader it has to catch up from. The members
// asked authenticate as usual and answer only members.
func (n *Node) vouch(id string) bool {
	for _, s := range n.raft.GetConfiguration().Configuration().Servers {
		if string(s.ID) == n.cfg.NodeID {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
		b, err := n.rpc.call(ctx, string(s.Address), string(s.ID), opMembers, nil)
		cancel()
		var ids []string
		if err == nil && json.Unmarshal(b, &ids) == nil && slices.Contains(ids, id) {
			n.log.Info("accepted a member this node's configuration does not know yet", "peer", id, "vouched_by", string(s.ID))
			return true
		}
	}
	return false
}

// expect checks the peer a dial reached: its certificate names want (when
// the dialler knows whom it dials) and is neither removed nor replaced.
func (n *Node) expect(cert *sm.Certificate, want string) error {
	if want != "" && cert.CommonName() != want {
		return fmt.Errorf("the peer's certificate names node %q, not %q", cert.CommonName(), want)
	}
	_, err := n.certStatus(cert)
	return err
}

// RemoveServer takes a node out of the cluster; a follower forwards the
// request to the leader, which accepts it only from a member. The removed
// node's ID is refused at every handshake from then on; it comes back only
// through a new join, with the master key and a new certificate.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.retry(ctx, func(ctx context.Context) error {
		if n.raft.State() == raft.Leader {
			return n.removeAsLeader(ctx, id, n.cfg.NodeID)
		}
		addr, leader := n.raft.LeaderWithID()
		if addr == "" {
			return ErrNoLeader
		}
		_, err := n.rpc.call(ctx, string(addr), string(leader), opRemove, []byte(id))
		return err
	})
}

// removeAsLeader marks id removed, then takes it out of the configuration.
// Marked first, the node is cut off by every member as soon as they apply
// the mark; the configuration change that follows does not need it (Raft
// counts the new configuration's quorum). If the change fails, the node
// stays marked, refused by all, until the removal is tried again.
func (n *Node) removeAsLeader(ctx context.Context, id, by string) error {
	servers := n.raft.GetConfiguration().Configuration().Servers
	if member, _ := n.configHas(id); !member {
		if n.wasRemoved(id) {
			return nil // removed before: removal is idempotent
		}
		return fmt.Errorf("cluster: node %q is not a member", id)
	}
	if id == n.cfg.NodeID {
		if len(servers) == 1 {
			return errors.New("cluster: the last member cannot be removed")
		}
		// Marked first, the leader would be refused by the followers that
		// must commit its removal: hand leadership over, and the caller's
		// retry asks the new leader.
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			return err
		}
		return ErrNotLeader
	}
	body, _ := json.Marshal(removal{ID: id})
	cmd := state.NewCommand(cmdRemoved, body, time.Now())
	cmd.Audit = auditlog.Context{Subject: "operator:" + by, Action: "remove node", Object: id}.Encode()
	if _, err := n.ProposeOK(ctx, cmd); err != nil {
		return fmt.Errorf("cluster: mark %q removed: %w", id, err)
	}
	return n.raft.RemoveServer(raft.ServerID(id), 0, defaultProposeTimeout).Error()
}

func (n *Node) wasRemoved(id string) bool {
	var gone []byte
	n.st.View(func(r *state.ReadTx) error {
		var err error
		gone, err = r.Get(bucketCluster, removedKey(id))
		return err
	})
	return gone != nil
}

// pinOwnCertificate registers this node's certificate when the cluster has
// none for its ID: members of a cluster made before certificates were
// pinned register themselves, from the node that holds the certificate,
// when they first run this version. A new join pins at issue, so this finds
// the pin and ends.
func (n *Node) pinOwnCertificate() {
	defer n.wg.Done()
	cert := n.cfg.Identity.Cert
	for backoff := time.Second; ; backoff = min(backoff*2, time.Minute) {
		select {
		case <-n.stop:
			return
		case <-time.After(backoff):
		}
		ctx, cancel := context.WithTimeout(n.ctx, defaultProposeTimeout)
		err := n.ReadBarrier(ctx)
		var pinned bool
		if err == nil {
			pinned, err = n.certStatus(cert)
		}
		if err == nil && !pinned {
			_, err = n.ProposeOK(ctx, pinCommand(cert, true, auditlog.Context{Subject: "node:" + n.cfg.NodeID, Action: "register node certificate", Object: n.cfg.NodeID}))
			pinned = err == nil
		}
		cancel()
		switch {
		case pinned:
			return
		case errors.Is(err, ErrRemoved), errors.Is(err, ErrReplaced):
			n.log.Error("the other members refuse this node's certificate; join it again (cxt join) to bring it back", "err", err)
			return
		}
		n.log.Debug("registering this node's certificate failed; will retry", "err", err)
	}
}
