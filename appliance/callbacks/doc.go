// Package callbacks tells merchants' systems of state changes (回调): a
// replicated outbox of deliveries, POSTed as JSON to the callback URLs the
// merchant's machine clients registered and signed with the platform's SM2
// key, at least once, with backoff, and a delivery log the merchant reads
// and replays.
//
// Invariants:
//   - A delivery is written by the command whose change it reports
//     (Enqueue, from any domain's state handler), so no change is reported
//     that did not happen and none happens unreported.
//   - A delivery's body is fixed when it is enqueued: every attempt sends
//     the same bytes and the same delivery ID, which the merchant dedupes
//     on. The signature covers exactly those bytes.
//   - Only the leader sends. Each attempt's outcome is a replicated command
//     that names the round and try it answers, so a deposed leader's late
//     outcome is refused; a delivery in flight when the leader dies is sent
//     again by the next one (at least once).
//   - After MaxAttempts (the deliverer's) a delivery is dead; a replay
//     starts a new round of tries with the same body.
//
// Trade-offs:
//   - The platform's key is made by the first leader that speaks the
//     command set, not by an operator: merchants need it before the first
//     callback, and nothing about it is chosen. Its private half is kept in
//     the replicated state wrapped by the keyring (purpose signing), so any
//     future leader signs.
//   - Callback URLs are https only, also in tests, and may not name a
//     private, loopback or link-local address unless the node allows it: a
//     merchant's URL is a request the appliance makes inside its own
//     network. The check is made again on the address each connection
//     dials, so a name that resolves inward later is refused too.
package callbacks
