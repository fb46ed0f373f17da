package feed

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"

	"cxt/crypto/sm"
)

// Verification failures, by code: what a bureau's client reports.
const (
	BadHeadSignature = "head_signature_invalid" // the head is not signed by the platform's gateway key
	BadHead          = "head_mismatch"          // the head does not describe the entries it came with
	Gap              = "feed_gap"               // an entry is missing or out of order
	Tampered         = "entry_tampered"         // an entry's fields do not give its hash
	IdentityAltered  = "identity_tampered"      // an identity does not give its hash
	BrokenChain      = "chain_broken"           // an entry's chain is not the previous chain and its hash
	OutOfScope       = "entry_out_of_scope"     // an office page carries another office's entry
	NotCanonical     = "page_not_canonical"     // the page's bytes are not the gateway's writing of its content
)

// VerifyError names the first thing wrong with a page.
type VerifyError struct {
	Code string
	Seq  uint64 // the scope's number of the entry at fault; 0 for the head
	Msg  string
}

func (e *VerifyError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Msg)
	}
	return fmt.Sprintf("%s: entry %d: %s", e.Code, e.Seq, e.Msg)
}

func bad(code string, seq uint64, format string, args ...any) error {
	return &VerifyError{Code: code, Seq: seq, Msg: fmt.Sprintf(format, args...)}
}

// Cursor is where a client stands in one scope's chain: the last number it
// holds and the chain after it.
type Cursor struct {
	Scope string `json:"scope"`
	Seq   uint64 `json:"seq"`
	Chain string `json:"chain"` // hex; 64 zeros before the first entry
}

// Start is the cursor before a scope's first entry.
func Start(scope string) Cursor {
	return Cursor{Scope: scope, Chain: hex.EncodeToString(make([]byte, sm.HashSize))}
}

// Verify checks page against the platform's gateway key and the cursor it
// continues from, and returns the cursor after it: the head is signed by
// pub, describes this scope from the cursor on, and every entry is the next
// number, gives its hash from its fields and identity, and extends the chain
// to the head's.
func Verify(page *Page, pub *sm.PublicKey, at Cursor) (Cursor, *Head, error) {
	sig, err := base64.StdEncoding.DecodeString(page.Signature)
	if err != nil || !pub.Verify([]byte(page.Head), sig) {
		return at, nil, bad(BadHeadSignature, 0, "the page head's signature does not verify with the platform's gateway key")
	}
	var h Head
	if err := json.Unmarshal([]byte(page.Head), &h); err != nil {
		return at, nil, bad(BadHead, 0, "the head is not JSON: %v", err)
	}
	switch {
	case h.Protocol != Protocol:
		return at, &h, bad(BadHead, 0, "protocol %q, want %q", h.Protocol, Protocol)
	case h.Scope != at.Scope:
		return at, &h, bad(BadHead, 0, "the head is of scope %q, the pull of %q", h.Scope, at.Scope)
	case h.First != at.Seq+1 || h.Prev != at.Chain:
		return at, &h, bad(Gap, 0, "the page starts after %d with chain %s; the client holds %d with chain %s", h.First-1, h.Prev, at.Seq, at.Chain)
	case h.Last != h.First-1+uint64(len(page.Entries)):
		return at, &h, bad(BadHead, 0, "the head counts %d entries (%d–%d), the page has %d", h.Last-h.First+1, h.First, h.Last, len(page.Entries))
	case h.End < h.Last:
		return at, &h, bad(BadHead, 0, "the head ends the chain at %d, before its own last entry %d", h.End, h.Last)
	}
	chain, err := decodeHash(at.Chain)
	if err != nil {
		return at, &h, bad(BadHead, 0, "the cursor's chain: %v", err)
	}
	hashes, errs := checkAll(page.Entries)
	n := at.Seq
	for i := range page.Entries {
		e := &page.Entries[i]
		n++
		pos := e.Seq
		if h.Scope != ScopePlatform {
			pos = e.OfficeSeq
			if e.Office != h.Scope {
				return at, &h, bad(OutOfScope, n, "office %q on a page of office %q", e.Office, h.Scope)
			}
		}
		if pos != n {
			return at, &h, bad(Gap, n, "the next entry is numbered %d", pos)
		}
		if err := errs[i]; err != nil {
			return at, &h, &VerifyError{Code: err.(*VerifyError).Code, Seq: n, Msg: err.(*VerifyError).Msg}
		}
		chain = Next(chain, hashes[i])
		if !hexIs(e.Chain, chain) {
			return at, &h, bad(BrokenChain, n, "its chain is %s, the previous chain and its hash give %x", e.Chain, chain)
		}
	}
	if h.Chain != hex.EncodeToString(chain[:]) {
		return at, &h, bad(BadHead, 0, "the head's chain %s is not the last entry's %x", h.Chain, chain)
	}
	return Cursor{Scope: at.Scope, Seq: n, Chain: h.Chain}, &h, nil
}

