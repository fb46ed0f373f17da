// Package feed is the tax bureaus' record of every business fact: an
// append-only, hash-chained sequence of entries written by the state
// machine in the same command as the fact itself, so the feed can neither
// miss a committed fact nor hold one that was not committed.
//
// Each entry has a global sequence number (1, 2, 3, … without gaps), a type
// and schema version, the command's time, the tax office it concerns ("" for
// the platform's own office only), the subject whose archive holds it, and a
// payload: JSON without personal data, built by the handler. A fact about a
// person also carries that person's identity — the fields their record keeps
// sealed under their own key — as a second part, still sealed under that key
// inside the entry, and hashed when the entry is written from its plaintext,
// which the handler opens for the purpose. When the subject is shredded the
// identity no longer opens: the entry is served with its identity's hash and
// no identity (a tombstone), and the chain, which covers only hashes, still
// verifies.
//
// The entry hash is SM3 over nine lines and the payload (Line); the chain after entry n is
// SM3(chain(n-1) ‖ hash(n)), from 32 zero bytes. Every entry of a merchant's
// tax office is also chained, by the same rule, in that office's own chain
// with its own contiguous numbers, so a bureau that may see one office proves
// completeness of what it may see without seeing the rest. The platform's
// office, where the platform files as withholding agent, sees the global
// chain. docs/gateway.md specifies every byte.
package feed

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket       = "gateway-feed"        // global seq (8 bytes) -> Entry
	OfficeBucket = "gateway-feed-office" // office \x00 office seq (8 bytes) -> Link
	TipBucket    = "gateway-feed-tip"    // "*" (global) or office -> Tip
)

// Protocol names the hashing rules; it is the first line of every entry's
// hashed form and appears in every page head.
const Protocol = "cxt-feed/1"

// Platform names the global chain in a Tip's key and a page head's scope.
const Platform = ""

// Hash is an SM3 digest.
type Hash = [sm.HashSize]byte

// Raw is a payload the domain wrote as JSON itself (with AppendString for
// its strings), taken as it is: a chunk's payments are hundreds of
// kilobytes, which encoding/json would take milliseconds to write.
type Raw []byte

// Fact is what a handler appends.
type Fact struct {
	Type    string // e.g. "worker.registered"
	Version int    // the payload schema's version, 1 and up
	Office  string // the tax office the fact concerns, or "" for the platform's only
	Subject string // the merchant or worker whose archive holds the fact, if any
	Payload any    // marshalled as JSON; no personal data
	// Identity, if set, is the subject's sealed personal fields, which
	// the entry carries sealed and hashes from their plaintext.
	Identity *Identity
}

// Identity is a subject's personal fields as their record keeps them: an
// envelope under the subject's key for the associated data AAD, and the
// function that opens it (subjects.FeedIdentity makes one, so this package
// needs no domain).
type Identity struct {
	AAD      string
	Envelope []byte
	Open     func(aad string, envelope []byte) ([]byte, error)
	// SM3, if set, is the plaintext's SM3 as the command's proposer computed
	// it when it sealed the envelope: the entry takes it and Open is not
	// called (a bulk invitation would otherwise unwrap every new worker's
	// key inside the state machine only to hash what the proposer held).
	SM3 []byte
}

// Entry is one stored entry (in the binary form of codec.go).
type Entry struct {
	Seq         uint64
	Type        string
	Version     int
	Time        time.Time
	Office      string
	Subject     string
	Payload     []byte
	IdentityAAD string
	Identity    []byte // sealed under the subject's key
	IdentitySM3 []byte
	Hash        []byte
	Chain       []byte // the global chain after this entry
}

// Tip is the end of a chain: its last number and chain value.
type Tip struct {
	Seq   uint64
	Chain Hash
}

// Link places an entry in an office's chain.
type Link struct {
	Seq   uint64 // the entry's global number
	Chain Hash   // the office's chain after it
}

// Register adds the feed's buckets.
func Register(reg *state.Registry) {
	reg.Bucket(Bucket)
	reg.Bucket(OfficeBucket)
	reg.Bucket(TipBucket)
}

