package cluster

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"cxt/crypto/sm"
)

// Connection kinds, the first byte a dialer sends after the TLS handshake.
const (
	kindRaft byte = 'R'
	kindRPC  byte = 'P'
	kindJoin byte = 'J'
)

const (
	handshakeTimeout = 10 * time.Second
	maxFrame         = 64 << 20
)

// Identity is what a node proves itself with: its SM2 key and the
// certificate the cluster CA issued for it.
type Identity struct {
	Key  *sm.PrivateKey
	Cert *sm.Certificate
	CA   *sm.Certificate
}

// transport owns a node's listener and hands out authenticated connections.
type transport struct {
	ln     net.Listener
	advert net.Addr
	id     *Identity
	tlsSrv *tls.Config
	tlsCli *tls.Config
	log    *slog.Logger

	raftCh chan net.Conn
	rpc    func(conn net.Conn, peer *sm.Certificate) // serves one admitted RPC connection
	join   func(conn net.Conn, binding []byte)

	// Membership, decided by the node (see membership.go). admit tells
	// whether a peer that proved its certificate may open a connection of
	// a kind, and returns what tells, at every read, whether it still may.
	// expect checks the peer a dial reached; idAt names the member that
	// the Raft configuration places at an address.
	admit  func(peer *sm.Certificate, kind byte) (stillMember func() bool, err error)
	expect func(peer *sm.Certificate, want string) error
	idAt   func(addr string) string

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

func newTransport(ln net.Listener, advertise string, id *Identity, log *slog.Logger) (*transport, error) {
	cert, err := ephemeralTLSCert()
	if err != nil {
		return nil, err
	}
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, fmt.Errorf("cluster: advertise address %q: %w", advertise, err)
	}
	if adv.IP == nil || adv.IP.IsUnspecified() {
		return nil, fmt.Errorf("cluster: advertise address %q must name a reachable host", advertise)
	}
	return &transport{
		ln:     ln,
		advert: adv,
		id:     id,
		// Peers are authenticated by their SM2 certificates bound to the
		// session, not by these throwaway TLS certificates.
		tlsSrv: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13},
		tlsCli: clientTLS(),
		log:    log,
		raftCh: make(chan net.Conn, 16),
		closed: make(chan struct{}),
	}, nil
}

func (t *transport) serve() {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			c, err := t.ln.Accept()
			if err != nil {
				select {
				case <-t.closed:
					return
				default:
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				t.log.Error("cluster listener stopped", "err", err)
				return
			}
			go t.handle(c)
		}
	}()
}

