package state

import (
	"encoding/binary"
	"fmt"
	"time"

	"cxt/crypto/keyring"
)

// CmdInstallTerm installs a key term on every replica.
const CmdInstallTerm = "keyring.install"

// InstallTermCommand returns the command that adds term n, its secret wrapped
// by master. The caller seals it with SealTerm0 (see Propose in cluster).
func InstallTermCommand(master *keyring.MasterKey, n uint32, secret []byte, now time.Time) (*Command, error) {
	wrapped, err := master.Wrap(termName(n), secret)
	if err != nil {
		return nil, err
	}
	body := binary.BigEndian.AppendUint32(nil, n)
	return NewCommand(CmdInstallTerm, append(body, wrapped...), now), nil
}

func termName(n uint32) string { return fmt.Sprintf("term/%d", n) }

func applyInstallTerm(tx *Tx, cmd *Command) ([]byte, error) {
	if len(cmd.Body) < 5 {
		return nil, Reject(InvalidRequest, "keyring.install: short body")
	}
	n := binary.BigEndian.Uint32(cmd.Body)
	if n == 0 {
		return nil, Reject(InvalidRequest, "keyring.install: term 0 is derived, not installed")
	}
	wrapped := cmd.Body[4:]
	if prev, err := tx.Get(bucketKeyring, termKey(n)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, Reject(Conflict, "keyring.install: term %d is already installed", n)
	}
	// Every replica holds the master key the proposer wrapped the secret
	// with, so a secret that does not unwrap was damaged here: an error,
	// not a rejection, and the file stays as it was.
	secret, err := tx.st.master.Unwrap(termName(n), wrapped)
	if err != nil {
		return nil, fmt.Errorf("keyring.install: term %d: %w", n, err)
	}
	clear(secret)
	st := tx.st
	tx.OnCommit(func() error { return st.installTerm(n, wrapped) })
	return nil, tx.Put(bucketKeyring, termKey(n), wrapped)
}

func termKey(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// installTerm unwraps and installs a term in the in-memory keyring: after
// the transaction that stores it commits (a commit hook), and from the file
// whenever it is opened or restored (reload).
func (s *State) installTerm(n uint32, wrapped []byte) error {
	secret, err := s.master.Unwrap(termName(n), wrapped)
	if err != nil {
		return err
	}
	defer clear(secret)
	return s.keys.Install(n, secret)
}
