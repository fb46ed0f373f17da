// Package auditlog keeps cxt's audit trail: an append-only log of every
// request and security event, written by the state machine in the same
// transaction as the change it records, and shaped as an SM3 Merkle tree
// (RFC 6962) so that tampering, truncation and reordering are detected and
// inclusion and consistency can be proved.
//
// Entries are sealed like every value. The tree's right edge (its frontier)
// is kept beside the leaves, so appending costs O(log n) and never reads old
// entries; proofs and verification read the leaves.
package auditlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Buckets of the audit log.
const (
	EntriesBucket = "audit"        // seq -> Entry (JSON)
	LeavesBucket  = "audit-leaves" // seq -> leaf hash; "~frontier" -> the tree's right edge
)

// CmdRecord records an event that changes nothing else: a read, a failed
// login, an export.
const CmdRecord = "audit.record"

var frontierKey = []byte("~frontier") // not 8 bytes long: never a sequence key

// Context is what the API layer knows about a request; it travels in
// state.Command.Audit. Values must already be masked or HMACed.
type Context struct {
	Subject string `json:"subject,omitempty"` // account ID, or "anonymous"
	Source  string `json:"source,omitempty"`  // client address
	Action  string `json:"action,omitempty"`  // e.g. "POST /api/v1/sessions"
	Object  string `json:"object,omitempty"`  // what was acted on
	Request string `json:"request,omitempty"` // request ID
	Event   string `json:"event,omitempty"`   // for audit.record: the event type
	Result  string `json:"result,omitempty"`  // for audit.record: its outcome
	Reason  string `json:"reason,omitempty"`  // why, for unmasking and exports
}

// Encode returns the context for state.Command.Audit.
func (c Context) Encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

// RecordCommand returns a command that only records an event.
func RecordCommand(c Context, now time.Time) *state.Command {
	cmd := state.NewCommand(CmdRecord, nil, now)
	cmd.Audit = c.Encode()
	return cmd
}

