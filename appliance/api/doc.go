// Package api is the business API's pipeline: every route names an action,
// every request is authenticated (or anonymous), its resource found, decided
// by OPA and the duty rules, put through step-up or preview → confirm when it
// is important, handled, and audited — writes in the same replicated command
// as their change, reads and refusals by an audit record written before the
// answer leaves. A request that cannot be audited is refused.
//
// # The contract
//
// A domain joins as a Backend: Register adds its buckets and commands to the
// state machine, Routes lists its endpoints. A Route declares its method,
// path and action (the name the policy decides on), its Kind — Read, Write
// or Important — which fixes how it is audited and whether it is previewed
// and confirmed, and a Resource func saying what it acts on: the owner and
// label the policy checks, and whether the thing is there at all for this
// caller. Read and Write routes have a Handle; Important ones a Prepare that
// returns an Op (impact, risks, the command, the answer), which the pipeline
// previews, binds to a confirm token and an Idempotency-Key, and runs once.
// A handler sees a Request: its caller, its audit context, Propose and View
// (which audit and classify for it), Decode and Var.
//
// The pipeline imports no domain (a test lists its dependencies). What it
// needs from one it asks through an interface the node injects: Sessions
// (identity resolves bearer tokens, and its Session says what a restricted
// session may not do yet), Clients (package clients authenticates the
// SM2-signed requests of merchants' machine clients, crypto/sm/reqsig) and
// FourEyes (package important says which changes wait for a second
// administrator). The node composes the backends and
// mounts them; node.Routes is the list the route × role tests walk.
//
// # Trade-offs
//
//   - Routes are values, not registrations from init: a test can list every
//     route without a running node, and a route the pipeline cannot serve as
//     declared (no kind, a Handle on an important route, a path mounted
//     twice) stops Mount rather than surfacing at the first request.
//   - The resource is found before the policy decides, by the route, so
//     ownership (and soon tenancy: a merchant's users see only its records)
//     is decided once, in the pipeline, for every domain; a route that forgets
//     its Resource acts on nothing in particular (label 1, no owner), which
//     the policy's per-action rules must then cover.
//   - Sessions and Session are interfaces, so the pipeline's checks on a
//     session (a one-time password to change, a factor to enroll, a step-up
//     due) are identity's code, called at the pipeline's point in the order;
//     handlers that need identity's session type assert it.
//   - The preview → confirm records live in important/confirm, outside
//     package important, whose four-eyes rules read identity's accounts: the
//     pipeline writes the records, and important's state machine applies them.
//   - The system routes (health, readiness, status, unseal) stay here: they
//     answer while the node is sealed, when no backend's state can be read.
package api
