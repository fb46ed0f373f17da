package state

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"time"
)

// Command is one replicated state change. It carries every input that is not
// a function of the state (time, identifiers), so that all replicas compute
// the same result.
type Command struct {
	Type string   // the registered handler, such as "keyring.install"
	ID   [16]byte // random; dedupes re-proposals and seeds value nonces
	Time int64    // the proposer's clock, Unix nanoseconds (UTC)
	Body []byte   // the handler's input, encoded by the handler's package
	// Audit is who asked, from where, for what: the context the audit hook
	// records with the command's result (see Registry.Audit). Sensitive
	// values in it are already masked or HMACed by the caller.
	Audit []byte
}

// NewCommand returns a command of type typ stamped with a fresh ID and now.
func NewCommand(typ string, body []byte, now time.Time) *Command {
	c := &Command{Type: typ, Time: now.UnixNano(), Body: body}
	if _, err := rand.Read(c.ID[:]); err != nil {
		panic(err)
	}
	return c
}

// When returns the command's timestamp.
func (c *Command) When() time.Time { return time.Unix(0, c.Time).UTC() }

// dedupeKey orders the applied-command records by time, so that new ones
// append at the end of the B-tree (one dirty page, not one per command) and
// old ones can be pruned by range.
func (c *Command) dedupeKey() []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 24), uint64(c.Time))
	return append(k, c.ID[:]...)
}

const commandVersion = 1

// MarshalBinary encodes c as
// [version][len type][type][id][time][len body][body][len audit][audit].
func (c *Command) MarshalBinary() ([]byte, error) {
	out := make([]byte, 0, 1+binary.MaxVarintLen64*4+len(c.Type)+16+len(c.Body)+len(c.Audit))
	out = append(out, commandVersion)
	out = binary.AppendUvarint(out, uint64(len(c.Type)))
	out = append(out, c.Type...)
	out = append(out, c.ID[:]...)
	out = binary.AppendVarint(out, c.Time)
	out = binary.AppendUvarint(out, uint64(len(c.Body)))
	out = append(out, c.Body...)
	out = binary.AppendUvarint(out, uint64(len(c.Audit)))
	return append(out, c.Audit...), nil
}

var errBadCommand = errors.New("state: malformed command")

// UnmarshalBinary decodes what MarshalBinary wrote.
func (c *Command) UnmarshalBinary(b []byte) error {
	if len(b) < 1 || b[0] != commandVersion {
		return errBadCommand
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return errBadCommand
	}
	c.Type, b = string(b[k:k+int(n)]), b[k+int(n):]
	if len(b) < 16 {
		return errBadCommand
	}
	copy(c.ID[:], b)
	b = b[16:]
	t, k := binary.Varint(b)
	if k <= 0 {
		return errBadCommand
	}
	c.Time, b = t, b[k:]
	n, k = binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return errBadCommand
	}
	c.Body, b = b[k:k+int(n)], b[k+int(n):]
	n, k = binary.Uvarint(b)
	if k <= 0 || n != uint64(len(b)-k) {
		return errBadCommand
	}
	c.Audit = b[k:]
	return nil
}

// Result is what applying a command returned: a value, or a rejection that
// every replica reached identically.
type Result struct {
	Value []byte
	Err   *Rejection
}

// Rejection is a command's deterministic refusal (see Reject): a kind the
// API maps to an HTTP status, and a stable code.
type Rejection struct {
	Kind    Kind
	Code    string
	Message string
}

func (r *Rejection) Error() string { return r.Code + ": " + r.Message }

// Error returns the rejection as an error, or nil.
func (r Result) Error() error {
	if r.Err == nil {
		return nil
	}
	return r.Err
}

// MarshalBinary encodes the result for storage and for forwarding.
func (r Result) MarshalBinary() ([]byte, error) { return r.marshal(), nil }

// UnmarshalResult decodes what Result.MarshalBinary wrote.
func UnmarshalResult(b []byte) (Result, error) { return unmarshalResult(b) }

// Result formats, by first byte: 0 a value; 1 a rejection without a kind
// ([len code][code][message], written before kinds; still read); 2 a
// rejection ([kind][len code][code][message]).
const (
	resultValue     = 0
	resultRejection = 1
	resultKinded    = 2
)

func (r Result) marshal() []byte {
	if r.Err == nil {
		return append([]byte{resultValue}, r.Value...)
	}
	out := []byte{resultKinded, byte(r.Err.Kind)}
	out = binary.AppendUvarint(out, uint64(len(r.Err.Code)))
	out = append(out, r.Err.Code...)
	return append(out, r.Err.Message...)
}

func unmarshalResult(b []byte) (Result, error) {
	if len(b) == 0 {
		return Result{}, errBadCommand
	}
	var kind Kind
	switch b[0] {
	case resultValue:
		return Result{Value: b[1:]}, nil
	case resultRejection:
		b = b[1:]
	case resultKinded:
		if len(b) < 2 {
			return Result{}, errBadCommand
		}
		kind, b = Kind(b[1]), b[2:]
	default:
		return Result{}, errBadCommand
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return Result{}, errBadCommand
	}
	code, msg := string(b[k:k+int(n)]), string(b[k+int(n):])
	if kind == KindUnknown {
		kind, code = legacyKind(code)
	}
	return Result{Err: &Rejection{Kind: kind, Code: code, Message: msg}}, nil
}
