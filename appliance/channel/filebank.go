package channel

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cxt/crypto/sm"
)

// FileBank is a bank reached through files: each Submit writes one payment
// file into the outbound folder, and the bank drops result files into the
// inbound folder, which Results reads in name order. docs/payouts.md
// is the contract with the bank.
//
// The outbound folder is the one place the appliance writes payees' names
// and card numbers in the clear; NewFileBank refuses a folder that other
// users of the machine may open.
//
// A reference goes into one payment file. The journal (no name or card in
// it: the reference, the amount, an SM3 of the payee, the file) records a
// file "pending" before it is written and "written" after; a restart finds
// a pending file that exists written, and forgets the orders of one that
// does not, so that the next Submit writes them again. A crash between the
// rename and the second record while the bank takes the file away leaves a
// reference in two files, which is why the bank must pay each reference
// once whatever file it comes in (docs/payouts.md).
//
// Result files are never moved or changed by the appliance; the cursor is
// "<file>:<line>", the last line read.
type FileBank struct {
	name    string
	out, in string
	node    string
	now     func() time.Time
	log     *slog.Logger

	mu      sync.Mutex
	refs    map[string]*fileOrder
	seq     int // the last payment file's sequence number
	journal *os.File
	early   map[string]bool // result files found sorting before the cursor's file: warned once
}

// FileBankConfig configures a FileBank.
type FileBankConfig struct {
	// Name is the channel's name, which its clearing account and every
	// payment it takes carry (default "file").
	Name string
	// Outbound is the folder payment files go to: payees' names and card
	// numbers in the clear. Inbound is where the bank drops result files.
	Outbound, Inbound string
	// Journal is the journal's path (in the node's data folder).
	Journal string
	// Node names this node in payment files' names, so that two nodes
	// writing into one shared folder never pick the same name.
	Node string
	Now  func() time.Time
	Log  *slog.Logger
}

// DefaultFileBankName is a file bank's name unless configured.
const DefaultFileBankName = "file"

var (
	channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	nodeTag     = regexp.MustCompile(`[^A-Za-z0-9]+`)
	paymentName = regexp.MustCompile(`^PAY-[0-9]{14}-([A-Za-z0-9]+-)?[0-9]{6,}\.csv$`)
)

// ValidName reports whether s may name a channel: lower-case letters,
// digits, - and _, at most 32, as the clearing account's name allows.
func ValidName(s string) bool { return channelName.MatchString(s) }

// China is the time zone of payment files' names.
var China = time.FixedZone("CST", 8*60*60)

// fileOrder is an order as the journal keeps it.
type fileOrder struct {
	Ref        string `json:"ref"`
	ChannelRef string `json:"channel_ref"` // "<payment file>#<row>"
	Fen        int64  `json:"fen"`
	Payee      string `json:"payee_sm3"`
}

// fileRecord is one journal line: a file about to be written (Orders set)
// or written.
type fileRecord struct {
	Pending *pendingFile `json:"pending,omitempty"`
	Written *writtenFile `json:"written,omitempty"`
}

// pendingFile is a payment file about to be written: its name, number, SM3
// and orders.
type pendingFile struct {
	File   string      `json:"file"`
	Seq    int         `json:"seq"`
	SM3    string      `json:"sm3"`
	Orders []fileOrder `json:"orders"`
}

// writtenFile is a payment file in the outbound folder.
type writtenFile struct {
	File string `json:"file"`
	SM3  string `json:"sm3"`
}

// NewFileBank opens the journal and checks the folders. A missing folder,
// an outbound folder others may open, or one folder for both ways is
// refused: the channel does not start.
func NewFileBank(c FileBankConfig) (*FileBank, error) {
	const op = "channel: file bank"
	if c.Name == "" {
		c.Name = DefaultFileBankName
	}
	if !ValidName(c.Name) {
		return nil, fmt.Errorf("%s: name %q: 1 to 32 of a-z, 0-9, - and _", op, c.Name)
	}
	if c.Outbound == "" || c.Inbound == "" {
		return nil, fmt.Errorf("%s: needs an outbound folder for payment files and an inbound folder for result files; payees' names and cards are written only where the operator says", op)
	}
	if c.Journal == "" {
		return nil, fmt.Errorf("%s: needs a journal", op)
	}
	for _, d := range []struct{ what, path string }{{"outbound", c.Outbound}, {"inbound", c.Inbound}} {
		if !filepath.IsAbs(d.path) {
			return nil, fmt.Errorf("%s: %s folder %q: an absolute path", op, d.what, d.path)
		}
		fi, err := os.Stat(d.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %s folder: %w", op, d.what, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s: %s folder %s is not a folder", op, d.what, d.path)
		}
		if d.what == "outbound" && fi.Mode().Perm()&0o007 != 0 {
			return nil, fmt.Errorf("%s: outbound folder %s is open to every user of the machine (%s): payment files hold names and card numbers; chmod o-rwx it", op, d.path, fi.Mode().Perm())
		}
	}
	if filepath.Clean(c.Outbound) == filepath.Clean(c.Inbound) {
		return nil, fmt.Errorf("%s: the outbound and inbound folders must differ", op)
	}
	b := &FileBank{name: c.Name, out: filepath.Clean(c.Outbound), in: filepath.Clean(c.Inbound), now: c.Now, log: c.Log,
		refs: map[string]*fileOrder{}, early: map[string]bool{}}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if t := nodeTag.ReplaceAllString(c.Node, ""); t != "" {
		b.node = t[:min(len(t), 16)]
	}
	if err := b.removeTemps(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := b.replay(c.Journal); err != nil {
		return nil, fmt.Errorf("%s: journal %s: %w", op, c.Journal, err)
	}
	return b, nil
}

