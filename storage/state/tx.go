package state

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"cxt/crypto/keyring"
)

// Tx is a command's view of the state during apply: reads see the committed
// state plus the writes of earlier commands in the batch and of this one;
// writes are buffered until the command succeeds.
type Tx struct {
	st     *State
	btx    *bolt.Tx
	parent *overlay
	writes *overlay
	cmd    *Command
	index  uint64
	// auditAs is the type the audit hook records, when a handler names
	// one: a wrapper such as an important operation records the change it
	// made, not itself.
	auditAs string
	// commit holds the hooks to run once the batch commits (OnCommit).
	commit []func() error
	// dry: applied by DryRun, to be dropped.
	dry bool
}

// AuditAs makes the audit hook record the command being applied under typ.
func (t *Tx) AuditAs(typ string) { t.auditAs = typ }

// AuditType returns the type named by AuditAs, or "".
func (t *Tx) AuditType() string { return t.auditAs }

// Keys returns the keyring, for a handler that must open what a data
// subject sealed before proposing (the gateway's feed hashes a person's
// identity from its plaintext). Every replica holds the same keyring.
func (t *Tx) Keys() *keyring.Keyring { return t.st.keys }

// Index returns the log index of the command being applied.
func (t *Tx) Index() uint64 { return t.index }

// Time returns the command's timestamp, the only clock a handler may read.
func (t *Tx) Time() time.Time { return t.cmd.When() }

// Run applies another registered command type with body inside this
// command: its writes and commit hooks join this command's, and fail with
// it. A type this binary does not know stops the node, as at the top level.
func (t *Tx) Run(typ string, body []byte) ([]byte, error) {
	h, err := t.st.handler(t, typ)
	if err != nil {
		return nil, err
	}
	inner := *t.cmd
	inner.Type, inner.Body = typ, body
	return h(t, &inner)
}

// Get returns the value at bucket/key, or nil if there is none.
func (t *Tx) Get(bucket string, key []byte) ([]byte, error) {
	if w, ok := t.writes.get(bucket, key); ok {
		return w.value, nil
	}
	if w, ok := t.parent.get(bucket, key); ok {
		return w.value, nil
	}
	return (&ReadTx{st: t.st, btx: t.btx}).Get(bucket, key)
}

// Put sets bucket/key to value. The value is sealed when the batch commits.
func (t *Tx) Put(bucket string, key, value []byte) error {
	if _, ok := t.st.reg.buckets[bucket]; !ok {
		return fmt.Errorf("state: bucket %q is not registered", bucket)
	}
	if len(key) == 0 {
		return fmt.Errorf("state: empty key in bucket %q", bucket)
	}
	if value == nil {
		value = []byte{}
	}
	if len(value) > 0 && t.st.reg.keysOnly[bucket] {
		return fmt.Errorf("state: bucket %q holds keys only; a value of %d bytes was written to it", bucket, len(value))
	}
	t.writes.put(bucket, key, write{value: bytes.Clone(value)})
	return nil
}

// Delete removes bucket/key.
func (t *Tx) Delete(bucket string, key []byte) error {
	if _, ok := t.st.reg.buckets[bucket]; !ok {
		return fmt.Errorf("state: bucket %q is not registered", bucket)
	}
	t.writes.put(bucket, key, write{})
	return nil
}

// ReadTx reads committed state, opening sealed values.
type ReadTx struct {
	st  *State
	btx *bolt.Tx
}

// Get returns the opened value at bucket/key, or nil if there is none.
func (r *ReadTx) Get(bucket string, key []byte) ([]byte, error) {
	b := r.btx.Bucket([]byte(bucket))
	if b == nil {
		return nil, fmt.Errorf("state: no bucket %q", bucket)
	}
	v := b.Get(key)
	if v == nil {
		return nil, nil
	}
	return r.open(bucket, key, v)
}

