package state

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Kind classifies a rejection by what the caller can do about it; the API
// maps each to one HTTP status (appliance/api). Kinds are stored with
// command results and cross the log and the wire between nodes, so the list
// is append-only: never renumber or reuse a value.
type Kind uint8

// The kinds.
const (
	// KindUnknown is a result stored before rejections had kinds (format
	// 1) whose code no current Code names; the API answers it as internal.
	KindUnknown         Kind = 0
	KindInvalid         Kind = 1 // the request is malformed or breaks a rule of its own
	KindConflict        Kind = 2 // the state forbids it now (taken, used, closed, expired)
	KindNotFound        Kind = 3 // what it names does not exist
	KindUnauthenticated Kind = 4 // the credentials are wrong or a captcha is due
	KindPermission      Kind = 5 // the caller may not, whatever it sends
	KindUnavailable     Kind = 6 // the cluster cannot do it yet (command set)
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindConflict:
		return "conflict"
	case KindNotFound:
		return "not_found"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindPermission:
		return "permission"
	case KindUnavailable:
		return "unavailable"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Code names one deliberate refusal: a stable API error code and its kind.
// Codes are made once, as package variables, by NewCode, so that a code's
// spelling and kind cannot drift between call sites, and Codes lists every
// refusal the state machine can produce.
type Code struct {
	kind Kind
	name string
}

// Kind returns the code's kind.
func (c Code) Kind() Kind { return c.kind }

// String returns the API error code.
func (c Code) String() string { return c.name }

// Is reports whether err is a rejection with this code: whether a lookup
// found nothing is state.NotFound.Is(err).
func (c Code) Is(err error) bool {
	var rej *Rejection
	return errors.As(err, &rej) && rej.Code == c.name
}

var codes = struct {
	sync.Mutex
	m map[string]Code
}{m: map[string]Code{}}

// NewCode makes and registers a code. Two packages may declare the same
// code, with the same kind; another kind panics.
func NewCode(k Kind, name string) Code {
	if k == KindUnknown || name == "" {
		panic("state: a code needs a kind and a name")
	}
	c := Code{k, name}
	codes.Lock()
	defer codes.Unlock()
	if old, ok := codes.m[name]; ok && old != c {
		panic(fmt.Sprintf("state: code %q declared as %s and as %s", name, old.kind, k))
	}
	codes.m[name] = c
	return c
}

// Codes returns every registered code, by name.
func Codes() []Code {
	codes.Lock()
	defer codes.Unlock()
	out := make([]Code, 0, len(codes.m))
	for _, c := range codes.m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// The general codes; domain packages declare their specific ones.
var (
	InvalidRequest = NewCode(KindInvalid, "invalid_request")
	Conflict       = NewCode(KindConflict, "conflict")
	NotFound       = NewCode(KindNotFound, "not_found")
	Unavailable    = NewCode(KindUnavailable, "unavailable")
)

// Reject returns a Rejection error for a handler to return.
func Reject(code Code, format string, args ...any) error {
	if code.kind == KindUnknown {
		panic("state: Reject with a zero Code")
	}
	return &Rejection{Kind: code.kind, Code: code.name, Message: fmt.Sprintf(format, args...)}
}

// legacyKind gives a result stored in format 1 (code, no kind) its kind: the
// registered code of that name; "invalid" was an early spelling of
// invalid_request.
func legacyKind(code string) (Kind, string) {
	if code == "invalid" {
		code = InvalidRequest.name
	}
	codes.Lock()
	defer codes.Unlock()
	return codes.m[code].kind, code
}