// removeTemps deletes half-written payment files a crash left: the bank
// never reads them, and they hold names and cards.
func (b *FileBank) removeTemps() error {
	entries, err := os.ReadDir(b.out)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".PAY-") && strings.HasSuffix(n, ".tmp") {
			if err := os.Remove(filepath.Join(b.out, n)); err != nil {
				return err
			}
			b.log.Warn("file bank: removed a payment file a crash left half-written", "file", n)
		}
	}
	return nil
}

// replay reads the journal: written files' orders are taken; a pending
// file that exists was written (and is recorded so), one that does not
// never was.
func (b *FileBank) replay(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	open := map[string]*pendingFile{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		var rec fileRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			continue // a torn last line: the step it began did not finish
		}
		switch {
		case rec.Pending != nil:
			open[rec.Pending.File] = rec.Pending
			order = append(order, rec.Pending.File)
			b.seq = max(b.seq, rec.Pending.Seq)
		case rec.Written != nil:
			if p := open[rec.Written.File]; p != nil {
				b.take(p.Orders)
				delete(open, rec.Written.File)
			}
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return err
	}
	b.journal = f
	for _, name := range order {
		p := open[name]
		if p == nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(b.out, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if sum := sm.Sum(data); err != nil || hex.EncodeToString(sum[:]) != p.SM3 {
			b.log.Warn("file bank: a payment file was begun and never written; its orders go into the next file", "file", name, "orders", len(p.Orders))
			continue
		}
		if err := b.record(fileRecord{Written: &writtenFile{File: name, SM3: p.SM3}}); err != nil {
			return err
		}
		b.take(p.Orders)
		b.log.Warn("file bank: a payment file was written before a crash; its orders are taken", "file", name, "orders", len(p.Orders))
	}
	return nil
}

func (b *FileBank) take(orders []fileOrder) {
	for i := range orders {
		b.refs[orders[i].Ref] = &orders[i]
	}
}

func (b *FileBank) record(rec fileRecord) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := b.journal.Write(append(line, '\n')); err != nil {
		return err
	}
	return b.journal.Sync()
}

// Name is the configured name ("file" by default).
func (b *FileBank) Name() string { return b.name }

// Close closes the journal.
func (b *FileBank) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.journal == nil {
		return nil
	}
	err := b.journal.Close()
	b.journal = nil
	return err
}