// ForEach calls fn for every key of bucket in order with its opened value.
func (r *ReadTx) ForEach(bucket string, fn func(k, v []byte) error) error {
	b := r.btx.Bucket([]byte(bucket))
	if b == nil {
		return fmt.Errorf("state: no bucket %q", bucket)
	}
	return b.ForEach(func(k, v []byte) error {
		pt, err := r.open(bucket, k, v)
		if err != nil {
			return err
		}
		return fn(k, pt)
	})
}

// Scan calls fn for every key of bucket in order with its opened value, or
// with the error opening it: verifiers use it to report every bad record
// rather than stop at the first.
func (r *ReadTx) Scan(bucket string, fn func(k, v []byte, openErr error) error) error {
	b := r.btx.Bucket([]byte(bucket))
	if b == nil {
		return fmt.Errorf("state: no bucket %q", bucket)
	}
	return b.ForEach(func(k, v []byte) error {
		pt, err := r.open(bucket, k, v)
		return fn(k, pt, err)
	})
}

// Seek calls fn with the opened values of bucket's keys from start on,
// ascending, or with reverse from start down (a nil start: from the last
// key), until fn returns false or an error. Newest-first readers of
// sequence-keyed buckets (the audit log) start at the end without reading
// the rest.
func (r *ReadTx) Seek(bucket string, start []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	b := r.btx.Bucket([]byte(bucket))
	if b == nil {
		return fmt.Errorf("state: no bucket %q", bucket)
	}
	c := b.Cursor()
	var k, v []byte
	switch {
	case !reverse && start == nil:
		k, v = c.First()
	case !reverse:
		k, v = c.Seek(start)
	case start == nil:
		k, v = c.Last()
	default:
		if k, v = c.Seek(start); k == nil {
			k, v = c.Last()
		} else if !bytes.Equal(k, start) {
			k, v = c.Prev()
		}
	}
	for ; k != nil; k, v = step(c, reverse) {
		pt, err := r.open(bucket, k, v)
		if err != nil {
			return err
		}
		if more, err := fn(k, pt); err != nil || !more {
			return err
		}
	}
	return nil
}

func step(c *bolt.Cursor, reverse bool) ([]byte, []byte) {
	if reverse {
		return c.Prev()
	}
	return c.Next()
}

func (r *ReadTx) open(bucket string, key, v []byte) ([]byte, error) {
	if !r.st.reg.buckets[bucket] {
		return bytes.Clone(v), nil
	}
	pt, err := r.st.keys.Open(keyring.Records, recordAAD(bucket, string(key)), v)
	if err != nil {
		return nil, fmt.Errorf("state: %s/%x: %w", bucket, key, err)
	}
	if pt == nil {
		pt = []byte{} // present and empty, which nil (absent) must not be taken for
	}
	return pt, nil
}

// write is a buffered value (nil means delete) with the command and index
// that wrote it, from which its nonce is derived.
type write struct {
	value []byte
	cmd   *Command
	index uint64
}

// overlay buffers writes by bucket and key; a batch's overlay also holds
// the commit hooks of its commands, in order.
type overlay struct {
	m     map[string]map[string]write
	hooks []func() error
}

func newOverlay() *overlay { return &overlay{m: map[string]map[string]write{}} }

func (o *overlay) get(bucket string, key []byte) (write, bool) {
	w, ok := o.m[bucket][string(key)]
	return w, ok
}

func (o *overlay) put(bucket string, key []byte, w write) {
	b := o.m[bucket]
	if b == nil {
		b = map[string]write{}
		o.m[bucket] = b
	}
	b[string(key)] = w
}

// merge moves a successful command's writes into the batch.
func (o *overlay) merge(child *overlay, cmd *Command, index uint64) {
	for bucket, writes := range child.m {
		for k, w := range writes {
			w.cmd, w.index = cmd, index
			o.put(bucket, []byte(k), w)
		}
	}
}

func (o *overlay) bucketNames() []string {
	out := make([]string, 0, len(o.m))
	for b := range o.m {
		out = append(out, b)
	}
	sort.Strings(out)
	return out
}

type keyedWrite struct {
	key string
	write
}