// checkAll recomputes every entry's hash, a page of thousands on as many
// cores as there are (each entry's hash is its own; only the chain that
// follows is sequential).
func checkAll(entries []WireEntry) ([]Hash, []error) {
	hashes, errs := make([]Hash, len(entries)), make([]error, len(entries))
	workers := min(runtime.GOMAXPROCS(0), len(entries)/500+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := checker{h: sm.NewHash()}
			for i := w; i < len(entries); i += workers {
				hashes[i], errs[i] = c.check(&entries[i])
			}
		}()
	}
	wg.Wait()
	return hashes, errs
}

// checker recomputes entries' hashes with one hasher and one buffer.
type checker struct {
	h   hash.Hash
	buf []byte
}

// hexIs reports whether s is h in lower-case hex.
func hexIs(s string, h Hash) bool {
	var x [2 * sm.HashSize]byte
	hex.Encode(x[:], h[:])
	return s == string(x[:])
}

// check recomputes the entry's hash from its fields.
func (c *checker) check(e *WireEntry) (Hash, error) {
	var idBuf [sm.HashSize]byte
	idSum := idBuf[:0]
	if e.IdentitySM3 != "" {
		if len(e.IdentitySM3) != 2*sm.HashSize {
			return Hash{}, bad(Tampered, 0, "identity_sm3 %q is not an SM3 digest", e.IdentitySM3)
		}
		if _, err := hex.Decode(idBuf[:], []byte(e.IdentitySM3)); err != nil {
			return Hash{}, bad(Tampered, 0, "identity_sm3 %q is not an SM3 digest", e.IdentitySM3)
		}
		idSum = idBuf[:]
	}
	switch {
	case e.Identity != nil && len(idSum) == 0:
		return Hash{}, bad(IdentityAltered, 0, "an identity on an entry that has none")
	case e.Identity != nil:
		if s := sm.Sum([]byte(*e.Identity)); !hexIs(e.IdentitySM3, s) {
			return Hash{}, bad(IdentityAltered, 0, "the identity's SM3 is %x, the entry's identity_sm3 %s", s, e.IdentitySM3)
		}
	case len(idSum) != 0 && !e.Destroyed:
		return Hash{}, bad(IdentityAltered, 0, "the identity is missing and the entry is not marked destroyed")
	}
	// The time is hashed as served: a time in another form than the one
	// the entry was hashed with gives another hash.
	c.buf = lineHeader(c.buf[:0], e.Seq, e.Type, e.Version, e.Time, e.Office, e.Subject, idSum)
	c.h.Reset()
	c.h.Write(c.buf)
	io.WriteString(c.h, e.Payload)
	var h Hash
	c.h.Sum(h[:0])
	if !hexIs(e.Hash, h) {
		return Hash{}, bad(Tampered, 0, "its fields hash to %x, it claims %s", h, e.Hash)
	}
	return h, nil
}

func decodeHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sm.HashSize {
		return h, fmt.Errorf("%q is not an SM3 digest in hex", s)
	}
	copy(h[:], b)
	return h, nil
}
