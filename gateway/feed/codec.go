package feed

import (
	"encoding/binary"
	"errors"
	"time"
	"unsafe"
)

// entryFormat is the first byte of a stored entry. Entries are stored in a
// compact binary form (read a million at a time by the gateway): the
// format byte, then seq, v and the time in Unix nanoseconds as varints,
// then type, office, subject, the identity's AAD, the payload, the
// identity's envelope, its SM3, the hash and the chain, each as a uvarint
// length and its bytes.
const entryFormat = 1

var errEntry = errors.New("feed: a stored entry is malformed")

func (e *Entry) encode() []byte {
	n := 1 + 3*binary.MaxVarintLen64 + 9*binary.MaxVarintLen32 + len(e.Type) + len(e.Office) + len(e.Subject) +
		len(e.IdentityAAD) + len(e.Payload) + len(e.Identity) + len(e.IdentitySM3) + len(e.Hash) + len(e.Chain)
	b := make([]byte, 1, n)
	b[0] = entryFormat
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendUvarint(b, uint64(e.Version))
	b = binary.AppendVarint(b, e.Time.UnixNano())
	for _, s := range []string{e.Type, e.Office, e.Subject, e.IdentityAAD} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, f := range [][]byte{e.Payload, e.Identity, e.IdentitySM3, e.Hash, e.Chain} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeEntry reads a stored entry; its fields, strings included, alias b,
// which must not change afterwards (a value read from the state is a fresh
// plaintext no one else holds).
func decodeEntry(b []byte) (*Entry, error) {
	if len(b) == 0 || b[0] != entryFormat {
		return nil, errEntry
	}
	b = b[1:]
	var e Entry
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	field := func() []byte {
		l := uv()
		if b == nil || l > uint64(len(b)) {
			b = nil
			return nil
		}
		f := b[:l:l]
		b = b[l:]
		return f
	}
	e.Seq, e.Version = uv(), int(uv())
	ns, n := binary.Varint(b)
	if n <= 0 {
		return nil, errEntry
	}
	b = b[n:]
	e.Time = time.Unix(0, ns).UTC()
	str := func() string {
		f := field()
		return unsafe.String(unsafe.SliceData(f), len(f))
	}
	e.Type, e.Office, e.Subject, e.IdentityAAD = str(), str(), str(), str()
	e.Payload, e.Identity, e.IdentitySM3, e.Hash, e.Chain = field(), field(), field(), field(), field()
	if b == nil || len(b) != 0 || len(e.Hash) != len(e.Chain) || len(e.Hash) == 0 {
		return nil, errEntry
	}
	return &e, nil
}
