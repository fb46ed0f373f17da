package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

// Entry is one committed log entry handed to the state machine.
type Entry struct {
	Index uint64
	Term  uint64
	Data  []byte // a keyring envelope holding an encoded Command; nil for entries that only advance the index
}

// logAAD binds log envelopes to their use.
var logAAD = []byte("cxt/raft-log/v1")

// SealCommand encodes and seals cmd for the log. Commands that install key
// terms go under term 0, all others under the active term.
func SealCommand(keys *keyring.Keyring, cmd *Command) ([]byte, error) {
	b, err := cmd.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if cmd.Type == CmdInstallTerm {
		return keys.SealTerm0(keyring.Log, logAAD, b)
	}
	return keys.Seal(keyring.Log, logAAD, b)
}

// OpenCommand reverses SealCommand.
func OpenCommand(keys *keyring.Keyring, data []byte) (*Command, error) {
	b, err := keys.Open(keyring.Log, logAAD, data)
	if err != nil {
		return nil, err
	}
	cmd := &Command{}
	return cmd, cmd.UnmarshalBinary(b)
}

// ErrCorruptFile is returned when a bbolt file or snapshot cannot be used.
var ErrCorruptFile = errors.New("state: data file is corrupt or not a cxt state file")

// State is the bbolt-backed state machine of one node.
type State struct {
	path   string
	reg    *Registry
	keys   *keyring.Keyring
	master *keyring.MasterKey

	mu      sync.RWMutex // held for writing while the file is swapped by Restore
	db      *bolt.DB
	applied atomic.Uint64
}

// Open opens (or creates) the state file at path. keys must already hold term
// 0; the terms stored in the file are unwrapped with master and installed.
func Open(path string, reg *Registry, keys *keyring.Keyring, master *keyring.MasterKey) (*State, error) {
	s := &State{path: path, reg: reg, keys: keys, master: master}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *State) open() (err error) {
	db, err := openBolt(s.path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	if err := db.Update(func(tx *bolt.Tx) error { return s.prepare(tx) }); err != nil {
		return err
	}
	if err := db.View(func(tx *bolt.Tx) error { return s.loadKeys(tx) }); err != nil {
		return err
	}
	s.db = db
	return nil
}

func openBolt(path string) (db *bolt.DB, err error) {
	// bbolt panics on some forms of corruption; turn that into an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorruptFile, path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("state: %s is in use by another process", path)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrCorruptFile, path, err)
	}
	return db, nil
}

// prepare creates the registered buckets and checks the schema version.
func (s *State) prepare(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
	if err != nil {
		return err
	}
	if v := meta.Get([]byte("schema")); v != nil {
		if len(v) != 8 {
			return fmt.Errorf("%w: bad schema record", ErrCorruptFile)
		}
		if got := binary.BigEndian.Uint64(v); got > SchemaVersion {
			return fmt.Errorf("state: %s has schema version %d; this cxt reads up to %d", s.path, got, SchemaVersion)
		}
		// Migrations from older versions go here, oldest first.
	}
	if err := meta.Put([]byte("schema"), u64(SchemaVersion)); err != nil {
		return err
	}
	for name := range s.reg.buckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	if v := meta.Get([]byte("applied")); len(v) == 8 {
		s.applied.Store(binary.BigEndian.Uint64(v))
	} else {
		s.applied.Store(0)
	}
	return nil
}

func (s *State) loadKeys(tx *bolt.Tx) error {
	return tx.Bucket([]byte(bucketKeyring)).ForEach(func(k, v []byte) error {
		if len(k) != 4 {
			return fmt.Errorf("%w: bad keyring record", ErrCorruptFile)
		}
		return s.installTerm(binary.BigEndian.Uint32(k), v)
	})
}

// Close closes the file.
func (s *State) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// AppliedIndex returns the index of the last entry applied.
func (s *State) AppliedIndex() uint64 { return s.applied.Load() }

// Keys returns the keyring the state seals with.
func (s *State) Keys() *keyring.Keyring { return s.keys }