func (t *transport) handle(raw net.Conn) {
	raw.SetDeadline(time.Now().Add(handshakeTimeout))
	conn := tls.Server(raw, t.tlsSrv)
	if err := conn.Handshake(); err != nil {
		raw.Close()
		return
	}
	var kind [1]byte
	if _, err := io.ReadFull(conn, kind[:]); err != nil {
		conn.Close()
		return
	}
	binding, err := channelBinding(conn)
	if err != nil {
		conn.Close()
		return
	}
	if kind[0] == kindJoin {
		conn.SetDeadline(time.Time{})
		t.join(conn, binding)
		return
	}
	peer, err := t.authenticate(conn, binding, 's')
	if err != nil {
		t.log.Warn("refused cluster peer", "remote", raw.RemoteAddr().String(), "err", err)
		conn.Close()
		return
	}
	if kind[0] != kindRaft && kind[0] != kindRPC {
		conn.Close()
		return
	}
	still, err := t.admit(peer, kind[0])
	if err != nil {
		t.log.Warn("refused cluster peer", "node", peer.CommonName(), "remote", raw.RemoteAddr().String(), "err", err)
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	switch kind[0] {
	case kindRaft:
		select {
		case t.raftCh <- &memberConn{Conn: conn, peer: peer.CommonName(), still: still}:
		case <-t.closed:
			conn.Close()
		}
	case kindRPC:
		t.rpc(conn, peer)
	default:
		conn.Close()
	}
}

// dial opens an authenticated connection of kind to addr, whose
// certificate must name the node want ("" when the caller cannot know it,
// as a joiner asking its join address).
func (t *transport) dial(ctx context.Context, addr, want string, kind byte) (net.Conn, error) {
	conn, binding, err := dialTLS(ctx, addr, kind, t.tlsCli)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	peer, err := t.authenticate(conn, binding, 'c')
	if err == nil {
		err = t.expect(peer, want)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("cluster: %s: %w", addr, err)
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

func dialTLS(ctx context.Context, addr string, kind byte, cfg *tls.Config) (*tls.Conn, []byte, error) {
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: handshakeTimeout}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	conn := c.(*tls.Conn)
	if _, err := conn.Write([]byte{kind}); err != nil {
		conn.Close()
		return nil, nil, err
	}
	binding, err := channelBinding(conn)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, binding, nil
}

// channelBinding is the TLS exporter value both ends of one session share
// and no other session has.
func channelBinding(conn *tls.Conn) ([]byte, error) {
	st := conn.ConnectionState()
	return st.ExportKeyingMaterial("EXPORTER-cxt-node-auth", nil, 32)
}

// authenticate exchanges SM2 proofs: each side sends its certificate and a
// signature over the binding and its role ('c' dialer, 's' listener), then
// checks the other's. It returns the peer's certificate, whose common name
// is its node ID.
func (t *transport) authenticate(conn net.Conn, binding []byte, role byte) (*sm.Certificate, error) {
	sig, err := t.id.Key.Sign(authMessage(binding, role))
	if err != nil {
		return nil, err
	}
	errc := make(chan error, 1)
	go func() { // write and read concurrently so neither side waits on the other
		if err := writeFrame(conn, t.id.Cert.DER()); err != nil {
			errc <- err
			return
		}
		errc <- writeFrame(conn, sig)
	}()
	certDER, err := readFrame(conn, 16<<10)
	if err != nil {
		return nil, err
	}
	peerSig, err := readFrame(conn, 1<<10)
	if err != nil {
		return nil, err
	}
	if err := <-errc; err != nil {
		return nil, err
	}
	cert, err := sm.ParseCertificate(certDER)
	if err != nil {
		return nil, err
	}
	if err := cert.VerifyIssuedBy(t.id.CA, time.Now()); err != nil {
		return nil, err
	}
	peerRole := byte('c')
	if role == 'c' {
		peerRole = 's'
	}
	if !cert.PublicKey().Verify(authMessage(binding, peerRole), peerSig) {
		return nil, errors.New("peer's SM2 proof does not match this TLS session")
	}
	return cert, nil
}

func authMessage(binding []byte, role byte) []byte {
	return append(append([]byte("cxt/node-auth/v1"), role), binding...)
}

func (t *transport) close() {
	t.closeOnce.Do(func() {
		close(t.closed)
		t.ln.Close()
	})
	t.wg.Wait()
}

// raftLayer adapts the transport to raft.StreamLayer.
type raftLayer struct{ t *transport }

func (l raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.t.raftCh:
		return c, nil
	case <-l.t.closed:
		return nil, net.ErrClosed
	}
}

func (l raftLayer) Close() error { l.t.close(); return nil }

func (l raftLayer) Addr() net.Addr { return l.t.advert }

// Dial reaches the member the Raft configuration places at addr, and only
// it: a certificate naming another node is refused.
func (l raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	want := l.t.idAt(string(addr))
	if want == "" {
		return nil, fmt.Errorf("cluster: no member of the configuration is at %s", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return l.t.dial(ctx, string(addr), want, kindRaft)
}

// memberConn is an accepted Raft connection that stays usable only while
// its peer may talk: a node removed from the configuration is cut off at
// its next message, even on a connection it opened as a member.
type memberConn struct {
	net.Conn
	peer  string
	still func() bool
}

// Read checks when bytes arrive, not when the read begins: Raft keeps a
// read waiting on an idle connection, and what arrives after a removal must
// not be served.
func (c *memberConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.still() {
		c.Conn.Close()
		return 0, fmt.Errorf("cluster: node %q is no longer a member", c.peer)
	}
	return n, err
}

// writeFrame writes [length u32][payload].
func writeFrame(w io.Writer, p []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(p)))
	if bw, ok := w.(*bufio.Writer); ok {
		bw.Write(hdr[:])
		_, err := bw.Write(p)
		return err
	}
	_, err := w.Write(append(hdr[:], p...))
	return err
}

// readFrame reads one frame of at most limit bytes.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > int64(limit) {
		return nil, fmt.Errorf("cluster: frame of %d bytes exceeds %d", n, limit)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return p, err
}

// clientTLS accepts any TLS certificate: the server proves itself afterwards
// with its SM2 certificate (or, to a joiner, with the master key) bound to the
// session, which a man in the middle cannot relay.
func clientTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
}

// ephemeralTLSCert makes a throwaway TLS certificate; see the package doc.
func ephemeralTLSCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "cxt-node-transport"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