// sorted returns a bucket's writes in key order: bbolt inserts fastest so.
func (o *overlay) sorted(bucket string) []keyedWrite {
	out := make([]keyedWrite, 0, len(o.m[bucket]))
	for k, w := range o.m[bucket] {
		out = append(out, keyedWrite{k, w})
	}
	slices.SortFunc(out, func(a, b keyedWrite) int { return strings.Compare(a.key, b.key) })
	return out
}

// errStopScan ends a scan early without an error.
var errStopScan = errors.New("state: stop scan")

// Scan calls fn with up to limit records of bucket whose keys follow after
// (nil: from the first), in key order, as this command sees them: the
// committed state with the writes of the batch's earlier commands and of
// this one. It returns the last key visited, or nil when the bucket ended
// first. Handlers that iterate must use it rather than the committed state
// alone: replicas group entries into batches differently, and only this
// view is the same on all of them.
func (t *Tx) Scan(bucket string, after []byte, limit int, fn func(k, v []byte) error) ([]byte, error) {
	return t.scanKeys(bucket, after, limit, func(k []byte) error {
		v, err := t.Get(bucket, k)
		if err != nil || v == nil {
			return err
		}
		return fn(k, v)
	})
}

func (t *Tx) scanKeys(bucket string, after []byte, limit int, fn func(k []byte) error) ([]byte, error) {
	b := t.btx.Bucket([]byte(bucket))
	if b == nil {
		return nil, fmt.Errorf("state: no bucket %q", bucket)
	}
	// The buffered writes of this bucket past the resume point, in order;
	// a buffered delete hides the committed key.
	deleted := map[string]bool{}
	for _, o := range []*overlay{t.parent, t.writes} {
		for k, w := range o.m[bucket] {
			if after == nil || k > string(after) {
				deleted[k] = w.value == nil
			}
		}
	}
	buffered := make([]string, 0, len(deleted))
	for k := range deleted {
		buffered = append(buffered, k)
	}
	sort.Strings(buffered)

	c := b.Cursor()
	var k []byte
	if after == nil {
		k, _ = c.First()
	} else if k, _ = c.Seek(after); k != nil && bytes.Equal(k, after) {
		k, _ = c.Next()
	}
	var last []byte
	for n, i := 0, 0; n < limit; {
		var cand []byte
		switch {
		case k == nil && i == len(buffered):
			return nil, nil
		case i < len(buffered) && (k == nil || buffered[i] <= string(k)):
			cand = []byte(buffered[i])
			if k != nil && buffered[i] == string(k) {
				k, _ = c.Next()
			}
			i++
			if deleted[string(cand)] {
				continue
			}
		default:
			cand = bytes.Clone(k)
			k, _ = c.Next()
		}
		n++
		last = cand
		if err := fn(cand); err != nil {
			return last, err
		}
	}
	return last, nil
}

// ErrStop, returned by a Prefix callback, ends the walk without an error.
var ErrStop = errors.New("state: stop")

// Prefix calls fn with each record of bucket whose key starts with prefix,
// in key order, as the command sees the state (Scan): the committed records
// with the batch's and this command's writes. fn returning ErrStop ends the
// walk early; any other error ends it with that error.
func (t *Tx) Prefix(bucket string, prefix []byte, fn func(k, v []byte) error) error {
	if len(prefix) > 0 {
		// Scan starts after a key; every key under the prefix but the prefix
		// itself is longer than it, so the prefix alone is read first.
		if v, err := t.Get(bucket, prefix); err != nil {
			return err
		} else if v != nil {
			if err := fn(prefix, v); err != nil {
				return unstop(err)
			}
		}
	}
	after := prefix
	if len(after) == 0 {
		after = nil
	}
	for {
		last, err := t.Scan(bucket, after, 256, func(k, v []byte) error {
			if !bytes.HasPrefix(k, prefix) {
				return ErrStop
			}
			return fn(k, v)
		})
		if err != nil || last == nil {
			return unstop(err)
		}
		after = last
	}
}

func unstop(err error) error {
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}