// Submit writes the orders not taken before into one new payment file and
// answers every order: a reference already in a file with that file's
// reference, an order no file can carry with a refusal.
func (b *FileBank) Submit(ctx context.Context, orders []Order) ([]Ack, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.journal == nil {
		return nil, errors.New("channel: file bank: closed")
	}
	acks := make([]Ack, len(orders))
	var fresh []Order
	inFile := map[string]int{} // ref -> row in the new file
	for i, o := range orders {
		acks[i].Ref = o.Ref
		if prev, ok := b.refs[o.Ref]; ok {
			acks[i].ChannelRef = prev.ChannelRef
			continue
		}
		if _, ok := inFile[o.Ref]; ok {
			continue // named twice in one call: the row is filled in below
		}
		if why := payable(o); why != "" {
			acks[i].Refused = why
			continue
		}
		fresh = append(fresh, o)
		inFile[o.Ref] = len(fresh)
	}
	if len(fresh) == 0 {
		return acks, ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	seq := b.seq + 1
	name := b.fileName(seq)
	data := paymentFile(fresh)
	sum := sm.Sum(data)
	pend := &pendingFile{File: name, Seq: seq, SM3: hex.EncodeToString(sum[:])}
	for i, o := range fresh {
		digest := sm.Sum([]byte(o.Payee.Name + "\x00" + o.Payee.Card))
		pend.Orders = append(pend.Orders, fileOrder{Ref: o.Ref, ChannelRef: name + "#" + strconv.Itoa(i+1), Fen: o.Fen,
			Payee: hex.EncodeToString(digest[:])})
	}
	// The number is used up whatever happens next: a file under it may
	// exist after a failure.
	b.seq = seq
	if err := b.record(fileRecord{Pending: pend}); err != nil {
		return nil, fmt.Errorf("channel: file bank: journal: %w", err)
	}
	linked, err := writeNew(b.out, name, data)
	if linked {
		// The file is there: the bank may take it, so the orders are taken
		// whatever fails after (a restart finds the file and records it).
		b.take(pend.Orders)
	}
	if err != nil {
		return nil, fmt.Errorf("channel: file bank: payment file %s: %w", name, err)
	}
	if err := b.record(fileRecord{Written: &writtenFile{File: name, SM3: pend.SM3}}); err != nil {
		return nil, fmt.Errorf("channel: file bank: journal: %w", err)
	}
	for i := range acks {
		if acks[i].Refused == "" && acks[i].ChannelRef == "" {
			acks[i].ChannelRef = b.refs[acks[i].Ref].ChannelRef
		}
	}
	b.log.Info("file bank: payment file written", "file", name, "orders", len(fresh))
	return acks, nil
}

func (b *FileBank) fileName(seq int) string {
	node := ""
	if b.node != "" {
		node = b.node + "-"
	}
	return fmt.Sprintf("PAY-%s-%s%06d.csv", b.now().In(China).Format("20060102150405"), node, seq)
}

// writeNew writes a file that appears whole or not at all, and never
// replaces one: a temporary file, synced, linked under its name, the
// folder synced. linked says the file is there.
func writeNew(dir, name string, data []byte) (linked bool, err error) {
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	if err := os.Link(tmp, filepath.Join(dir, name)); err != nil {
		return false, err
	}
	if err := os.Remove(tmp); err != nil {
		return true, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return true, err
	}
	defer d.Close()
	return true, d.Sync()
}

// Results reads result files in name order after cursor ("<file>:<line>",
// "" from the first file) and returns up to limit results with the cursor
// after them. A line that is not a result stops the reading there: the
// results before it come back first, then an error naming the file and
// line, the cursor before it, until the line is corrected.
func (b *FileBank) Results(ctx context.Context, cursor string, limit int) ([]Event, string, error) {
	file, line, err := parseCursor(cursor)
	if err != nil {
		return nil, cursor, err
	}
	names, err := b.resultFiles(file)
	if err != nil {
		return nil, cursor, err
	}
	var out []Event
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, cursor, err
		}
		after := 0
		if name == file {
			after = line
		}
		data, err := os.ReadFile(filepath.Join(b.in, name))
		if err != nil {
			return nil, cursor, fmt.Errorf("channel: file bank: %w", err)
		}
		events, last, err := ParseResults(name, data, after, limit-len(out))
		if last != after || len(events) > 0 {
			cursor = name + ":" + strconv.Itoa(last)
		}
		b.mu.Lock()
		for i := range events {
			if events[i].ChannelRef == "" {
				if o := b.refs[events[i].Ref]; o != nil {
					events[i].ChannelRef = o.ChannelRef
				}
			}
		}
		b.mu.Unlock()
		out = append(out, events...)
		if err != nil {
			if len(out) > 0 {
				return out, cursor, nil // the line's error comes with the next call
			}
			return nil, cursor, err
		}
		if len(out) == limit {
			break
		}
	}
	return out, cursor, nil
}

// parseCursor splits "<file>:<line>".
func parseCursor(c string) (string, int, error) {
	if c == "" {
		return "", 0, nil
	}
	i := strings.LastIndexByte(c, ':')
	if i > 0 {
		n, err := strconv.Atoi(c[i+1:])
		if err == nil && n >= 0 && resultName(c[:i]) {
			return c[:i], n, nil
		}
	}
	return "", 0, errors.New("channel: file bank: no such cursor " + strconv.Quote(c))
}

// resultName reports whether a file in the inbound folder is a result file:
// a visible .csv without a path.
func resultName(n string) bool {
	return strings.HasSuffix(n, ".csv") && !strings.HasPrefix(n, ".") && !strings.ContainsAny(n, "/\\:\x00") && len(n) <= 255
}

// resultFiles lists the result files from the cursor's file on, in name
// order. A file sorting before the cursor's file that arrived after it is
// never read: it is logged, once, for the operator to rename.
func (b *FileBank) resultFiles(from string) ([]string, error) {
	entries, err := os.ReadDir(b.in)
	if err != nil {
		return nil, fmt.Errorf("channel: file bank: inbound folder: %w", err)
	}
	var names []string
	var fromTime time.Time
	if from != "" {
		if fi, err := os.Stat(filepath.Join(b.in, from)); err == nil {
			fromTime = fi.ModTime()
		}
	}
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !resultName(n) {
			continue
		}
		if n >= from {
			names = append(names, n)
			continue
		}
		if fi, err := e.Info(); err == nil && !fromTime.IsZero() && fi.ModTime().After(fromTime) {
			b.mu.Lock()
			if !b.early[n] {
				b.early[n] = true
				b.log.Warn("file bank: a result file sorts before the file the results were read up to, and is not read: rename it to sort after", "file", n, "cursor_file", from)
			}
			b.mu.Unlock()
		}
	}
	slices.Sort(names)
	return names, nil
}

// Taken reports how many references the bank was handed (in files).
func (b *FileBank) Taken() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.refs)
}

// PaymentFileName reports whether n is the name of a payment file.
func PaymentFileName(n string) bool { return paymentName.MatchString(n) }
