package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

// Entry is one committed log entry handed to the state machine. It holds
// the sealed commands that one proposal carried (see EncodeEntry); an entry
// without commands only advances the applied index.
type Entry struct {
	Index    uint64
	Term     uint64
	Commands [][]byte // keyring envelopes of encoded Commands
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
	path      string
	opts      Options
	untrusted bool
	reg       *Registry
	keys      *keyring.Keyring
	master    *keyring.MasterKey

	mu      sync.RWMutex // held for writing while the file is swapped by Restore
	db      *bolt.DB
	applied atomic.Uint64
	cmdSet  atomic.Uint32 // the cluster's command set; see cmdset.go
	sync    func() error  // syncs the file; tests make it fail (see syncFile)
	lost    atomic.Bool   // a sync failed: the marker stays poisoned
	head    headKeeper    // see head.go
}

// Open opens (or creates) the state file at path. keys must already hold term
// 0; the terms stored in the file are unwrapped with master and installed.
func Open(path string, reg *Registry, keys *keyring.Keyring, master *keyring.MasterKey) (*State, error) {
	return OpenWith(path, reg, keys, master, Options{})
}

// Options tune how the state file is kept.
type Options struct {
	// BootID identifies the running OS boot (Linux: the kernel's boot_id).
	// With it, commits skip fsync — the Raft log, fsynced before a write is
	// acknowledged, is what makes writes durable — and a file left dirty by
	// an earlier boot is not trusted (see durability.go). Without it, every
	// commit is fsynced.
	BootID string
	// ReadOnly opens the file for reading only (offline verification); the
	// node must not be running. It checks nothing: verifiers call CheckHead.
	ReadOnly bool
	// SealBudget is how many seals a term's log or record key takes before
	// Worn says it is due for rotation (default DefaultSealBudget).
	SealBudget uint64
	// AdoptHeadless writes a state head for a file from before state heads
	// (schema 1 or 2) instead of refusing it; see `cxt audit adopt`.
	AdoptHeadless bool
}

// OpenWith is Open with options.
func OpenWith(path string, reg *Registry, keys *keyring.Keyring, master *keyring.MasterKey, o Options) (*State, error) {
	s := &State{path: path, reg: reg, keys: keys, master: master, opts: o}
	if o.ReadOnly {
		return s, s.openReadOnly()
	}
	if err := s.distrustAfterReboot(); err != nil {
		return nil, err
	}
	// The marker goes first: open itself commits, unsynced.
	if err := s.markDirty(); err != nil {
		return nil, err
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *State) open() (err error) {
	db, err := openBolt(s.path, s.opts.BootID != "")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	// One transaction, so that a file refused for its head is left as it
	// was; what memory derives from the file is rebuilt only once the file
	// matches its head.
	if err := db.Update(func(tx *bolt.Tx) error {
		kind, err := inspect(tx)
		if err != nil {
			return err
		}
		if err := s.prepare(tx); err != nil {
			return err
		}
		if err := s.loadKeys(tx); err != nil {
			return err
		}
		return s.establishHead(tx, kind)
	}); err != nil {
		return err
	}
	if err := db.View(s.reload); err != nil {
		return err
	}
	// The applied index goes last, and from the verified head: a reader
	// that waits for an index (after a restore, too) then also sees what
	// the reload hooks rebuilt.
	s.applied.Store(s.head.cur.Applied)
	s.db = db
	return nil
}

func (s *State) openReadOnly() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorruptFile, s.path, r)
		}
	}()
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: true})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("state: %s is in use; stop the node first", s.path)
		}
		return fmt.Errorf("%w: %s: %v", ErrCorruptFile, s.path, err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(bucketMeta)) == nil {
			return fmt.Errorf("%w: no cxt schema", ErrCorruptFile)
		}
		return s.reload(tx)
	}); err != nil {
		db.Close()
		return err
	}
	s.db = db
	return nil
}

