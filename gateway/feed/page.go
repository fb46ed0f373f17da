package feed

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"cxt/storage/state"
)

// ScopePlatform is a page head's scope for the global chain; an office's
// chain is scoped by its code.
const ScopePlatform = "platform"

// Rejections of a page request.
var (
	CodeBeyondEnd = state.NewCode(state.KindInvalid, "feed_after_beyond_end")
)

// WireEntry is an entry as a page carries it.
type WireEntry struct {
	Seq       uint64 `json:"seq"`
	OfficeSeq uint64 `json:"office_seq,omitempty"` // its number in the office chain of an office page
	Type      string `json:"type"`
	Version   int    `json:"v"`
	Time      string `json:"time"`
	Office    string `json:"office"`
	Subject   string `json:"subject"`
	// Payload is the JSON text whose SM3 the entry hash covers, as a string
	// so that its bytes survive any JSON parser.
	Payload string `json:"payload"`
	// Identity is the subject's personal fields as JSON text, or null: the
	// entry has none, or they were destroyed with the subject's archive
	// (Destroyed), and only IdentitySM3 is left.
	Identity    *string `json:"identity"`
	IdentitySM3 string  `json:"identity_sm3"`
	Destroyed   bool    `json:"destroyed,omitempty"`
	Hash        string  `json:"hash"`
	Chain       string  `json:"chain"` // the page scope's chain after this entry
}

// Head is what a page's signature covers: which chain, which numbers, the
// chain before and after them, how far the chain reached when the page was
// served, and when.
type Head struct {
	Protocol string `json:"protocol"`
	Scope    string `json:"scope"` // ScopePlatform or an office code
	// Office is, on a page of the whole feed, the platform's own tax
	// office's code: a client that asked for that office checks it got it.
	Office string `json:"office,omitempty"`
	First  uint64 `json:"first_seq"`
	Last   uint64 `json:"last_seq"` // First-1 for an empty page
	Prev   string `json:"prev_hash"`
	Chain  string `json:"chain_hash"`
	End    uint64 `json:"end_seq"`
	Time   string `json:"time"`
}

// Page is one answer of the feed.
type Page struct {
	Head      string      `json:"head"`      // the signed bytes: Head as JSON
	Signature string      `json:"signature"` // base64 of the DER SM2 signature over Head
	Entries   []WireEntry `json:"entries"`
}

// Opener opens an entry's identity under its subject's key; it returns
// ErrDestroyed when the subject was shredded.
type Opener func(subject, aad string, envelope []byte) ([]byte, error)

// ErrDestroyed is what an Opener returns for a shredded subject.
var ErrDestroyed = errors.New("feed: the subject's archive was destroyed")

// MaxPageBytes bounds a page's payloads and identities: a page ends before
// the entry that would pass it, though it always holds at least one (a
// chunk's payments entry runs to a few hundred kilobytes).
const MaxPageBytes = 16 << 20

// Read returns up to limit entries of scope (Platform or an office) after
// number after, with the head they end at, not yet signed.
func Read(r *state.ReadTx, scope string, after uint64, limit int, open Opener) (Head, []WireEntry, error) {
	var out []WireEntry
	h, err := scan(r, scope, after, limit, func(e *Entry, officeSeq uint64, chain Hash) error {
		w, err := wire(e, open)
		if err != nil {
			return err
		}
		w.OfficeSeq, w.Chain = officeSeq, hex.EncodeToString(chain[:])
		out = append(out, w)
		return nil
	})
	if out == nil {
		out = []WireEntry{}
	}
	return h, out, err
}

// ReadJSON is Read writing the entries as a page's JSON array elements
// (comma-separated, without the brackets) straight from the stored
// entries: the gateway serves pages of thousands, and this makes no
// WireEntry of each. SignJSON makes the page.
func ReadJSON(r *state.ReadTx, scope string, after uint64, limit int, open Opener) (Head, []byte, error) {
	var b []byte
	h, err := scan(r, scope, after, limit, func(e *Entry, officeSeq uint64, chain Hash) error {
		if b == nil {
			b = make([]byte, 0, min(limit, 1<<16)*(400+len(e.Payload)))
		} else {
			b = append(b, ',')
		}
		var err error
		b, err = appendEntry(b, e, officeSeq, chain, open)
		return err
	})
	return h, b, err
}

