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
//   - Values are sealed with the active key term under a nonce derived from
//     the command's random ID and the Raft index, so every replica writes the
//     same bytes and no nonce repeats. Associated data binds each value to
//     its bucket and key.
//   - Each command ID is applied once; a second proposal of the same command
//     returns the first result.
//   - The keyring is itself replicated: the command that installs a key term
//     carries its secret wrapped by the master key and is sealed under term 0.
//   - Only a handler's Rejection is a result. Any other error in Apply is
//     returned by ApplyBatch, and the node stops (fail-stop) rather than
//     answer differently from its peers; see applyOne, cmdset.go and hooks.go.
package state
