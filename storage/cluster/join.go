package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

const (
	bucketCluster = "cluster"
	cmdSetCA      = "cluster.ca"
	nodeCertLife  = 5 * 365 * 24 * time.Hour
)

// ErrWrongClusterKey is returned to a node that joins without the cluster's
// master key, and to a node that reached a listener without it.
var ErrWrongClusterKey = errors.New("cluster: the cluster key does not match")

// Register adds the cluster's own bucket and commands to reg, as Open does;
// tools that list every command of a node call it.
func Register(reg *state.Registry) { registerCluster(reg) }

func registerCluster(reg *state.Registry) {
	reg.Bucket(bucketCluster)
	reg.Handle(cmdSetCA, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var ca caRecord
		if err := json.Unmarshal(cmd.Body, &ca); err != nil {
			return nil, state.Reject(state.InvalidRequest, "cluster.ca: %v", err)
		}
		return nil, tx.Put(bucketCluster, []byte("ca"), cmd.Body)
	})
	registerMembership(reg)
}

// caRecord is the cluster CA as replicated (sealed like every value).
type caRecord struct {
	Cert []byte `json:"cert"` // PEM
	Key  []byte `json:"key"`  // PKCS#8 PEM
}

func caCommand(ca *sm.Certificate, key *sm.PrivateKey) (*state.Command, error) {
	keyPEM, err := key.MarshalPEM()
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(caRecord{Cert: ca.PEM(), Key: keyPEM})
	return state.NewCommand(cmdSetCA, body, time.Now()), nil
}

func (n *Node) clusterCA() (*sm.Certificate, *sm.PrivateKey, error) {
	var raw []byte
	if err := n.st.View(func(r *state.ReadTx) error {
		var err error
		raw, err = r.Get(bucketCluster, []byte("ca"))
		return err
	}); err != nil {
		return nil, nil, err
	}
	if raw == nil {
		return nil, nil, errors.New("cluster: CA not yet replicated")
	}
	var rec caRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, nil, err
	}
	cert, err := sm.ParseCertificatePEM(rec.Cert)
	if err != nil {
		return nil, nil, err
	}
	key, err := sm.ParsePrivateKeyPEM(rec.Key)
	return cert, key, err
}

type joinRequest struct {
	NodeID    string `json:"node_id"`
	Address   string `json:"address"`
	PublicKey []byte `json:"public_key"` // PEM
	MAC       []byte `json:"mac"`
}

type joinResponse struct {
	Error  string `json:"error,omitempty"`
	Leader string `json:"leader,omitempty"`
	Cert   []byte `json:"cert,omitempty"` // PEM
	CA     []byte `json:"ca,omitempty"`   // PEM
	MAC    []byte `json:"mac,omitempty"`
}

func joinRequestMAC(proof, binding []byte, r *joinRequest) []byte {
	m := sm.HMAC(proof, []byte("cxt/join-request/v1"), binding, []byte(r.NodeID), []byte{0}, []byte(r.Address), []byte{0}, r.PublicKey)
	return m[:]
}

func joinResponseMAC(proof, binding []byte, r *joinResponse) []byte {
	m := sm.HMAC(proof, []byte("cxt/join-response/v1"), binding, r.Cert, []byte{0}, r.CA)
	return m[:]
}

// serveJoin issues a certificate to a node that proves it holds the master
// key. Membership comes later, when the node starts and asks (opAddVoter).
func (n *Node) serveJoin(conn net.Conn, binding []byte) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	answer := func(r joinResponse) {
		b, _ := json.Marshal(r)
		writeFrame(conn, b)
	}
	raw, err := readFrame(conn, 64<<10)
	if err != nil {
		return
	}
	var req joinRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		answer(joinResponse{Error: "malformed join request"})
		return
	}
	proof := n.cfg.Master.ProofKey()
	if !sm.Equal(req.MAC, joinRequestMAC(proof, binding, &req)) {
		n.log.Warn("refused join: wrong cluster key", "node_id", req.NodeID, "remote", conn.RemoteAddr().String())
		answer(joinResponse{Error: ErrWrongClusterKey.Error()})
		return
	}
	if n.raft.State() != raft.Leader {
		addr, _ := n.raft.LeaderWithID()
		answer(joinResponse{Error: "not_leader", Leader: string(addr)})
		return
	}
	pub, err := sm.ParsePublicKeyPEM(req.PublicKey)
	if err != nil || req.NodeID == "" || req.Address == "" {
		answer(joinResponse{Error: "join request needs node_id, address and an SM2 public_key"})
		return
	}
	// A new certificate replaces the one pinned for the ID: a running
	// member would be cut off by a join under its name.
	if member, _ := n.configHas(req.NodeID); member {
		answer(joinResponse{Error: fmt.Sprintf("node %q is a member of the cluster; remove it first, or join under another node ID", req.NodeID)})
		return
	}
	ca, caKey, err := n.clusterCA()
	if err != nil {
		answer(joinResponse{Error: err.Error()})
		return
	}
	now := time.Now()
	cert, err := sm.Issue(ca, caKey, pub, req.NodeID, now.Add(-5*time.Minute), now.Add(nodeCertLife))
	if err != nil {
		answer(joinResponse{Error: err.Error()})
		return
	}
	// The pin commits before the joiner has its certificate, so the
	// leader accepts it when it asks to be added. It also lifts a removal:
	// the master key is proof enough to come back, with this certificate.
	pinCtx, cancel := context.WithTimeout(context.Background(), defaultProposeTimeout)
	_, err = n.ProposeOK(pinCtx, pinCommand(cert, false, auditlog.Context{
		Subject: "operator:" + req.NodeID, Action: "join", Object: req.NodeID, Source: conn.RemoteAddr().String(),
	}))
	cancel()
	if err != nil {
		answer(joinResponse{Error: "register the node certificate: " + err.Error()})
		return
	}
	resp := joinResponse{Cert: cert.PEM(), CA: ca.PEM()}
	resp.MAC = joinResponseMAC(proof, binding, &resp)
	n.log.Info("issued node certificate", "node_id", req.NodeID, "address", req.Address)
	answer(resp)
}