// scan visits up to limit entries of scope after number after, each with
// its number in an office's chain (0 in the global one) and the scope's
// chain after it, and returns the head they end at.
func scan(r *state.ReadTx, scope string, after uint64, limit int, fn func(e *Entry, officeSeq uint64, chain Hash) error) (Head, error) {
	tip, err := ReadTip(r, scope)
	if err != nil {
		return Head{}, err
	}
	if after > tip.Seq {
		return Head{}, state.Reject(CodeBeyondEnd, "after=%d is beyond the end of the feed (%d)", after, tip.Seq)
	}
	prev, err := ChainAt(r, scope, after)
	if err != nil {
		return Head{}, err
	}
	h := Head{Protocol: Protocol, Scope: scope, First: after + 1, Last: after, Prev: hex.EncodeToString(prev[:]), End: tip.Seq}
	if scope == Platform {
		h.Scope = ScopePlatform
	}
	chain := prev
	size, n := 0, 0
	full := func() bool { return n == limit || n > 0 && size >= MaxPageBytes }
	add := func(e *Entry, officeSeq uint64, link Hash) error {
		size += len(e.Payload) + len(e.Identity)
		if officeSeq != 0 {
			chain = link
		} else {
			copy(chain[:], e.Chain)
		}
		n++
		h.Last++
		return fn(e, officeSeq, chain)
	}
	if scope == Platform {
		err = r.Seek(Bucket, SeqKey(after+1), false, func(_, v []byte) (bool, error) {
			if full() {
				return false, nil
			}
			e, err := decodeEntry(v)
			if err != nil {
				return false, err
			}
			return true, add(e, 0, Hash{})
		})
	} else {
		prefix := append([]byte(scope), 0)
		k := after
		err = r.Seek(OfficeBucket, OfficeKey(scope, after+1), false, func(key, v []byte) (bool, error) {
			if full() || !bytes.HasPrefix(key, prefix) {
				return false, nil
			}
			l, err := decodeLink(v)
			if err != nil {
				return false, err
			}
			b, err := r.Get(Bucket, SeqKey(l.Seq))
			if err != nil || b == nil {
				return false, errors.Join(err, errors.New("feed: an office link names a missing entry"))
			}
			e, err := decodeEntry(b)
			if err != nil {
				return false, err
			}
			k++
			return true, add(e, k, l.Chain)
		})
	}
	if err != nil {
		return Head{}, err
	}
	h.Chain = hex.EncodeToString(chain[:])
	return h, nil
}

// ChainAt is scope's chain (Platform or an office) after its entry number
// n (zero for n = 0): what a receipt up to n acknowledges.
func ChainAt(r *state.ReadTx, scope string, n uint64) (Hash, error) {
	var c Hash
	if n == 0 {
		return c, nil
	}
	if scope == Platform {
		b, err := r.Get(Bucket, SeqKey(n))
		if err != nil || b == nil {
			return c, errors.Join(err, errors.New("feed: an entry below the tip is missing"))
		}
		e, err := decodeEntry(b)
		if err != nil {
			return c, err
		}
		copy(c[:], e.Chain)
		return c, nil
	}
	v, err := r.Get(OfficeBucket, OfficeKey(scope, n))
	if err != nil || v == nil {
		return c, errors.Join(err, errors.New("feed: an office link below the tip is missing"))
	}
	l, err := decodeLink(v)
	return l.Chain, err
}

func wire(e *Entry, open Opener) (WireEntry, error) {
	w := WireEntry{Seq: e.Seq, Type: e.Type, Version: e.Version, Time: TimeText(e.Time),
		Office: e.Office, Subject: e.Subject, Payload: string(e.Payload), IdentitySM3: hex.EncodeToString(e.IdentitySM3),
		Hash: hex.EncodeToString(e.Hash), Chain: hex.EncodeToString(e.Chain)}
	if len(e.Identity) > 0 {
		plain, err := open(e.Subject, e.IdentityAAD, e.Identity)
		switch {
		case errors.Is(err, ErrDestroyed):
			w.Destroyed = true
		case err != nil:
			return w, err
		default:
			s := string(plain)
			clear(plain)
			w.Identity = &s
		}
	}
	return w, nil
}

// Signer signs a page head (SM2 over SM3 with the default ID, DER).
type Signer func(head []byte) ([]byte, error)

// Sign makes the page of head and entries.
func Sign(h Head, entries []WireEntry, at time.Time, sign Signer) (*Page, error) {
	hb, sig, err := signHead(h, at, sign)
	if err != nil {
		return nil, err
	}
	return &Page{Head: string(hb), Signature: base64.StdEncoding.EncodeToString(sig), Entries: entries}, nil
}

// SignJSON makes the page of head and the entries ReadJSON wrote, as JSON:
// the bytes Sign's page writes with AppendJSON.
func SignJSON(h Head, entries []byte, at time.Time, sign Signer) ([]byte, error) {
	hb, sig, err := signHead(h, at, sign)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(entries)+len(hb)*2+200)
	b = append(b, `{"head":`...)
	b = appendBytes(b, hb)
	b = append(b, `,"signature":"`...)
	b = base64.StdEncoding.AppendEncode(b, sig)
	b = append(b, `","entries":[`...)
	b = append(b, entries...)
	return append(b, "]}"...), nil
}

func signHead(h Head, at time.Time, sign Signer) ([]byte, []byte, error) {
	h.Time = TimeText(at)
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, nil, err
	}
	sig, err := sign(hb)
	return hb, sig, err
}
