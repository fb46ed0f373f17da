package auditlog

import (
	"encoding/hex"

	"cxt/crypto/sm"
)

// Hash is an SM3 digest: a leaf, an interior node or a root.
type Hash [sm.HashSize]byte

// LeafHash is SM3(0x00 || entry); interior nodes are SM3(0x01 || left ||
// right), so a leaf can never pass for a node (RFC 6962 §2.1).
func LeafHash(entry []byte) Hash {
	h := sm.NewHash()
	h.Write([]byte{0})
	h.Write(entry)
	var out Hash
	h.Sum(out[:0])
	return out
}

func nodeHash(l, r Hash) Hash {
	h := sm.NewHash()
	h.Write([]byte{1})
	h.Write(l[:])
	h.Write(r[:])
	var out Hash
	h.Sum(out[:0])
	return out
}

// emptyRoot is the root of a tree with no leaves: SM3 of nothing.
func emptyRoot() Hash { return Hash(sm.Sum(nil)) }

// largestPow2Below returns the largest power of two strictly less than n (n > 1).
func largestPow2Below(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// Root is the Merkle tree hash of leaves (RFC 6962 MTH).
func Root(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return emptyRoot()
	case 1:
		return leaves[0]
	}
	k := largestPow2Below(len(leaves))
	return nodeHash(Root(leaves[:k]), Root(leaves[k:]))
}

// InclusionProof returns the audit path of leaf i in the tree of leaves
// (RFC 6962 PATH).
func InclusionProof(leaves []Hash, i int) []Hash {
	if len(leaves) <= 1 {
		return nil
	}
	k := largestPow2Below(len(leaves))
	if i < k {
		return append(InclusionProof(leaves[:k], i), Root(leaves[k:]))
	}
	return append(InclusionProof(leaves[k:], i-k), Root(leaves[:k]))
}

// VerifyInclusion checks that leaf is entry i of a tree of size n with root.
func VerifyInclusion(leaf Hash, i, n int, proof []Hash, root Hash) bool {
	if i < 0 || i >= n {
		return false
	}
	got, rest, ok := climb(leaf, i, n, proof)
	return ok && len(rest) == 0 && got == root
}

// climb recomputes the root of a size-n tree from leaf i and its path,
// consuming the path from the bottom.
func climb(leaf Hash, i, n int, proof []Hash) (Hash, []Hash, bool) {
	if n == 1 {
		return leaf, proof, true
	}
	k := largestPow2Below(n)
	var sub Hash
	var ok bool
	if i < k {
		sub, proof, ok = climb(leaf, i, k, proof)
		if !ok || len(proof) == 0 {
			return Hash{}, nil, false
		}
		return nodeHash(sub, proof[0]), proof[1:], true
	}
	sub, proof, ok = climb(leaf, i-k, n-k, proof)
	if !ok || len(proof) == 0 {
		return Hash{}, nil, false
	}
	return nodeHash(proof[0], sub), proof[1:], true
}

// ConsistencyProof proves that the tree of the first m leaves is a prefix of
// the tree of all leaves (RFC 6962 PROOF).
func ConsistencyProof(leaves []Hash, m int) []Hash {
	if m <= 0 || m >= len(leaves) {
		return nil
	}
	return subproof(leaves, m, true)
}

func subproof(leaves []Hash, m int, complete bool) []Hash {
	n := len(leaves)
	if m == n {
		if complete {
			return nil
		}
		return []Hash{Root(leaves)}
	}
	k := largestPow2Below(n)
	if m <= k {
		return append(subproof(leaves[:k], m, complete), Root(leaves[k:]))
	}
	return append(subproof(leaves[k:], m-k, false), Root(leaves[:k]))
}

// VerifyConsistency checks a proof that the size-m tree with root oldRoot is
// a prefix of the size-n tree with root newRoot (RFC 9162 §2.1.4.2).
func VerifyConsistency(m, n int, oldRoot, newRoot Hash, proof []Hash) bool {
	switch {
	case m < 0 || m > n:
		return false
	case m == n:
		return len(proof) == 0 && oldRoot == newRoot
	case m == 0:
		return len(proof) == 0
	}
	if m&(m-1) == 0 { // m is a power of two: its root is the first node
		proof = append([]Hash{oldRoot}, proof...)
	}
	if len(proof) == 0 {
		return false
	}
	fn, sn := m-1, n-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			fr = nodeHash(c, fr)
			sr = nodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = nodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && fr == oldRoot && sr == newRoot
}

// frontier is the right edge of a tree: the roots of its perfect subtrees,
// largest first, from which the root follows and the next leaf is added in
// O(log n) — what the state keeps so that appending never reads old leaves.
type frontier struct {
	Size    uint64 `json:"size"`
	Nodes   []Hash `json:"nodes"` // Nodes[i] covers 2^Heights[i] leaves
	Heights []int  `json:"heights"`
}

func (f *frontier) push(leaf Hash) {
	f.Nodes = append(f.Nodes, leaf)
	f.Heights = append(f.Heights, 0)
	for n := len(f.Nodes); n >= 2 && f.Heights[n-1] == f.Heights[n-2]; n = len(f.Nodes) {
		merged := nodeHash(f.Nodes[n-2], f.Nodes[n-1])
		f.Nodes = append(f.Nodes[:n-2], merged)
		f.Heights = append(f.Heights[:n-2], f.Heights[n-2]+1)
	}
	f.Size++
}

func (f *frontier) root() Hash {
	if len(f.Nodes) == 0 {
		return emptyRoot()
	}
	r := f.Nodes[len(f.Nodes)-1]
	for i := len(f.Nodes) - 2; i >= 0; i-- {
		r = nodeHash(f.Nodes[i], r)
	}
	return r
}

// MarshalText writes the hash in hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }
