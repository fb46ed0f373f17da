package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

// The state head.
//
// Every value is sealed and bound to its record, but that alone does not
// stop someone with the disk from putting back an older sealed value, an
// older audit frontier, or an edited applied index: each of those is a
// genuine record. So each batch's transaction also writes meta/head, which
// commits to the whole file:
//
//   - the applied index;
//   - the audit log's size and root (read through the AuditHead hook);
//   - a digest of every record outside meta: the XOR, over records, of
//     HMAC-SM3 under a term-0 key of (bucket, key, value fingerprint). Each
//     batch folds in the records it writes and folds out the ones they
//     replace, so the digest costs two MACs per write and no reads beyond
//     the replaced value; it depends only on the records the file holds,
//     so verification recomputes it from the file alone.
//     Envelopes are fingerprinted by their header and tag (GCM authenticates
//     the rest, so a value altered in between fails when it is opened); the
//     keyring's wrapped secrets by their SM3. The rule depends on the bucket
//     name only, never on the registry, so a verifier that registers fewer
//     buckets than the node recomputes the same digest. XOR of a PRF
//     over distinct elements is a MAC of the set (Bellare, Guérin and
//     Rogaway's XOR-MAC): without the key, no set of records other than
//     the committed one has the same digest;
//   - the seals made under the active term, counted for the nonce budget
//     (nonce.go);
//
// all MACed with HMAC-SM3 under the active term's StateHead key. Open
// recomputes the digest and checks everything; a snapshot is checked before
// it is served and, fully, before it replaces anything.
//
// What the head cannot see is a rollback of every file together: an older
// state.db with its own older head is genuine. Raft replays the log after
// the file's applied index, so an older state.db beside a current raft/
// folder is simply caught up; a whole data folder put back is detected only
// from outside, by the SM2-signed audit heads auditors keep (docs/security.md).

// ErrTampered is returned when a state file or snapshot does not match its
// authenticated head.
var ErrTampered = errors.New("state: the state file does not match its authenticated head (rolled back, truncated or altered)")

const (
	headSchema  = 3 // the first schema version whose files carry a head
	headVersion = 1
	headSize    = 1 + 4 + 8 + 8 + sm.HashSize + sm.HashSize + 8 + 8
	headKey     = "head"
)

// head is the content of meta/head, without its MAC.
type head struct {
	Term        uint32 // the term whose StateHead key MACs the head
	Applied     uint64
	AuditSize   uint64
	AuditRoot   [sm.HashSize]byte
	Digest      [sm.HashSize]byte
	LogSeals    uint64 // log envelopes sealed under Term and applied
	RecordSeals uint64 // values sealed under Term
}

func (h *head) marshal() []byte {
	out := make([]byte, 0, headSize+sm.HashSize)
	out = append(out, headVersion)
	out = binary.BigEndian.AppendUint32(out, h.Term)
	out = binary.BigEndian.AppendUint64(out, h.Applied)
	out = binary.BigEndian.AppendUint64(out, h.AuditSize)
	out = append(out, h.AuditRoot[:]...)
	out = append(out, h.Digest[:]...)
	out = binary.BigEndian.AppendUint64(out, h.LogSeals)
	return binary.BigEndian.AppendUint64(out, h.RecordSeals)
}

func (h *head) unmarshal(b []byte) bool {
	if len(b) != headSize || b[0] != headVersion {
		return false
	}
	b = b[1:]
	h.Term, b = binary.BigEndian.Uint32(b), b[4:]
	h.Applied, b = binary.BigEndian.Uint64(b), b[8:]
	h.AuditSize, b = binary.BigEndian.Uint64(b), b[8:]
	b = b[copy(h.AuditRoot[:], b):]
	b = b[copy(h.Digest[:], b):]
	h.LogSeals, b = binary.BigEndian.Uint64(b), b[8:]
	h.RecordSeals = binary.BigEndian.Uint64(b)
	return true
}

// seal returns the head followed by its MAC.
func (h *head) seal(keys *keyring.Keyring) ([]byte, error) {
	m, err := keys.MAC(h.Term, keyring.StateHead)
	if err != nil {
		return nil, err
	}
	b := h.marshal()
	sum := m.Sum(b)
	return append(b, sum[:]...), nil
}

// headKeeper is the state's view of its head: the last committed one, and
// what the running batch adds. Only the apply goroutine touches it, except
// the seal counters, which the cluster reads to decide on rotation.
type headKeeper struct {
	cur    head
	next   head
	delta  [sm.HashSize]byte // digest change of the running batch
	sealed uint64            // values sealed by the running batch

	term                  atomic.Uint32
	logSeals, recordSeals atomic.Uint64
}

// published makes h the committed head.
func (k *headKeeper) publish(h head) {
	k.cur = h
	k.term.Store(h.Term)
	k.logSeals.Store(h.LogSeals)
	k.recordSeals.Store(h.RecordSeals)
}

// reset forgets what a batch that did not commit added.
func (k *headKeeper) reset() { k.delta, k.sealed = [sm.HashSize]byte{}, 0 }

// AuditHeadFunc reads the audit log's size and root through get, which
// returns a record's opened value or nil.
type AuditHeadFunc func(get func(bucket string, key []byte) ([]byte, error)) (size uint64, root [sm.HashSize]byte, err error)

// AuditHead installs the hook through which the state head records the
// audit log's size and root.
func (r *Registry) AuditHead(fn AuditHeadFunc) {
	if r.auditHead != nil {
		panic("state: audit head hook registered twice")
	}
	r.auditHead = fn
}

func (s *State) auditHead(get func(bucket string, key []byte) ([]byte, error)) (uint64, [sm.HashSize]byte, error) {
	if s.reg.auditHead == nil {
		return 0, [sm.HashSize]byte{}, nil
	}
	return s.reg.auditHead(get)
}

// bucketMAC returns the MAC of a bucket's digest elements: the term-0
// StateDigest MAC keyed further by the bucket's name.
func (s *State) bucketMAC(bucket string) (*keyring.MAC, error) {
	m, err := s.keys.MAC(0, keyring.StateDigest)
	if err != nil {
		return nil, err
	}
	return m.Derive([]byte(bucket)), nil
}

// element is one record's term of the digest, under its bucket's MAC:
// [1][nonce][tag][key] for an envelope, [0][SM3 of the value][key] for the
// keyring's wrapped secrets (every other bucket holds envelopes; meta is not
// digested). Keys of up to 26 bytes keep an envelope's element within one
// SM3 block.
func element(m *keyring.MAC, sealed bool, key, value []byte) [sm.HashSize]byte {
	msg := make([]byte, 1, 1+sm.HashSize+len(key))
	var ok bool
	if sealed {
		msg[0] = 1
		msg, ok = keyring.Fingerprint(msg, value)
	}
	if !ok {
		d := sm.Sum(value)
		msg = append(msg[:1], d[:]...)
		msg[0] = 0
	}
	return m.Sum(append(msg, key...))
}

func xorInto(acc *[sm.HashSize]byte, v [sm.HashSize]byte) {
	for i := range acc {
		acc[i] ^= v[i]
	}
}

// sealHead writes the head of the batch that applied entries after
// applied up to last; batch holds the batch's writes in plaintext.
func (s *State) sealHead(btx *bolt.Tx, batch *overlay, entries []Entry, applied, last uint64) error {
	prev := s.head.cur
	next := head{Term: s.keys.Active(), Applied: last, Digest: prev.Digest}
	xorInto(&next.Digest, s.head.delta)
	if prev.Term == next.Term {
		next.LogSeals, next.RecordSeals = prev.LogSeals, prev.RecordSeals
	}
	next.RecordSeals += s.head.sealed
	for _, e := range entries {
		if e.Index <= applied {
			continue
		}
		for _, c := range e.Commands {
			if t, err := keyring.TermOf(c); err == nil && t == next.Term {
				next.LogSeals++
			}
		}
	}
	read := &ReadTx{st: s, btx: btx}
	var err error
	next.AuditSize, next.AuditRoot, err = s.auditHead(func(bucket string, key []byte) ([]byte, error) {
		if w, ok := batch.get(bucket, key); ok {
			return w.value, nil
		}
		return read.Get(bucket, key)
	})
	if err != nil {
		return fmt.Errorf("state head: audit head: %w", err)
	}
	b, err := next.seal(s.keys)
	if err != nil {
		return err
	}
	s.head.next = next
	s.head.reset()
	return btx.Bucket([]byte(bucketMeta)).Put([]byte(headKey), b)
}

// digestFile recomputes the digest of every record outside meta.
func (s *State) digestFile(btx *bolt.Tx) ([sm.HashSize]byte, error) {
	var acc [sm.HashSize]byte
	const chunk = 4096
	type record struct{ k, v []byte }
	buf := make([]record, 0, chunk)
	sums := make([][sm.HashSize]byte, chunk)
	drain := func(m *keyring.MAC, sealed bool) {
		parallel(len(buf), func(i int) error {
			sums[i] = element(m, sealed, buf[i].k, buf[i].v)
			return nil
		})
		for i := range buf {
			xorInto(&acc, sums[i])
		}
		buf = buf[:0]
	}
	err := btx.ForEach(func(name []byte, b *bolt.Bucket) error {
		bucket := string(name)
		if bucket == bucketMeta {
			return nil
		}
		m, err := s.bucketMAC(bucket)
		if err != nil {
			return err
		}
		sealed := bucket != bucketKeyring
		if err := b.ForEach(func(k, v []byte) error {
			if v == nil { // a nested bucket; cxt makes none
				return nil
			}
			if buf = append(buf, record{k, v}); len(buf) == chunk {
				drain(m, sealed)
			}
			return nil
		}); err != nil {
			return err
		}
		drain(m, sealed)
		return nil
	})
	return acc, err
}

// headProblem is a state file that does not match its head.
type headProblem struct{ msg string }

func (p *headProblem) Error() string { return p.msg }

func problem(format string, args ...any) error {
	return &headProblem{fmt.Sprintf(format, args...)}
}

var errHeadMissing = &headProblem{"the state head is missing"}

// verifyHead checks meta/head against the file as btx sees it: its MAC,
// the applied index, the audit frontier and, if full, the digest of every
// record. A mismatch is a *headProblem.
func (s *State) verifyHead(btx *bolt.Tx, full bool) (head, error) {
	var h head
	meta := btx.Bucket([]byte(bucketMeta))
	if meta == nil {
		return h, problem("the file has no meta bucket")
	}
	raw := meta.Get([]byte(headKey))
	if raw == nil {
		return h, errHeadMissing
	}
	if len(raw) != headSize+sm.HashSize || !h.unmarshal(raw[:headSize]) {
		return h, problem("the state head is malformed")
	}
	m, err := s.keys.MAC(h.Term, keyring.StateHead)
	if errors.Is(err, keyring.ErrUnknownTerm) {
		return h, problem("the state head is keyed by term %d, which the file's keyring does not hold", h.Term)
	} else if err != nil {
		return h, err
	}
	if sum := m.Sum(raw[:headSize]); !sm.Equal(sum[:], raw[headSize:]) {
		return h, problem("the state head's MAC does not verify: it was altered or written without the key")
	}
	if v := meta.Get([]byte("applied")); len(v) != 8 || binary.BigEndian.Uint64(v) != h.Applied {
		return h, problem("the applied index is %s but the state head records %d: it was edited or rolled back", appliedString(v), h.Applied)
	}
	read := &ReadTx{st: s, btx: btx}
	size, root, err := s.auditHead(read.Get)
	if err != nil {
		return h, problem("the audit frontier does not open: %v", err)
	}
	if size != h.AuditSize || root != h.AuditRoot {
		return h, problem("the audit frontier records %d entries, the state head %d with another root: audit entries were removed or an older frontier put back", size, h.AuditSize)
	}
	if !full {
		return h, nil
	}
	d, err := s.digestFile(btx)
	if err != nil {
		return h, err
	}
	if d != h.Digest {
		return h, problem("the records are not the ones the state head commits to: a record was put back from an older copy, removed, added or altered")
	}
	return h, nil
}

func appliedString(v []byte) string {
	if len(v) != 8 {
		return "missing"
	}
	return fmt.Sprint(binary.BigEndian.Uint64(v))
}

// HeadReport is what CheckHead found.
type HeadReport struct {
	OK        bool
	Term      uint32 // the key term of the head
	Applied   uint64
	AuditSize uint64
	AuditRoot [sm.HashSize]byte
	Problem   string // why the file does not match its head
	Missing   bool   // there is no head: the file predates state heads, or it was stripped
}

// CheckHead verifies the file against its authenticated head, recomputing
// the digest of every record: offline verifiers (cxt audit verify) open
// the file read-only, which checks nothing, and report what this finds.
func (s *State) CheckHead() (HeadReport, error) {
	var rep HeadReport
	err := s.View(func(r *ReadTx) error {
		h, err := s.verifyHead(r.btx, true)
		rep = HeadReport{Term: h.Term, Applied: h.Applied, AuditSize: h.AuditSize, AuditRoot: h.AuditRoot}
		var p *headProblem
		if errors.As(err, &p) {
			rep.Problem, rep.Missing = p.msg, p == errHeadMissing
			return nil
		}
		rep.OK = err == nil
		return err
	})
	return rep, err
}

// fileKind is what open found before it touched the file.
type fileKind int

const (
	fileCurrent fileKind = iota // has a head, or must have one
	fileFresh                   // no records yet
	fileLegacy                  // written before state heads (schema 1 or 2)
)

// inspect tells a new file from one written before state heads, before
// prepare creates buckets and stamps the schema.
func inspect(tx *bolt.Tx) (fileKind, error) {
	meta := tx.Bucket([]byte(bucketMeta))
	if meta != nil && meta.Get([]byte(headKey)) != nil {
		return fileCurrent, nil
	}
	records := false
	tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if string(name) != bucketMeta {
			if k, _ := b.Cursor().First(); k != nil {
				records = true
			}
		}
		return nil
	})
	switch {
	case meta == nil && records:
		return 0, fmt.Errorf("%w: it holds records but no schema", ErrCorruptFile)
	case meta == nil:
		return fileFresh, nil
	}
	v := meta.Get([]byte("schema"))
	if len(v) != 8 || binary.BigEndian.Uint64(v) >= headSchema {
		return fileCurrent, nil // verifyHead reports the missing head
	}
	if a := meta.Get([]byte("applied")); !records && (a == nil || binary.BigEndian.Uint64(a) == 0) {
		return fileFresh, nil
	}
	return fileLegacy, nil
}

// establishHead checks the head of the file open proceeds with, writes the
// first head of a new one, or adopts a file from before state heads when
// the operator asked for it.
func (s *State) establishHead(tx *bolt.Tx, kind fileKind) error {
	var h head
	switch kind {
	case fileFresh:
		h.Term = s.keys.Active()
		var err error
		if h.AuditSize, h.AuditRoot, err = s.auditHead((&ReadTx{st: s, btx: tx}).Get); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketMeta)).Put([]byte("applied"), u64(0)); err != nil {
			return err
		}
	case fileLegacy:
		if !s.opts.AdoptHeadless {
			return fmt.Errorf("state: %s has no state head. A file written by a cxt from before state heads is adopted once, after an upgrade, with `cxt audit adopt --data DIR` (node stopped); otherwise its head was stripped: set the file aside and let the node rebuild it from a snapshot and the log", s.path)
		}
		var err error
		if h, err = s.adopt(tx); err != nil {
			return err
		}
	default:
		var err error
		h, err = s.verifyHead(tx, true)
		var p *headProblem
		if errors.As(err, &p) {
			return fmt.Errorf("%w: %s: %s", ErrTampered, s.path, p.msg)
		}
		if err != nil {
			return err
		}
		s.head.publish(h)
		return nil
	}
	b, err := h.seal(s.keys)
	if err != nil {
		return err
	}
	if err := tx.Bucket([]byte(bucketMeta)).Put([]byte(headKey), b); err != nil {
		return err
	}
	s.head.publish(h)
	return nil
}

// adopt computes the head of a file written before state heads, after
// checking that every sealed value opens with the master key's terms. The
// file's history before adoption cannot be checked: adoption trusts it, so
// only an operator who just upgraded asks for it.
func (s *State) adopt(tx *bolt.Tx) (head, error) {
	read := &ReadTx{st: s, btx: tx}
	names := s.reg.Buckets()
	slices.Sort(names)
	for _, name := range names {
		if !s.reg.buckets[name] || tx.Bucket([]byte(name)) == nil {
			continue
		}
		if err := read.Scan(name, func(k, _ []byte, openErr error) error { return openErr }); err != nil {
			return head{}, fmt.Errorf("state: cannot adopt %s: %w", s.path, err)
		}
	}
	h := head{Term: s.keys.Active()}
	if v := tx.Bucket([]byte(bucketMeta)).Get([]byte("applied")); len(v) == 8 {
		h.Applied = binary.BigEndian.Uint64(v)
	}
	var err error
	if h.Digest, err = s.digestFile(tx); err != nil {
		return h, err
	}
	if h.AuditSize, h.AuditRoot, err = s.auditHead(read.Get); err != nil {
		return h, fmt.Errorf("state: cannot adopt %s: the audit frontier: %w", s.path, err)
	}
	return h, nil
}
