package api

import (
	"fmt"
	"time"

	"cxt/policy"
	"cxt/storage/state"
)

// Backend is a domain as the API serves it: the commands and buckets it adds
// to the state machine, and the routes it answers. The pipeline authenticates,
// authorizes, runs the important-operation protocol and audits every route
// alike; a backend brings only what is its own.
type Backend interface {
	// Register adds the backend's buckets and commands.
	Register(*state.Registry)
	// Routes lists the backend's endpoints.
	Routes() []Route
}

// Kind says what a route does to the state, which decides how it is audited
// and whether it goes through preview and confirm.
type Kind uint8

// The kinds of route.
const (
	_ Kind = iota // a route without a kind is refused when mounted
	// Read changes nothing: its audit record is written when the handler
	// first reads, and that record's index is the read's linearizable read
	// point (Request.View).
	Read
	// Write proposes commands: the first command it proposes carries the
	// request's audit record; a write that proposes none gets a record
	// before the answer leaves.
	Write
	// Important needs a recent step-up and goes through an Idempotency-Key,
	// a preview and a confirm (§9 重要操作): its Prepare builds the
	// operation, and the pipeline runs it (important.go).
	Important
)

func (k Kind) String() string {
	switch k {
	case Read:
		return "read"
	case Write:
		return "write"
	case Important:
		return "important"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Route is one endpoint: its method and path, its action (the name the
// policy decides on), what it acts on, its kind, and its handler.
type Route struct {
	Method, Path, Action string
	Kind                 Kind
	// Resource finds what the request acts on: its owner and security label
	// for the policy, and whether it is there for the caller at all. Nil:
	// nothing in particular (label 1, no owner).
	Resource func(*Request) (Resource, error)
	// Handle answers a Read or Write route.
	Handle func(*Request) (int, any, error)
	// Prepare builds the operation of an Important route from the request
	// and the current state; the pipeline previews, confirms and runs it.
	Prepare func(*Request) (*Op, error)
	// MaxBody bounds the request body; 0 means the default, 1 MiB. Routes
	// that take documents raise it.
	MaxBody int64

	// sys routes answer while the node is sealed; their records fall back
	// to the node's local log (see recordSys).
	sys bool
	// unrouted answers a request no route matched: no session is
	// authenticated and no policy decides, there being no action.
	unrouted bool
}

// Important reports whether the route is an important operation.
func (rt Route) Important() bool { return rt.Kind == Important }

// check refuses a route the pipeline could not serve as declared.
func (rt Route) check() error {
	switch {
	case rt.Method == "" || rt.Path == "" || rt.Action == "":
		return fmt.Errorf("route %s %s (%s): a route needs a method, a path and an action", rt.Method, rt.Path, rt.Action)
	case rt.Kind == Important && (rt.Prepare == nil || rt.Handle != nil):
		return fmt.Errorf("route %s %s: an important route has a Prepare and no Handle", rt.Method, rt.Path)
	case (rt.Kind == Read || rt.Kind == Write) && (rt.Handle == nil || rt.Prepare != nil):
		return fmt.Errorf("route %s %s: a %s route has a Handle and no Prepare", rt.Method, rt.Path, rt.Kind)
	case rt.Kind != Read && rt.Kind != Write && rt.Kind != Important:
		return fmt.Errorf("route %s %s: no kind (Read, Write or Important)", rt.Method, rt.Path)
	}
	return nil
}

// Raw is an answer that is not JSON: a document as it was stored. It is sent
// as an attachment with the content type given, never sniffed by the
// browser.
type Raw struct {
	ContentType string
	Name        string // the file name offered, if any
	Body        []byte
	// Inline sends the body as the answer itself, not an attachment: JSON
	// a handler wrote faster than the pipeline would (the gateway's feed).
	Inline bool
}

// Resource is what a request acts on, as its route's Resource func found it.
type Resource struct {
	// Owner and Label are what the policy decides on: the owner (an
	// account's ID, later a merchant's) and the security label.
	policy.Resource
	// Noun names the resource in refusals and audit reasons ("no account
	// acct-…").
	Noun string
	// Absent: there is no such resource. The request is decided as if it
	// were there (the policy's denials come first) and then answered
	// not_found; so is one whose label is above the caller's clearance
	// (see decideHidingLabels).
	Absent bool
}

func (r Resource) noun() string {
	if r.Noun == "" {
		return "resource"
	}
	return r.Noun
}

// Lookup finds the record a Resource func names: found reads it from this
// node's state and says whether it is there. A record this node has not
// applied yet is looked for once more after a read barrier, for a
// signed-in caller, before it is called absent (an anonymous caller gets no
// barrier: it cannot make the node wait).
func (r *Request) Lookup(found func(*state.ReadTx) (bool, error)) (bool, error) {
	return r.lookup(found, r.Session != nil)
}

// LookupFresh is Lookup for a request not yet authenticated that must not
// miss what was just written elsewhere: a machine client's record while
// its signature is checked. A read barrier follows any miss.
func (r *Request) LookupFresh(found func(*state.ReadTx) (bool, error)) (bool, error) {
	return r.lookup(found, true)
}

func (r *Request) lookup(found func(*state.ReadTx) (bool, error), barrier bool) (bool, error) {
	var ok bool
	view := func(tx *state.ReadTx) error {
		var err error
		ok, err = found(tx)
		return err
	}
	err := r.Node.State().View(view)
	if err == nil && !ok && barrier {
		if err = r.Node.ReadBarrier(r.Ctx); err == nil {
			err = r.Node.State().View(view)
		}
	}
	return ok, err
}

// Tenancy is a Resource func's answer for the record find reads: the
// record's tenancy, or res marked absent when find's lookup is a not_found
// rejection. res is what the request is decided on while nothing is found
// (its noun, label and owner).
func (r *Request) Tenancy(res Resource, find func(*state.ReadTx) (policy.Resource, error)) (Resource, error) {
	found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
		t, err := find(tx)
		if state.NotFound.Is(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		res.Resource = t
		return true, nil
	})
	res.Absent = !found
	return res, err
}

// StaffRecord is the Resource func of a platform record named by {id} in
// bucket: no merchant's (label 1, not tenanted: only platform staff's roles
// reach these routes), absent when there is no such record.
func StaffRecord(bucket, noun string) func(*Request) (Resource, error) {
	return func(r *Request) (Resource, error) {
		id := r.Var("id")
		found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
			b, err := tx.Get(bucket, []byte(id))
			return b != nil, err
		})
		return Resource{Resource: policy.Resource{Label: 1}, Noun: noun, Absent: !found}, err
	}
}

