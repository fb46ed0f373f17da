package state

import "encoding/binary"

// Nonces.
//
// Record values are sealed with synthetic nonces (keyring.SealSynthetic):
// HMAC-SM3 over the command ID and log index that wrote the value, its
// bucket and key, and the plaintext. Replicas write identical bytes, and two
// replicas that diverged and wrote different plaintexts at the same place
// still use different nonces. Log envelopes are sealed by whichever node
// proposes, with random nonces. Either way a nonce is a 96-bit pseudo-random
// value, and NIST SP 800-38D (§8.3) allows 2^32 such seals per key. The
// state head counts, per term, the log envelopes applied and the values
// sealed; once either reaches the seal budget the leader installs a new
// term (cluster), whose keys start afresh.

// DefaultSealBudget is a quarter of the 2^32 of SP 800-38D: the rest covers
// commands sealed but never applied, seals made while the rotation commits,
// and blob-store document keys, which are sealed outside the log. Two of
// 2^30 pseudo-random nonces collide with probability below 2^-37.
const DefaultSealBudget = 1 << 30

// valueCoords are what a value's synthetic nonce binds besides its record
// (the associated data) and its plaintext: the command that wrote it and
// the log index that carried the command, so that rewriting a value with
// the same content still gives a fresh envelope.
func valueCoords(cmd *Command, index uint64) []byte {
	out := make([]byte, 0, len(cmd.ID)+8)
	out = append(out, cmd.ID[:]...)
	return binary.BigEndian.AppendUint64(out, index)
}

// SealCounts returns the active term as of the last applied batch, and how
// many log envelopes sealed under it were applied and how many values were
// sealed under it.
func (s *State) SealCounts() (term uint32, log, records uint64) {
	return s.head.term.Load(), s.head.logSeals.Load(), s.head.recordSeals.Load()
}

// Worn reports the active term once its log or record key has taken the
// seal budget: the leader then installs the next term.
func (s *State) Worn() (term uint32, worn bool) {
	budget := s.opts.SealBudget
	if budget == 0 {
		budget = DefaultSealBudget
	}
	term, log, records := s.SealCounts()
	if active := s.keys.Active(); active != term {
		return active, false // installed since the last batch: nothing sealed under it yet
	}
	// Term 0 seals only the commands that install terms; it never rotates.
	return term, term > 0 && (log >= budget || records >= budget)
}
