package state

import (
	"fmt"
	"sort"
)

// Handler applies one command. It reads and writes through tx; whatever it
// returns — a value or an error — is the command's result on every replica.
// Writes of a handler that returns an error are discarded.
type Handler func(tx *Tx, cmd *Command) ([]byte, error)

// Registry names the buckets and command handlers of a state machine. The
// appliance builds one from its domain packages; tests build small ones.
type Registry struct {
	buckets  map[string]bool // name -> sealed
	keysOnly map[string]bool // buckets of keys only (KeysBucket)
	handlers map[string]Handler
	expirers map[string]Expirer
	audit    AuditHook
	from     map[string]uint32 // command type -> the command set that introduced it
	speaks   uint32            // the highest command set registered
	reload   []ReloadHook
	// auditHead reads the audit log's head for the state head (head.go).
	auditHead AuditHeadFunc
}

// AuditHook records a command's outcome in the same transaction as its
// writes. It sees the command after its handler ran (res holds the value or
// the rejection); an error from it stops the node, since a change that
// cannot be audited must not happen.
type AuditHook func(tx *Tx, cmd *Command, res Result) error

// Audit installs the audit hook.
func (r *Registry) Audit(h AuditHook) {
	if r.audit != nil {
		panic("state: audit hook registered twice")
	}
	r.audit = h
}

// Built-in buckets.
const (
	bucketMeta     = "meta"     // schema version, applied index; plain numbers
	bucketKeyring  = "keyring"  // term secrets wrapped by the master key
	bucketCommands = "commands" // result of every applied command ID
)

// SchemaVersion is the layout of the bbolt file this code writes. Opening a
// file with a newer version fails; an older one is migrated forward.
//
// 2: stored command results carry their rejection's kind (result format 2).
// Format-1 results stay readable and expire within CommandTTL, so moving a
// file from 1 to 2 rewrites nothing.
//
// 3: meta/head, the authenticated state head (head.go). A file of version 1
// or 2 has none and is refused until `cxt audit adopt` gives it one.
const SchemaVersion = 3

// NewRegistry returns a registry with the built-in buckets and handlers.
func NewRegistry() *Registry {
	r := &Registry{buckets: map[string]bool{}, handlers: map[string]Handler{}, expirers: map[string]Expirer{}, from: map[string]uint32{}, speaks: 1}
	r.buckets[bucketMeta] = false
	r.buckets[bucketKeyring] = false
	r.buckets[bucketCommands] = true
	r.buckets[bucketSweep] = true
	r.Handle(CmdInstallTerm, applyInstallTerm)
	r.Handle(CmdSweep, applySweep)
	r.Handle(CmdCommandSet, applyCommandSet)
	return r
}

// Bucket registers a bucket whose values are sealed.
func (r *Registry) Bucket(name string) {
	if _, dup := r.buckets[name]; dup {
		panic(fmt.Sprintf("state: bucket %q registered twice", name))
	}
	r.buckets[name] = true
}

// KeysBucket registers a bucket of keys only: every value is empty, so
// there is nothing to seal. Its keys must be identifiers, never personal
// data — an index of one record's ID under another's — and, like every
// record, they are authenticated by the state head. Writing a value into it
// is a bug, refused.
func (r *Registry) KeysBucket(name string) {
	if _, dup := r.buckets[name]; dup {
		panic(fmt.Sprintf("state: bucket %q registered twice", name))
	}
	r.buckets[name] = false
	if r.keysOnly == nil {
		r.keysOnly = map[string]bool{}
	}
	r.keysOnly[name] = true
}

// Handle registers the handler of a command type of command set 1 (see
// HandleFrom).
func (r *Registry) Handle(typ string, h Handler) { r.HandleFrom(1, typ, h) }

// Buckets returns the registered bucket names.
func (r *Registry) Buckets() []string {
	out := make([]string, 0, len(r.buckets))
	for b := range r.buckets {
		out = append(out, b)
	}
	return out
}

// Commands returns the registered command types, sorted; the audit
// documentation test checks each has a row.
func (r *Registry) Commands() []string {
	out := make([]string, 0, len(r.handlers))
	for t := range r.handlers {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
