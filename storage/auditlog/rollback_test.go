package auditlog

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"cxt/crypto/keyring"
	"cxt/storage/state"
)

// An older frontier put back after the entries past it were deleted is a
// consistent, shorter tree: the Merkle check alone passes it. The state
// head, which records the log's size and root, does not.
func TestEntriesRemovedBehindAnOlderFrontierAreRefused(t *testing.T) {
	l := newLog(t) // entry 1: the key term's installation
	for i := range 4 {
		l.apply(put("u", string(rune('a'+i))))
	}
	var older []byte
	l.rawEdit(func(tx *bolt.Tx) error {
		older = bytes.Clone(tx.Bucket([]byte(LeavesBucket)).Get(frontierKey))
		return nil
	})
	l.st.Close()
	l.open(false) // rawEdit leaves it read-only
	for i := range 4 {
		l.apply(put("u", string(rune('e'+i))))
	}
	l.rawEdit(func(tx *bolt.Tx) error {
		for seq := uint64(6); seq <= 9; seq++ {
			tx.Bucket([]byte(EntriesBucket)).Delete(seqKey(seq))
			tx.Bucket([]byte(LeavesBucket)).Delete(seqKey(seq))
		}
		return tx.Bucket([]byte(LeavesBucket)).Put(frontierKey, older)
	})
	if rep := l.verify(); !rep.OK || rep.Size != 5 {
		t.Fatalf("the tree alone: %+v (expected it to look intact at size 5)", rep)
	}
	head, err := l.st.CheckHead()
	if err != nil {
		t.Fatal(err)
	}
	if head.OK || head.AuditSize != 9 || !strings.Contains(head.Problem, "older frontier put back") {
		t.Fatalf("state head: %+v", head)
	}
	l.st.Close()
	keys, _ := keyring.New(l.master)
	if _, err := state.Open(l.path, registry(), keys, l.master); !errors.Is(err, state.ErrTampered) ||
		!strings.Contains(err.Error(), "the audit frontier records 5 entries, the state head 9") {
		t.Fatalf("open: %v", err)
	}
}

func TestAnOlderSealedAuditEntryPutBackIsRefused(t *testing.T) {
	l := newLog(t)
	l.apply(put("u", "a"))
	var first []byte
	l.rawEdit(func(tx *bolt.Tx) error {
		first = bytes.Clone(tx.Bucket([]byte(EntriesBucket)).Get(seqKey(2)))
		return nil
	})
	l.st.Close()
	l.open(false)
	l.apply(put("u", "b"))
	// Entry 3 replaced by entry 2's sealed bytes: it does not open under
	// entry 3's key, and the digest no longer matches.
	l.rawEdit(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(EntriesBucket)).Put(seqKey(3), first)
	})
	if rep := l.verify(); rep.OK || rep.FirstBad != 3 {
		t.Fatalf("%+v", rep)
	}
	if head, _ := l.st.CheckHead(); head.OK {
		t.Fatal("the state head accepted a record put back")
	}
}