// ApplyBatch applies entries in one bbolt transaction and returns one result
// per entry. Entries at or below the applied index were applied before a
// restart and are skipped. An error means the node cannot go on applying the
// log; the caller stops the node rather than let it diverge.
func (s *State) ApplyBatch(entries []Entry) ([]Result, error) {
	results := make([]Result, len(entries))
	// Apply and Restore both run on the single apply goroutine; the read lock
	// only keeps Restore from swapping the file under readers and snapshots.
	s.mu.RLock()
	defer s.mu.RUnlock()
	applied := s.applied.Load()
	last := applied
	err := s.db.Update(func(btx *bolt.Tx) error {
		batch := newOverlay()
		for i, e := range entries {
			if e.Index <= applied {
				continue
			}
			last = e.Index
			if e.Data == nil {
				continue
			}
			res, err := s.applyOne(btx, batch, e)
			if err != nil {
				return fmt.Errorf("state: entry %d: %w", e.Index, err)
			}
			results[i] = res
		}
		if last == applied {
			return nil
		}
		if err := s.flush(btx, batch); err != nil {
			return err
		}
		return btx.Bucket([]byte(bucketMeta)).Put([]byte("applied"), u64(last))
	})
	if err != nil {
		return nil, err
	}
	s.applied.Store(last)
	return results, nil
}

func (s *State) applyOne(btx *bolt.Tx, batch *overlay, e Entry) (Result, error) {
	cmd, err := OpenCommand(s.keys, e.Data)
	if err != nil {
		return Result{}, err // a committed entry this node cannot read: stop
	}
	tx := &Tx{st: s, btx: btx, parent: batch, writes: newOverlay(), cmd: cmd, index: e.Index}
	if prev, err := tx.Get(bucketCommands, cmd.ID[:]); err != nil {
		return Result{}, err
	} else if prev != nil {
		return unmarshalResult(prev)
	}
	var res Result
	h, ok := s.reg.handlers[cmd.Type]
	if !ok {
		res.Err = &Rejection{Code: "unknown_command", Message: fmt.Sprintf("no handler for %q", cmd.Type)}
	} else if v, err := h(tx, cmd); err != nil {
		var rej *Rejection
		if !errors.As(err, &rej) {
			rej = &Rejection{Code: "internal", Message: err.Error()}
		}
		res.Err = rej
		tx.writes = newOverlay() // a failed command leaves nothing behind
	} else {
		res.Value = v
	}
	if err := tx.Put(bucketCommands, cmd.ID[:], res.marshal()); err != nil {
		return Result{}, err
	}
	batch.merge(tx.writes, cmd, e.Index)
	return res, nil
}

// flush writes the batch's buffered values, sealing those of sealed buckets.
func (s *State) flush(btx *bolt.Tx, batch *overlay) error {
	for _, name := range batch.bucketNames() {
		b := btx.Bucket([]byte(name))
		sealed := s.reg.buckets[name]
		for _, w := range batch.sorted(name) {
			if w.value == nil {
				if err := b.Delete([]byte(w.key)); err != nil {
					return err
				}
				continue
			}
			v := w.value
			if sealed {
				var err error
				v, err = s.keys.SealNonce(keyring.Records, valueNonce(w.cmd, w.index, name, w.key), recordAAD(name, w.key), w.value)
				if err != nil {
					return err
				}
			}
			if err := b.Put([]byte(w.key), v); err != nil {
				return err
			}
		}
	}
	return nil
}

// valueNonce is unique per (command, log index, record): a command writes a
// record at most once, and an index holds one command.
func valueNonce(cmd *Command, index uint64, bucket, key string) []byte {
	h := sm.NewHash()
	h.Write([]byte("cxt/value-nonce/v1"))
	h.Write(cmd.ID[:])
	h.Write(u64(index))
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return h.Sum(nil)[:sm.NonceSize]
}

func recordAAD(bucket, key string) []byte {
	return append(append([]byte("cxt/record/v1/"+bucket), 0), key...)
}

// View runs fn with a read-only view of the last applied state. Reads that
// decide money must first wait for a linearizable read point (see cluster).
func (s *State) View(fn func(*ReadTx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return errors.New("state: closed")
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&ReadTx{st: s, btx: btx}) })
}

