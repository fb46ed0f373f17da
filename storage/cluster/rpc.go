package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"cxt/crypto/sm"
	"cxt/storage/state"
)

// RPC operations on a kindRPC connection. A request is one frame of
// [op][payload]; the answer is one frame of [status][payload].
const (
	opApply     byte = 'A' // payload: a log entry of sealed commands; answer: their results
	opReadIndex byte = 'I' // answer: 8-byte index
	opAddVoter  byte = 'V' // payload: JSON addVoter; only a node may add itself
	opRemove    byte = 'X' // payload: node ID
	opMembers   byte = 'M' // answer: JSON list of the node IDs in the asked node's configuration
)

const (
	statusOK        byte = 0
	statusError     byte = 1
	statusNotLeader byte = 2
)

type addVoter struct {
	ID      string `json:"id"`
	Address string `json:"address"`
}

// rpcError is an error reported by the remote node.
type rpcError struct {
	status byte
	msg    string
}

func (e *rpcError) Error() string { return "cluster: remote: " + e.msg }

func (e *rpcError) Is(target error) bool {
	return target == ErrNotLeader && e.status == statusNotLeader
}

// isTransient tells network failures talking to a peer, worth a retry.
func isTransient(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

func (n *Node) serveRPC(conn net.Conn, peer *sm.Certificate) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	for {
		req, err := readFrame(r, maxFrame)
		if err != nil || len(req) == 0 {
			return
		}
		status, payload := n.handleRPC(req[0], req[1:], peer)
		if err := writeFrame(w, append([]byte{status}, payload...)); err != nil {
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

func (n *Node) handleRPC(op byte, payload []byte, cert *sm.Certificate) (byte, []byte) {
	// Only members may ask anything, checked at every request: a node
	// removed while its connection was open is refused from then on. A node
	// the cluster has issued a certificate to but not yet added may only
	// ask to be added.
	peer := cert.CommonName()
	if member, _ := n.configHas(peer); !member {
		if op != opAddVoter {
			return statusError, []byte(fmt.Sprintf("node %q is not a member of this cluster", peer))
		}
		if err := n.mayAskToJoin(cert); err != nil {
			return statusError, []byte(err.Error())
		}
	}
	if op == opMembers { // any member answers: see vouch
		return statusOK, n.memberIDs()
	}
	if n.raft.State() != raft.Leader {
		addr, _ := n.raft.LeaderWithID()
		return statusNotLeader, []byte(addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultProposeTimeout)
	defer cancel()
	switch op {
	case opApply:
		// A malformed entry must never reach the log: every replica would
		// have to refuse it.
		if _, err := state.DecodeEntry(payload); err != nil {
			return statusError, []byte(err.Error())
		}
		res, err := n.applyEntry(ctx, payload)
		if err != nil {
			return errStatus(err)
		}
		return statusOK, encodeResults(res)
	case opReadIndex:
		idx, err := n.leaderReads.index(ctx)
		if err != nil {
			return errStatus(err)
		}
		return statusOK, binary.BigEndian.AppendUint64(nil, idx)
	case opAddVoter:
		var req addVoter
		if err := json.Unmarshal(payload, &req); err != nil {
			return statusError, []byte("bad add-voter request")
		}
		if req.ID != peer {
			return statusError, []byte(fmt.Sprintf("node %q may not add %q", peer, req.ID))
		}
		if err := n.addVoter(req.ID, req.Address); err != nil {
			return errStatus(err)
		}
		return statusOK, nil
	case opRemove:
		if err := n.removeAsLeader(ctx, string(payload), peer); err != nil {
			return errStatus(err)
		}
		return statusOK, nil
	}
	return statusError, []byte(fmt.Sprintf("unknown op %q", op))
}

func errStatus(err error) (byte, []byte) {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, ErrNotLeader) {
		return statusNotLeader, nil
	}
	return statusError, []byte(err.Error())
}

func (n *Node) forwardReadIndex(ctx context.Context, leader, leaderID string) (uint64, error) {
	b, err := n.rpc.call(ctx, leader, leaderID, opReadIndex, nil)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, errors.New("cluster: bad read-index answer")
	}
	return binary.BigEndian.Uint64(b), nil
}

// rpcClient keeps idle authenticated connections per peer (address and the
// node ID its certificate was checked to name).
type rpcClient struct {
	tr   *transport
	mu   sync.Mutex
	idle map[string][]*rpcConn
}

type rpcConn struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

const maxIdlePerPeer = 32

func newRPCClient(tr *transport) *rpcClient {
	return &rpcClient{tr: tr, idle: map[string][]*rpcConn{}}
}

func (c *rpcClient) get(ctx context.Context, addr, want string) (*rpcConn, error) {
	key := addr + "\x00" + want
	c.mu.Lock()
	if l := c.idle[key]; len(l) > 0 {
		conn := l[len(l)-1]
		c.idle[key] = l[:len(l)-1]
		c.mu.Unlock()
		return conn, nil
	}
	c.mu.Unlock()
	conn, err := c.tr.dial(ctx, addr, want, kindRPC)
	if err != nil {
		return nil, err
	}
	return &rpcConn{Conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}, nil
}

func (c *rpcClient) put(key string, conn *rpcConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle[key]) >= maxIdlePerPeer {
		conn.Close()
		return
	}
	c.idle[key] = append(c.idle[key], conn)
}

func (c *rpcClient) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, l := range c.idle {
		for _, conn := range l {
			conn.Close()
		}
		delete(c.idle, key)
	}
}

// call sends one request to the node want at addr and waits for its answer.
func (c *rpcClient) call(ctx context.Context, addr, want string, op byte, payload []byte) ([]byte, error) {
	conn, err := c.get(ctx, addr, want)
	if err != nil {
		return nil, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(defaultProposeTimeout)
	}
	conn.SetDeadline(dl)
	if err := writeFrame(conn.w, append([]byte{op}, payload...)); err != nil {
		conn.Close()
		return nil, err
	}
	if err := conn.w.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := readFrame(conn.r, maxFrame)
	if err != nil || len(resp) == 0 {
		conn.Close()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	c.put(addr+"\x00"+want, conn)
	if resp[0] != statusOK {
		return nil, &rpcError{status: resp[0], msg: string(resp[1:])}
	}
	return resp[1:], nil
}