// Append writes f as the next entry of the feed, in the command being
// applied, and returns its number — 0 when the cluster does not speak the
// gateway's command set yet (an older replica would not write it).
func Append(tx *state.Tx, f Fact) (uint64, error) {
	seqs, err := AppendAll(tx, []Fact{f})
	if err != nil || len(seqs) == 0 {
		return 0, err
	}
	return seqs[0], nil
}

// AppendAll writes facts as the next entries of the feed, in order, as
// Append would one after another — the same entries, chains and error —
// and returns their numbers (nil when the cluster does not speak the
// gateway's command set yet). The entries' payloads and hashes are made on
// all cores; only the chains are serial, and each chain's tip is read and
// written once. A bulk command appends its facts at once.
func AppendAll(tx *state.Tx, facts []Fact) ([]uint64, error) {
	if ok, err := tx.Speaks(state.GatewaySet); err != nil || !ok || len(facts) == 0 {
		return nil, err
	}
	tip, err := ReadTip(tx, Platform)
	if err != nil {
		return nil, err
	}
	at := tx.Time().UTC()
	entries := make([]Entry, len(facts))
	hashes := make([]Hash, len(facts))
	errs := make([]error, len(facts))
	// Each fact's own work, on all cores: what goes wrong is kept for the
	// serial pass, which meets it in the order Append would.
	err = tx.Parallel(len(facts), func(i int, _ state.Getter) error {
		f := facts[i]
		e := &entries[i]
		*e = Entry{Seq: tip.Seq + 1 + uint64(i), Type: f.Type, Version: f.Version, Time: at, Office: f.Office, Subject: f.Subject}
		if errs[i] = check(f); errs[i] != nil {
			return nil
		}
		if e.Payload, errs[i] = payload(f); errs[i] != nil {
			return nil
		}
		if id := f.Identity; id != nil {
			if id.SM3 == nil {
				return nil // Open reads the command's state: the serial pass opens it, in order
			}
			if len(id.SM3) != sm.HashSize {
				errs[i] = state.Reject(state.InvalidRequest, "feed: %s: the identity's SM3 of %s is %d bytes", f.Type, f.Subject, len(id.SM3))
				return nil
			}
			e.IdentityAAD, e.Identity, e.IdentitySM3 = id.AAD, id.Envelope, id.SM3
		}
		hashes[i] = e.hash()
		return nil
	})
	if err != nil { // a panic, or no read transaction beside the batch
		return nil, err
	}
	offices := map[string]Tip{}
	var order []string // the offices in the order first met
	seqs := make([]uint64, len(facts))
	for i := range facts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		e := &entries[i]
		if id := facts[i].Identity; id != nil && id.SM3 == nil {
			plain, err := id.Open(id.AAD, id.Envelope)
			if err != nil {
				return nil, fmt.Errorf("feed: %s: the identity of %s does not open: %w", e.Type, e.Subject, err)
			}
			sum := sm.Sum(plain)
			clear(plain)
			e.IdentityAAD, e.Identity, e.IdentitySM3 = id.AAD, id.Envelope, sum[:]
			hashes[i] = e.hash()
		}
		h := hashes[i]
		e.Hash = h[:]
		tip = Tip{Seq: e.Seq, Chain: Next(tip.Chain, h)}
		e.Chain = tip.Chain[:]
		if err := tx.Put(Bucket, SeqKey(e.Seq), e.encode()); err != nil {
			return nil, err
		}
		if e.Office != "" {
			otip, ok := offices[e.Office]
			if !ok {
				if otip, err = ReadTip(tx, e.Office); err != nil {
					return nil, err
				}
				order = append(order, e.Office)
			}
			otip = Tip{Seq: otip.Seq + 1, Chain: Next(otip.Chain, h)}
			if err := tx.Put(OfficeBucket, OfficeKey(e.Office, otip.Seq), encodeLink(Link{Seq: e.Seq, Chain: otip.Chain})); err != nil {
				return nil, err
			}
			offices[e.Office] = otip
		}
		seqs[i] = e.Seq
	}
	if err := putTip(tx, Platform, tip); err != nil {
		return nil, err
	}
	for _, o := range order {
		if err := putTip(tx, o, offices[o]); err != nil {
			return nil, err
		}
	}
	return seqs, nil
}

