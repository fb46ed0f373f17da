package cluster

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// TestPeer speaks the cluster protocol with an identity of the test's
// choosing and checks nothing about whom it reaches: it plays a removed
// node, or one that minted a certificate with a copy of the CA key.
type TestPeer struct {
	tr    *transport
	rpc   *rpcClient
	id    *Identity
	rafts map[string]*raft.NetworkTransport // by the member dialled; they keep their connections
}

// NewTestPeer serves ln with id, accepting anyone.
func NewTestPeer(ln net.Listener, id *Identity) (*TestPeer, error) {
	tr, err := newTransport(ln, ln.Addr().String(), id, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	tr.admit = func(*sm.Certificate, byte) (func() bool, error) { return func() bool { return true }, nil }
	tr.expect = func(*sm.Certificate, string) error { return nil }
	tr.idAt = func(string) string { return "" }
	tr.rpc = func(c net.Conn, _ *sm.Certificate) { c.Close() }
	tr.join = func(c net.Conn, _ []byte) { c.Close() }
	tr.serve()
	return &TestPeer{tr: tr, rpc: newRPCClient(tr), id: id, rafts: map[string]*raft.NetworkTransport{}}, nil
}

// Close stops the peer.
func (p *TestPeer) Close() {
	for _, t := range p.rafts {
		t.Close()
	}
	p.rpc.closeIdle()
	p.tr.close()
}

func (p *TestPeer) raftTransport(want string) *raft.NetworkTransport {
	if t := p.rafts[want]; t != nil {
		return t
	}
	t := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: testLayer{p.tr, want}, MaxPool: 1, Timeout: 5 * time.Second,
	})
	p.rafts[want] = t
	return t
}

func (p *TestPeer) header() raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(p.id.Cert.CommonName()), Addr: []byte(p.tr.advert.String())}
}

// RequestVote asks the member id at addr for its vote in term, claiming a
// log far ahead and a leadership transfer (which overrides "I have a
// leader"), and returns the answer.
func (p *TestPeer) RequestVote(addr, id string, term uint64) (*raft.RequestVoteResponse, error) {
	tr := p.raftTransport(id)
	var resp raft.RequestVoteResponse
	err := tr.RequestVote(raft.ServerID(id), raft.ServerAddress(addr), &raft.RequestVoteRequest{
		RPCHeader: p.header(), Term: term, LastLogIndex: 1 << 40, LastLogTerm: term, LeadershipTransfer: true,
	}, &resp)
	return &resp, err
}

// TimeoutNow tells the member id at addr to start an election at once, as a
// leader transferring leadership does.
func (p *TestPeer) TimeoutNow(addr, id string) error {
	tr := p.raftTransport(id)
	var resp raft.TimeoutNowResponse
	return tr.TimeoutNow(raft.ServerID(id), raft.ServerAddress(addr), &raft.TimeoutNowRequest{RPCHeader: p.header()}, &resp)
}

// Forward sends cmd, sealed with keys, to the leader at addr as a follower
// forwards a write.
func (p *TestPeer) Forward(ctx context.Context, keys *keyring.Keyring, addr string, cmd *state.Command) error {
	data, err := state.SealCommand(keys, cmd)
	if err != nil {
		return err
	}
	_, err = p.rpc.call(ctx, addr, "", opApply, state.EncodeEntry([][]byte{data}))
	return err
}

// Remove asks the leader at addr to remove victim.
func (p *TestPeer) Remove(ctx context.Context, addr, victim string) error {
	_, err := p.rpc.call(ctx, addr, "", opRemove, []byte(victim))
	return err
}

// AddSelf asks the leader at addr to add this peer as a voter, as a joined
// node does when it first starts.
func (p *TestPeer) AddSelf(ctx context.Context, addr string) error {
	req, _ := json.Marshal(addVoter{ID: p.id.Cert.CommonName(), Address: p.tr.advert.String()})
	_, err := p.rpc.call(ctx, addr, "", opAddVoter, req)
	return err
}

// ReadIndex asks the node at addr for a read index.
func (p *TestPeer) ReadIndex(ctx context.Context, addr string) error {
	_, err := p.rpc.call(ctx, addr, "", opReadIndex, nil)
	return err
}

type testLayer struct {
	t    *transport
	want string
}

func (l testLayer) Accept() (net.Conn, error) { <-l.t.closed; return nil, net.ErrClosed }
func (l testLayer) Close() error              { return nil }
func (l testLayer) Addr() net.Addr            { return l.t.advert }
func (l testLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return l.t.dial(ctx, string(addr), l.want, kindRaft)
}

// DialRaft opens and closes a Raft connection to addr as Raft itself would:
// to the member the configuration places there.
func (n *Node) DialRaft(addr string) error {
	c, err := raftLayer{n.tr}.Dial(raft.ServerAddress(addr), 5*time.Second)
	if err == nil {
		c.Close()
	}
	return err
}