// RequestIdentity asks a cluster member for a node certificate, proving
// possession of master and checking that the member holds it too. It follows
// redirects to the leader.
func RequestIdentity(ctx context.Context, addr string, master *keyring.MasterKey, nodeID, advertise string, key *sm.PrivateKey) (*Identity, error) {
	pubPEM, err := key.Public().MarshalPEM()
	if err != nil {
		return nil, err
	}
	first := addr
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("cluster: join %s: no leader found: %w", first, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
		conn, binding, err := dialTLS(ctx, addr, kindJoin, clientTLS())
		if err != nil {
			return nil, fmt.Errorf("cluster: reach %s: %w", addr, err)
		}
		proof := master.ProofKey()
		req := joinRequest{NodeID: nodeID, Address: advertise, PublicKey: pubPEM}
		req.MAC = joinRequestMAC(proof, binding, &req)
		b, _ := json.Marshal(req)
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if err := writeFrame(conn, b); err != nil {
			conn.Close()
			return nil, err
		}
		raw, err := readFrame(conn, 64<<10)
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("cluster: join %s: %w", addr, err)
		}
		var resp joinResponse
		if err := json.Unmarshal(raw, &resp); err != nil {
			return nil, fmt.Errorf("cluster: join %s: malformed answer", addr)
		}
		switch {
		case resp.Error == "not_leader":
			if resp.Leader != "" {
				addr = resp.Leader
			}
			continue // an election may be under way
		case resp.Error == ErrWrongClusterKey.Error():
			return nil, ErrWrongClusterKey
		case resp.Error != "":
			return nil, fmt.Errorf("cluster: join %s: %s", addr, resp.Error)
		}
		if !sm.Equal(resp.MAC, joinResponseMAC(proof, binding, &resp)) {
			return nil, fmt.Errorf("%w: %s does not hold this cluster key", ErrWrongClusterKey, addr)
		}
		cert, err := sm.ParseCertificatePEM(resp.Cert)
		if err != nil {
			return nil, err
		}
		ca, err := sm.ParseCertificatePEM(resp.CA)
		if err != nil {
			return nil, err
		}
		if err := cert.VerifyIssuedBy(ca, time.Now()); err != nil || !cert.PublicKey().Equal(key.Public()) {
			return nil, fmt.Errorf("cluster: join %s: issued certificate does not match", addr)
		}
		return &Identity{Key: key, Cert: cert, CA: ca}, nil
	}
}

// joinLoop asks the join addresses to add this node until one does.
func (n *Node) joinLoop() {
	defer n.wg.Done()
	req, _ := json.Marshal(addVoter{ID: n.cfg.NodeID, Address: n.cfg.Advertise})
	for backoff := 100 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		for _, addr := range n.cfg.JoinAddrs {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := n.rpc.call(ctx, addr, "", opAddVoter, req) // a join address names no node
			cancel()
			if err == nil {
				n.log.Info("joined the cluster", "via", addr)
				return
			}
			var re *rpcError
			if errors.As(err, &re) && re.status == statusNotLeader && len(re.msg) > 0 {
				n.cfg.JoinAddrs = append([]string{re.msg}, n.cfg.JoinAddrs...)
			}
			n.log.Debug("join attempt failed", "via", addr, "err", err)
		}
		select {
		case <-n.stop:
			return
		case <-time.After(backoff):
		}
	}
}

func (n *Node) addVoter(id, addr string) error {
	conf := n.raft.GetConfiguration()
	if err := conf.Error(); err != nil {
		return err
	}
	for _, s := range conf.Configuration().Servers {
		if s.ID == raft.ServerID(id) && s.Address == raft.ServerAddress(addr) && s.Suffrage == raft.Voter {
			return nil // already a member: joining is idempotent
		}
	}
	return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, defaultProposeTimeout).Error()
}

// TransferLeadership hands leadership to another voter (this node must lead).
func (n *Node) TransferLeadership() error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	return n.raft.LeadershipTransfer().Error()
}