// PathOwner is the Resource func of a route whose owner is its path
// variable name, looked up nowhere: label 1.
func PathOwner(name string) func(*Request) (Resource, error) {
	return func(r *Request) (Resource, error) {
		return Resource{Resource: policy.Resource{Label: 1, Owner: r.Var(name)}}, nil
	}
}

// Sessions resolves bearer tokens to callers. The identity backend
// implements it; the node injects it.
type Sessions interface {
	// Authenticate resolves an Authorization header to r's Subject,
	// Session and Token, or refuses it as unauthenticated. It may end an
	// idle session or note its use, proposing under r's audit context.
	Authenticate(r *Request, authorization string) error
	// Holder names, for an audit record only, the account whose session
	// the header's token opens, ended or not; "" if none.
	Holder(tx *state.ReadTx, authorization string) string
	// Live reports whether the header's token opens a session that has not
	// expired at now. It reads this node's state without a barrier: it
	// only chooses a rate limit.
	Live(tx *state.ReadTx, authorization string, now time.Time) bool
}

// Clients authenticates machine clients: a request that carries the
// signature headers of package reqsig instead of a session token is
// authenticated by the SM2 key its client registered. The clients backend
// implements it; the node injects it.
type Clients interface {
	// Authenticate checks r's signature, timestamp, source address and
	// nonce against the client its headers name, and sets r's Subject,
	// Session and audit subject, or refuses the request. It reads r's body
	// (and puts it back), and records the nonce under r's audit context, so
	// that a replay is refused on every node.
	Authenticate(r *Request) error
	// Live reports whether client names a client that is registered and
	// not revoked. It reads this node's state without a barrier: it only
	// chooses a rate limit.
	Live(tx *state.ReadTx, client string) bool
}

// Session is a signed-in caller's session as Sessions resolved it.
type Session interface {
	// Admits refuses an action the session may not take yet — a one-time
	// password to change first, a second factor to enroll, a step-up due
	// before an important operation — or returns nil.
	Admits(action string, important bool, now time.Time) error
}

// FourEyes tells a preview whether its change will wait for a second
// administrator. Package important implements it; the node injects it. The
// state machine decides again at the confirm.
type FourEyes interface {
	// Approvers returns who may approve cmd proposed by proposer, or nil
	// if the change needs no approval.
	Approvers(tx *state.ReadTx, proposer policy.Subject, cmd *state.Command) (*Approvers, error)
}

// Approvers are the roles that may approve a change, and how long they have.
type Approvers struct {
	Roles  []string
	Within time.Duration
}