// Entry is one audit record.
type Entry struct {
	Seq     uint64    `json:"seq"` // 1-based position in the log
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // command type, or the event of an audit.record
	Subject string    `json:"subject"`
	Action  string    `json:"action,omitempty"`
	Object  string    `json:"object,omitempty"`
	Result  string    `json:"result"` // "ok" or the rejection code
	Source  string    `json:"source,omitempty"`
	Request string    `json:"request,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Index   uint64    `json:"index"` // the Raft entry that carried it
}

// Register adds the audit buckets, the audit.record command and the hook
// that audits every command.
func Register(reg *state.Registry) {
	reg.Bucket(EntriesBucket)
	reg.Bucket(LeavesBucket)
	// A record's result is the log index it was applied at: a read that
	// waits until its node has applied that index is linearizable, so the
	// record doubles as the read's barrier.
	reg.Handle(CmdRecord, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		return binary.BigEndian.AppendUint64(nil, tx.Index()), nil
	})
	reg.Audit(hook)
	reg.AuditHead(func(get func(string, []byte) ([]byte, error)) (uint64, [sm.HashSize]byte, error) {
		f, err := loadFrontier(get)
		if err != nil {
			return 0, [sm.HashSize]byte{}, err
		}
		return f.Size, f.root(), nil
	})
}

func hook(tx *state.Tx, cmd *state.Command, res state.Result) error {
	var c Context
	if len(cmd.Audit) > 0 {
		if err := json.Unmarshal(cmd.Audit, &c); err != nil {
			c = Context{Subject: "unknown", Object: "malformed audit context"}
		}
	}
	e := Entry{
		Time: cmd.When(), Type: cmd.Type, Subject: c.Subject, Action: c.Action, Object: c.Object,
		Source: c.Source, Request: c.Request, Reason: c.Reason, Result: "ok", Index: tx.Index(),
	}
	if e.Subject == "" {
		e.Subject = "system"
	}
	if t := tx.AuditType(); t != "" { // e.g. an important operation: the change it made
		e.Type = t
	}
	if cmd.Type == CmdRecord {
		e.Type = c.Event
	}
	// The proposer may know an outcome the command's own result cannot
	// tell, such as a notification delivery that failed: it says so here.
	if c.Result != "" {
		e.Result = c.Result
	}
	if res.Err != nil {
		e.Result = res.Err.Code
	}
	_, err := Append(tx, e)
	return err
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Append adds e as the next entry and returns its sequence number. Control
// and invisible formatting characters in its text (a CR LF in a requested
// path, a bidi override in a reason) are written as \u escapes, so that
// an entry read as a line of text says what it holds and no more.
func Append(tx *state.Tx, e Entry) (uint64, error) {
	for _, f := range []*string{&e.Type, &e.Subject, &e.Action, &e.Object, &e.Result, &e.Source, &e.Request, &e.Reason} {
		*f = printable(*f)
	}
	f, err := loadFrontier(tx.Get)
	if err != nil {
		return 0, err
	}
	e.Seq = f.Size + 1
	data, err := json.Marshal(e)
	if err != nil {
		return 0, err
	}
	leaf := LeafHash(data)
	if err := tx.Put(EntriesBucket, seqKey(e.Seq), data); err != nil {
		return 0, err
	}
	if err := tx.Put(LeavesBucket, seqKey(e.Seq), leaf[:]); err != nil {
		return 0, err
	}
	f.push(leaf)
	return e.Seq, tx.Put(LeavesBucket, frontierKey, f.marshal())
}

// Head is the size and root of the log.
type Head struct {
	Size uint64 `json:"size"`
	Root Hash   `json:"root"`
}

// CurrentHead returns the log's size and root as of r.
func CurrentHead(r *state.ReadTx) (Head, error) {
	f, err := loadFrontier(r.Get)
	if err != nil {
		return Head{}, err
	}
	return Head{Size: f.Size, Root: f.root()}, nil
}

func loadFrontier(get func(string, []byte) ([]byte, error)) (*frontier, error) {
	b, err := get(LeavesBucket, frontierKey)
	if err != nil {
		return nil, err
	}
	f := &frontier{}
	if b == nil {
		return f, nil
	}
	return f, f.unmarshal(b)
}

// marshal: [size 8][count 1]{[height 1][hash 32]}.
func (f *frontier) marshal() []byte {
	out := binary.BigEndian.AppendUint64(make([]byte, 0, 9+len(f.Nodes)*33), f.Size)
	out = append(out, byte(len(f.Nodes)))
	for i, n := range f.Nodes {
		out = append(out, byte(f.Heights[i]))
		out = append(out, n[:]...)
	}
	return out
}

var errBadFrontier = errors.New("auditlog: frontier record is corrupt")

func (f *frontier) unmarshal(b []byte) error {
	if len(b) < 9 || len(b) != 9+int(b[8])*33 {
		return errBadFrontier
	}
	f.Size = binary.BigEndian.Uint64(b)
	for i := range int(b[8]) {
		rec := b[9+i*33:]
		f.Heights = append(f.Heights, int(rec[0]))
		f.Nodes = append(f.Nodes, Hash(rec[1:33]))
	}
	return nil
}

// Leaves reads the leaf hashes 1..size, for proofs.
func Leaves(r *state.ReadTx, size uint64) ([]Hash, error) {
	out := make([]Hash, 0, size)
	err := r.Scan(LeavesBucket, func(k, v []byte, openErr error) error {
		if len(k) != 8 || uint64(len(out)) >= size {
			return nil
		}
		if openErr != nil {
			return openErr
		}
		if len(v) != len(Hash{}) {
			return fmt.Errorf("auditlog: leaf %d is corrupt", binary.BigEndian.Uint64(k))
		}
		out = append(out, Hash(v))
		return nil
	})
	if err == nil && uint64(len(out)) != size {
		err = fmt.Errorf("auditlog: %d leaves stored, %d expected", len(out), size)
	}
	return out, err
}

// printable escapes the characters of s that a reader of the text would not
// see as themselves: controls (C0, DEL, C1) and format characters (Cf:
// bidi overrides, zero-width joiners).
func printable(s string) string {
	clean := true
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
