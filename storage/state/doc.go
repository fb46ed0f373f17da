// Package state is cxt's deterministic state machine: it applies batches of
// sealed commands to a bbolt file in one transaction each, and keeps every
// value sealed at rest.
//
// The state machine is a thin shell, in the manner of Vault's raft FSM and
// rqlite's command processor: a Registry names the buckets and the handler of
// each command type, and the shell takes care of the rest:
//
//   - A command arrives as a keyring envelope; it is opened, decoded and run
//     by its handler against a Tx that buffers the handler's writes. A handler
//     that fails leaves nothing behind; one that succeeds has its writes merged
//     into the batch, and the whole batch — with the applied index — commits
//     in one bbolt transaction, so replaying a batch after a crash is a no-op.
//   - Values are sealed with the active key term under a synthetic nonce, an
//     HMAC of the plaintext with the command ID, the Raft index and the
//     record, so every replica writes the same bytes and two plaintexts never
//     share a nonce (nonce.go). Associated data binds each value to its
//     bucket and key.
//   - Every batch also writes an authenticated state head over the applied
//     index, the audit log's head and a digest of every record, checked at
//     open, before a snapshot is served and before one is installed, so that
//     a record, a frontier or an index put back from an older copy is
//     refused (head.go, restore.go).
//   - Each command ID is applied once; a second proposal of the same command
//     returns the first result.
//   - The keyring is itself replicated: the command that installs a key term
//     carries its secret wrapped by the master key and is sealed under term 0.
//   - Only a handler's Rejection is a result. Any other error in Apply is
//     returned by ApplyBatch, and the node stops (fail-stop) rather than
//     answer differently from its peers; see applyOne, cmdset.go and hooks.go.
package state