func openBolt(path string, noSync bool) (db *bolt.DB, err error) {
	// bbolt panics on some forms of corruption; turn that into an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorruptFile, path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
		// Reserve address space up front so that a growing file is not
		// remapped (which stalls every reader) at each doubling.
		InitialMmapSize: 1 << 30,
		NoSync:          noSync,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
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
	var err error
	if !s.opts.ReadOnly {
		err = s.syncFile("close")
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	s.db = nil
	if err == nil && !s.opts.ReadOnly && !s.lost.Load() {
		err = s.markClean()
	}
	return err
}

// AppliedIndex returns the index of the last entry applied.
func (s *State) AppliedIndex() uint64 { return s.applied.Load() }

// Keys returns the keyring the state seals with.
func (s *State) Keys() *keyring.Keyring { return s.keys }

// ApplyBatch applies entries in one bbolt transaction and returns the results
// of each entry's commands. Entries at or below the applied index were
// applied before a restart and are skipped. An error means the node cannot go
// on applying the log — only a command's deliberate Rejection is a result;
// any other failure is local to this replica — and the caller must stop the
// node rather than let it diverge (fail-stop).
//
// The transaction ends early after an entry whose commands registered commit
// hooks, so that the hooks run before the next entry is applied: a later
// entry may be sealed under the key term such a hook installs.
func (s *State) ApplyBatch(entries []Entry) ([][]Result, error) {
	results := make([][]Result, len(entries))
	// Apply and Restore both run on the single apply goroutine; the read lock
	// only keeps Restore from swapping the file under readers and snapshots.
	s.mu.RLock()
	defer s.mu.RUnlock()
	for done := 0; done < len(entries); {
		n, err := s.applyRun(entries[done:], results[done:])
		if err != nil {
			return nil, err
		}
		done += n
	}
	return results, nil
}

// applyRun applies entries in one transaction up to the first one whose
// commands registered commit hooks, runs the hooks once it has committed,
// and returns how many entries it consumed.
func (s *State) applyRun(entries []Entry, results [][]Result) (int, error) {
	applied := s.applied.Load()
	last := applied
	consumed := len(entries)
	batch := newOverlay()
	err := s.db.Update(func(btx *bolt.Tx) error {
		for i, e := range entries {
			if e.Index <= applied {
				continue
			}
			last = e.Index
			results[i] = make([]Result, len(e.Commands))
			opened := s.openAll(e.Commands)
			for j, data := range e.Commands {
				res, err := s.applyOne(btx, batch, e.Index, data, opened[j])
				if err != nil {
					return fmt.Errorf("state: entry %d command %d: %w", e.Index, j, err)
				}
				results[i][j] = res
			}
			if len(batch.hooks) > 0 {
				consumed = i + 1
				break
			}
		}
		if last == applied {
			return nil
		}
		if err := s.flush(btx, batch); err != nil {
			return err
		}
		if err := btx.Bucket([]byte(bucketMeta)).Put([]byte("applied"), u64(last)); err != nil {
			return err
		}
		return s.sealHead(btx, batch, entries[:consumed], applied, last)
	})
	if err != nil {
		s.head.reset()
		return 0, err
	}
	if last != applied {
		s.head.publish(s.head.next)
	}
	s.applied.Store(last)
	for _, fn := range batch.hooks {
		if err := fn(); err != nil {
			return 0, fmt.Errorf("state: entry %d committed, but its in-memory effect failed: %w", last, err)
		}
	}
	return consumed, nil
}

// openAll decrypts an entry's commands on all cores. A command sealed under
// a term that an earlier command of the same entry installs fails here and
// is opened again, in order, by applyOne.
func (s *State) openAll(commands [][]byte) []*Command {
	out := make([]*Command, len(commands))
	parallel(len(commands), func(i int) error {
		out[i], _ = OpenCommand(s.keys, commands[i])
		return nil
	})
	return out
}

// applyOne applies one command. Only a handler's deliberate Rejection
// becomes the command's result: every replica reaches it alike. Any other
// failure — a command that does not open or decode, a type this binary does
// not know, a read, decrypt or audit error — is local to this replica (its
// file, its log copy or its binary differ from its peers'), so it is
// returned and stops the node instead of becoming an answer its peers would
// not give.
func (s *State) applyOne(btx *bolt.Tx, batch *overlay, index uint64, data []byte, cmd *Command) (Result, error) {
	var err error
	if cmd == nil {
		cmd, err = OpenCommand(s.keys, data)
	}
	if err != nil {
		// Every replica holds the same terms at this point of the log and
		// every proposer sealed what it proposed: a command that does not
		// open here was damaged here, or was written by a newer binary.
		return Result{}, fmt.Errorf("the command does not open: %w", err)
	}
	tx := &Tx{st: s, btx: btx, parent: batch, writes: newOverlay(), cmd: cmd, index: index}
	if prev, err := tx.Get(bucketCommands, cmd.dedupeKey()); err != nil {
		return Result{}, err
	} else if prev != nil {
		return unmarshalResult(prev)
	}
	var res Result
	h, err := s.handler(tx, cmd.Type)
	if err == nil {
		res.Value, err = h(tx, cmd)
	}
	if err != nil {
		var rej *Rejection
		if !errors.As(err, &rej) {
			return Result{}, fmt.Errorf("%s: %w", cmd.Type, err)
		}
		res = Result{Err: rej}
		tx.writes = newOverlay() // a failed command leaves nothing behind
		tx.commit = nil          // and changes nothing in memory
	}
	if s.reg.audit != nil {
		if err := s.reg.audit(tx, cmd, res); err != nil {
			return Result{}, fmt.Errorf("audit: %w", err)
		}
	}
	if err := tx.Put(bucketCommands, cmd.dedupeKey(), res.marshal()); err != nil {
		return Result{}, err
	}
	batch.merge(tx.writes, cmd, index)
	batch.hooks = append(batch.hooks, tx.commit...)
	return res, nil
}

// flush seals the batch's writes, folds them into the state's digest and
// puts them, bucket by bucket in name order and by key within each (bbolt
// inserts fastest so). All that is done per record — sealing the value,
// reading the value it replaces, the digest's change — depends on no other
// record, so one pass on all cores does it for the whole batch; only the
// puts are serial. The replaced values are read through read transactions
// of the workers' own, which see what btx holds until its first put.
func (s *State) flush(btx *bolt.Tx, batch *overlay) error {
	type bucketWrites struct {
		name   string
		writes []keyedWrite
		seal   bool
		mac    *keyring.MAC // nil: not digested (meta)
	}
	var buckets []bucketWrites
	type ref struct{ bucket, write int }
	var refs []ref
	for _, name := range batch.bucketNames() {
		bw := bucketWrites{name: name, writes: batch.sorted(name), seal: s.reg.buckets[name]}
		if name != bucketMeta {
			m, err := s.bucketMAC(name)
			if err != nil {
				return err
			}
			bw.mac = m
			for _, w := range bw.writes {
				if w.value != nil && bw.seal {
					s.head.sealed++
				}
			}
		}
		for i := range bw.writes {
			refs = append(refs, ref{len(buckets), i})
		}
		buckets = append(buckets, bw)
	}
	sums := make([][sm.HashSize]byte, len(refs))
	err := s.perRecord(btx, len(refs), func(j int, committed Getter) error {
		bw := &buckets[refs[j].bucket]
		w := &bw.writes[refs[j].write]
		if bw.seal && w.value != nil {
			v, err := s.keys.SealSynthetic(keyring.Records, valueCoords(w.cmd, w.index), recordAAD(bw.name, w.key), w.value)
			if err != nil {
				return err
			}
			w.value = v
		}
		if bw.mac == nil {
			return nil
		}
		key := []byte(w.key)
		old, err := committed.Get(bw.name, key)
		if err != nil {
			return err
		}
		var e [sm.HashSize]byte
		if old != nil {
			e = element(bw.mac, bw.name != bucketKeyring, key, old)
		}
		if w.value != nil {
			xorInto(&e, element(bw.mac, bw.name != bucketKeyring, key, w.value))
		}
		sums[j] = e
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range sums {
		xorInto(&s.head.delta, e)
	}
	for _, bw := range buckets {
		b := btx.Bucket([]byte(bw.name))
		if b == nil {
			return fmt.Errorf("state: no bucket %q", bw.name)
		}
		if last, _ := b.Cursor().Last(); len(bw.writes) > 0 && bw.writes[0].value != nil && bw.writes[0].key > string(last) {
			// Every write appends (keys after the bucket's last, in order):
			// full pages, since nothing will be inserted between them.
			b.FillPercent = appendFill
		}
		for _, w := range bw.writes {
			var err error
			if w.value == nil {
				err = b.Delete([]byte(w.key))
			} else {
				err = b.Put([]byte(w.key), w.value)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// appendFill is how full bbolt fills the pages of a bucket that a batch
// only appends to (its default, half, leaves room for inserts in between).
const appendFill = 0.95

// perRecord runs fn(0..n-1) on all cores, each with a reader of the raw
// committed records (envelopes, unopened) that btx holds before its first
// write; a small batch runs on this goroutine, reading btx itself.
func (s *State) perRecord(btx *bolt.Tx, n int, fn func(i int, committed Getter) error) error {
	return parallelWith(runtime.GOMAXPROCS(0), n, newRawReader(btx), func() (Getter, func(), error) {
		rtx, err := s.beside(btx)
		if err != nil {
			return nil, nil, err
		}
		return newRawReader(rtx), func() { rtx.Rollback() }, nil
	}, fn)
}

// rawReader reads records as bbolt holds them, keeping the buckets it opens.
type rawReader struct {
	tx      *bolt.Tx
	buckets map[string]*bolt.Bucket
}

func newRawReader(tx *bolt.Tx) *rawReader {
	return &rawReader{tx: tx, buckets: map[string]*bolt.Bucket{}}
}

func (r *rawReader) Get(bucket string, key []byte) ([]byte, error) {
	b, ok := r.buckets[bucket]
	if !ok {
		if b = r.tx.Bucket([]byte(bucket)); b == nil {
			return nil, fmt.Errorf("state: no bucket %q", bucket)
		}
		r.buckets[bucket] = b
	}
	return b.Get(key), nil
}

// parallel runs fn(0..n-1) on all cores (small jobs inline) and returns
// the lowest i's error.
func parallel(n int, fn func(i int) error) error {
	return parallelWith(runtime.GOMAXPROCS(0), n, nil, func() (Getter, func(), error) { return nil, func() {}, nil },
		func(i int, _ Getter) error { return fn(i) })
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

// Snapshots are the bbolt file followed by a trailer (restore.go), so that a
// truncated or altered snapshot is refused before it replaces anything.

// Snapshot is a point-in-time view of the state, taken on the apply
// goroutine and streamed from another while applying goes on.
type Snapshot struct {
	s     *State
	tx    *bolt.Tx
	head  head
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
	// A snapshot is served only from a file that still matches its head
	// (the records' digest is recomputed by whoever installs it).
	h, err := s.verifyHead(tx, false)
	if err != nil {
		tx.Rollback()
		s.mu.RUnlock()
		return nil, fmt.Errorf("%w: %s: not serving a snapshot of it: %v", ErrTampered, s.path, err)
	}
	return &Snapshot{s: s, tx: tx, head: h, Index: s.applied.Load()}, nil
}

// WriteTo streams the snapshot: the bbolt file, then the trailer.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	h := sm.NewHash()
	n, err := sn.tx.WriteTo(io.MultiWriter(w, h))
	if err != nil {
		return n, err
	}
	trailer, err := sealTrailer(sn.s.keys, sn.head.Term, uint64(n), h.Sum(nil))
	if err != nil {
		return n, err
	}
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
	tr, err := receiveSnapshot(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := checkFile(tmp.Name()); err != nil {
		return err
	}
	// Everything about the candidate is checked while the current file
	// still serves: its keys, its trailer, its head, its index.
	if err := s.checkCandidate(tmp.Name(), tr); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.swapIn(tmp.Name())
}

// receiveSnapshot copies the bbolt part of a snapshot to f, holding back the
// trailer, and checks the trailer's length; its MAC needs the snapshot's
// own keys (checkCandidate).
func receiveSnapshot(f *os.File, r io.Reader) (trailer, error) {
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
					return trailer{}, werr
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
			return trailer{}, fmt.Errorf("state: receive snapshot: %w", err)
		}
	}
	tr, err := parseTrailer(held, n, h.Sum(nil))
	if err != nil {
		return tr, err
	}
	return tr, f.Sync()
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
				if name == bucketMeta && string(k) == headKey {
					return nil // about this file (its seal counts), not the logical state
				}
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
