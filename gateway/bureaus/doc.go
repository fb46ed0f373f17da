// Package bureaus keeps the tax bureaus' gateway clients: the systems of
// the tax offices that pull the feed, reports and answers from the
// gateway listener, each registered by a security administrator with its
// name, the tax offices in its scope, the SM2 key that signs its requests
// (package reqsig; given as a public key or an SM2 certificate) and,
// optionally, the TLS client certificate its connections must present.
//
// Invariants:
//   - A client acts as the role tax_officer, on the gateway listener only,
//     and sees only what its offices may see (the gateway's routes decide
//     with Client.Sees); it runs no important operation.
//   - Each request is signed over its method, path, sorted query, body,
//     timestamp and nonce; a timestamp more than five minutes off is
//     refused, and each nonce is recorded by a replicated command
//     (gateway.nonce, package signedreq) before the request is served, so
//     a replay is refused on whichever node it arrives.
//   - A client registered with a TLS certificate is served only over a
//     connection whose client certificate is exactly that one (mutual
//     TLS), besides its signature.
//   - A public key belongs to one client, ever: a key rotated away or of a
//     revoked client is never accepted again, for that client or another.
//   - A request names its client by ID or by its key alone (KeyName:
//     "key-" and 16 bytes of the key's SM3 fingerprint, the reference
//     client's default); KeysBucket, kept by register and rotate, finds
//     the client holding or having held the key, and only its key in
//     force is accepted.
//   - live ⇄ suspended → revoked; a revoked client is never restored. A
//     suspended or revoked client's requests are refused with their own
//     codes (client_suspended, client_revoked) once its signature
//     verifies, and again by the nonce's command, so a change made on one
//     node holds on every node from the next request.
//   - Registering, suspending, resuming, rotating and revoking are
//     important operations (security administrator); their commands belong
//     to command set 5 (state.GatewaySet).
//
// Trade-offs:
//   - The gateway's TLS is the standard library's (TLS 1.2/1.3), which
//     carries no SM2 certificate (that is TLCP, GB/T 38636). So the
//     certificate a bureau pins for mutual TLS is an ECDSA or RSA one
//     (tls_certificate), and its SM2 certificate, if it has one, names the
//     key that signs requests (certificate): the SM2 signature on every
//     request is what authenticates it; the TLS pin is a second factor for
//     bureaus that want one.
//   - The limit of requests per client is kept by each node, not
//     replicated: a client that spreads its calls over n nodes gets n
//     times the rate. It protects a node, not a quota.
package bureaus