// Snapshots are the bbolt file followed by a trailer of [magic][length][SM3
// of the file], so that a truncated or altered snapshot is refused before it
// replaces anything.
var snapshotMagic = []byte("cxtsnap1")

const trailerSize = 8 + 8 + sm.HashSize

// Snapshot is a point-in-time view of the state, taken on the apply
// goroutine and streamed from another while applying goes on.
type Snapshot struct {
	s     *State
	tx    *bolt.Tx
	Index uint64
}

// BeginSnapshot captures the state as of the last applied entry. The caller
// must Release it.
func (s *State) BeginSnapshot() (*Snapshot, error) {
	s.mu.RLock()
	tx, err := s.db.Begin(false)
	if err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	return &Snapshot{s: s, tx: tx, Index: s.applied.Load()}, nil
}

// WriteTo streams the snapshot: the bbolt file, then the trailer.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	h := sm.NewHash()
	n, err := sn.tx.WriteTo(io.MultiWriter(w, h))
	if err != nil {
		return n, err
	}
	trailer := append(append(bytes.Clone(snapshotMagic), u64(uint64(n))...), h.Sum(nil)...)
	k, err := w.Write(trailer)
	return n + int64(k), err
}

// Release ends the snapshot's read transaction.
func (sn *Snapshot) Release() {
	if sn.tx != nil {
		sn.tx.Rollback()
		sn.tx = nil
		sn.s.mu.RUnlock()
	}
}

// WriteSnapshot streams a consistent copy of the state to w.
func (s *State) WriteSnapshot(w io.Writer) error {
	sn, err := s.BeginSnapshot()
	if err != nil {
		return err
	}
	defer sn.Release()
	_, err = sn.WriteTo(w)
	return err
}

// Restore replaces the state with a snapshot read from r. The snapshot is
// written to a temporary file and checked before it atomically replaces the
// current file; a truncated or foreign snapshot leaves the state untouched.
func (s *State) Restore(r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".restore-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = receiveSnapshot(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := checkFile(tmp.Name()); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			return err
		}
		s.db = nil
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return err
	}
	return s.open()
}

// receiveSnapshot copies the bbolt part of a snapshot to f, holding back the
// trailer, and checks the trailer against what was copied.
func receiveSnapshot(f *os.File, r io.Reader) error {
	h := sm.NewHash()
	var held []byte // the last trailerSize bytes seen, not yet written
	buf := make([]byte, 1<<20)
	var n uint64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			held = append(held, buf[:k]...)
			if over := len(held) - trailerSize; over > 0 {
				if _, werr := f.Write(held[:over]); werr != nil {
					return werr
				}
				h.Write(held[:over])
				n += uint64(over)
				held = append(held[:0], held[over:]...)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("state: receive snapshot: %w", err)
		}
	}
	if len(held) != trailerSize || !bytes.Equal(held[:8], snapshotMagic) ||
		binary.BigEndian.Uint64(held[8:16]) != n || !sm.Equal(held[16:], h.Sum(nil)) {
		return fmt.Errorf("%w: snapshot is truncated or altered", ErrCorruptFile)
	}
	return f.Sync()
}

// checkFile verifies that path is a complete bbolt file with a cxt schema.
func checkFile(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorruptFile, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptFile, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil || meta.Get([]byte("schema")) == nil {
			return fmt.Errorf("%w: no cxt schema", ErrCorruptFile)
		}
		for err := range tx.Check() {
			return fmt.Errorf("%w: %v", ErrCorruptFile, err)
		}
		return nil
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Hash returns an SM3 digest of the logical state (every bucket, key and
// opened value, in order) and the applied index it was taken at. Replicas at
// the same index have the same hash.
func (s *State) Hash() (sum [sm.HashSize]byte, index uint64, err error) {
	h := sm.NewHash()
	err = s.View(func(r *ReadTx) error {
		index = s.applied.Load()
		names := s.reg.Buckets()
		sort.Strings(names)
		for _, name := range names {
			if err := r.ForEach(name, func(k, v []byte) error {
				for _, part := range [][]byte{[]byte(name), k, v} {
					h.Write(u64(uint64(len(part))))
					h.Write(part)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	copy(sum[:], h.Sum(nil))
	return sum, index, err
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
