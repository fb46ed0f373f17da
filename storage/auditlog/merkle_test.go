package auditlog

import (
	"fmt"
	"testing"
)

func leaves(n int) []Hash {
	out := make([]Hash, n)
	for i := range out {
		out[i] = LeafHash([]byte(fmt.Sprintf("entry %d", i)))
	}
	return out
}

func TestTheFrontierGivesTheSameRootAsTheTree(t *testing.T) {
	var f frontier
	ls := leaves(70)
	for i, l := range ls {
		f.push(l)
		if got, want := f.root(), Root(ls[:i+1]); got != want {
			t.Fatalf("size %d: frontier root %x, tree root %x", i+1, got, want)
		}
	}
}

func TestInclusionProofsVerifyAndDetectTampering(t *testing.T) {
	for n := 1; n <= 33; n++ {
		ls := leaves(n)
		root := Root(ls)
		for i := range n {
			proof := InclusionProof(ls, i)
			if !VerifyInclusion(ls[i], i, n, proof, root) {
				t.Fatalf("n=%d i=%d: valid proof rejected", n, i)
			}
			if VerifyInclusion(LeafHash([]byte("forged")), i, n, proof, root) {
				t.Fatalf("n=%d i=%d: forged leaf accepted", n, i)
			}
			if n > 1 && VerifyInclusion(ls[i], (i+1)%n, n, proof, root) {
				t.Fatalf("n=%d i=%d: proof accepted at another index", n, i)
			}
		}
	}
}

func TestConsistencyProofsVerifyAndDetectRewrites(t *testing.T) {
	for n := 1; n <= 33; n++ {
		ls := leaves(n)
		for m := 1; m <= n; m++ {
			proof := ConsistencyProof(ls, m)
			if !VerifyConsistency(m, n, Root(ls[:m]), Root(ls), proof) {
				t.Fatalf("m=%d n=%d: valid proof rejected", m, n)
			}
			if m < n {
				rewritten := append([]Hash(nil), ls...)
				rewritten[m-1] = LeafHash([]byte("rewritten"))
				if VerifyConsistency(m, n, Root(ls[:m]), Root(rewritten), proof) {
					t.Fatalf("m=%d n=%d: rewritten history accepted", m, n)
				}
			}
		}
	}
}

func TestLeavesAndNodesAreDomainSeparated(t *testing.T) {
	a, b := LeafHash([]byte("a")), LeafHash([]byte("b"))
	node := nodeHash(a, b)
	if LeafHash(append(append([]byte{}, a[:]...), b[:]...)) == node {
		t.Fatal("a leaf hashes like an interior node")
	}
}
