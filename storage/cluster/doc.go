// Package cluster replicates cxt's state machine with hashicorp/raft over
// node-to-node TLS whose peers prove their SM2 node certificates.
//
// One listener per node carries three kinds of connection, told apart by the
// first byte after the TLS handshake: Raft traffic, cluster RPCs (writes
// forwarded by followers, read-index requests, membership) and joins. Raft
// and RPC peers each sign the TLS session's exported keying material with
// their SM2 node key and present a certificate issued by the cluster CA, so
// a peer is authenticated by the national algorithms and bound to this very
// TLS session (RFC 9266-style channel binding). A joining node has no
// certificate yet; it proves with an HMAC-SM3 over the same binding that it
// holds the cluster's master key, and the leader, by the same proof, that it
// does too, before issuing the node its certificate.
//
// A CA certificate is necessary but not sufficient: the replicated state
// pins each node ID's certificate and keeps removed IDs, and every
// handshake also checks the Raft configuration (membership.go). Reads are
// linearizable through Raft's read index, without log writes (read.go).
//
// Go's TLS has no SM cipher suites (RFC 8998), so the TLS layer itself uses
// Go's TLS 1.3 suites; everything Raft carries is already sealed with SM4 by
// the keyring before it is proposed.
package cluster