// check refuses a fact without a type or a version, or with a name of more
// than one line — alike on every replica, rather than a stop: the names are
// the domain's, and a bad one is its bug, not the node's.
func check(f Fact) error {
	if f.Type == "" || f.Version < 1 || strings.ContainsAny(f.Type+f.Office+f.Subject, "\n\x00") {
		return state.Reject(state.InvalidRequest, "feed: a fact has a type, a version and single-line names: %q", f.Type)
	}
	return nil
}

// payload is a fact's payload as its entry holds it.
func payload(f Fact) ([]byte, error) {
	if raw, ok := f.Payload.(Raw); ok {
		return raw, nil
	}
	b, err := json.Marshal(f.Payload)
	if err != nil {
		return nil, fmt.Errorf("feed: %s payload: %w", f.Type, err)
	}
	return b, nil
}

// Line is the hashed form of an entry: nine lines, each ended by "\n" —
// the protocol, the number, the type, the version, the time (RFC 3339,
// UTC, nanoseconds without trailing zeros), the office, the subject,
// hex(identity SM3) or "" when it has none, and "" (reserved) — followed
// by the payload's bytes.
func Line(seq uint64, typ string, version int, at, office, subject string, identitySM3, payload []byte) []byte {
	b := make([]byte, 0, 160+len(typ)+len(office)+len(subject)+len(payload))
	return append(lineHeader(b, seq, typ, version, at, office, subject, identitySM3), payload...)
}

// lineHeader appends the nine lines of the hashed form to b.
func lineHeader(b []byte, seq uint64, typ string, version int, at, office, subject string, identitySM3 []byte) []byte {
	b = append(append(b, Protocol...), '\n')
	b = append(strconv.AppendUint(b, seq, 10), '\n')
	b = append(append(b, typ...), '\n')
	b = append(strconv.AppendInt(b, int64(version), 10), '\n')
	for _, s := range [...]string{at, office, subject} {
		b = append(append(b, s...), '\n')
	}
	return append(hex.AppendEncode(b, identitySM3), '\n', '\n')
}

// TimeText is an entry's time as it is hashed and served.
func TimeText(at time.Time) string { return at.UTC().Format(time.RFC3339Nano) }

func (e *Entry) hash() Hash {
	return sm.Sum(Line(e.Seq, e.Type, e.Version, TimeText(e.Time), e.Office, e.Subject, e.IdentitySM3, e.Payload))
}

// Next is the chain after an entry of hash h that follows chain prev.
func Next(prev, h Hash) Hash {
	var buf [2 * sm.HashSize]byte
	copy(buf[:], prev[:])
	copy(buf[sm.HashSize:], h[:])
	return sm.Sum(buf[:])
}

// SeqKey is an entry's key: its number, big-endian.
func SeqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// OfficeKey is an office chain's link key.
func OfficeKey(office string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(office), 0), seq)
}

type reader interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// tipKey is a chain's key in TipBucket: office codes are digits, so "*"
// stands for the global chain.
func tipKey(office string) []byte {
	if office == Platform {
		return []byte("*")
	}
	return []byte(office)
}

// ReadTip returns the end of the global chain (office "") or of an office's.
func ReadTip(r reader, office string) (Tip, error) {
	v, err := r.Get(TipBucket, tipKey(office))
	if err != nil || v == nil {
		return Tip{}, err
	}
	if len(v) != 8+sm.HashSize {
		return Tip{}, fmt.Errorf("feed: the tip of %q is %d bytes", office, len(v))
	}
	t := Tip{Seq: binary.BigEndian.Uint64(v)}
	copy(t.Chain[:], v[8:])
	return t, nil
}

func putTip(tx *state.Tx, office string, t Tip) error {
	return tx.Put(TipBucket, tipKey(office), append(binary.BigEndian.AppendUint64(nil, t.Seq), t.Chain[:]...))
}

func encodeLink(l Link) []byte {
	return append(binary.BigEndian.AppendUint64(nil, l.Seq), l.Chain[:]...)
}

func decodeLink(v []byte) (Link, error) {
	if len(v) != 8+sm.HashSize {
		return Link{}, fmt.Errorf("feed: an office link is %d bytes", len(v))
	}
	l := Link{Seq: binary.BigEndian.Uint64(v)}
	copy(l.Chain[:], v[8:])
	return l, nil
}
