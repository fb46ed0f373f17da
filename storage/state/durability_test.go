package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"cxt/crypto/keyring"
)

func openBoot(t *testing.T, dir string, master *keyring.MasterKey, boot string) (*State, error) {
	t.Helper()
	keys, _ := keyring.New(master)
	return OpenWith(filepath.Join(dir, "state.db"), testRegistry(), keys, master, Options{BootID: boot})
}

// A failed fsync at close may have lost commits the page cache still
// showed: the marker then matches no boot, so even a restart in the same
// boot sets the file aside and rebuilds it.
func TestAFailedSyncAtCloseMakesTheNextOpenDistrustTheFile(t *testing.T) {
	master := keyring.NewMasterKey()
	dir := t.TempDir()
	st, err := openBoot(t, dir, master, "boot-A")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, master: master, keys: st.Keys(), st: st}
	f.apply(f.installTerm(1), put("a=1"))
	st.sync = func() error { return syscall.EIO }
	if err := st.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("close with a failing sync: %v", err)
	}
	again, err := openBoot(t, dir, master, "boot-A")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !again.Untrusted() || again.AppliedIndex() != 0 {
		t.Fatalf("a file whose last sync failed was trusted (applied %d)", again.AppliedIndex())
	}
}

// open commits (schema, buckets) without fsync, so the marker must be on
// disk first: if it cannot be written, the file is not touched.
func TestTheMarkerIsWrittenBeforeTheFirstUnsyncedCommit(t *testing.T) {
	master := keyring.NewMasterKey()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	// A marker that cannot be written (and is not there to be read): a
	// link into a folder that does not exist.
	unwritable := func(dir string) {
		t.Helper()
		if err := os.Symlink(filepath.Join(dir, "missing", "marker"), filepath.Join(dir, "state.db.dirty")); err != nil {
			t.Fatal(err)
		}
	}
	unwritable(dir)
	if st, err := openBoot(t, dir, master, "boot-A"); err == nil {
		st.Close()
		t.Fatal("opened without a dirty marker")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the state file was created before its dirty marker")
	}

	// An existing file is not committed to either.
	other := t.TempDir()
	st, err := openBoot(t, other, master, "boot-A")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	before, _ := os.ReadFile(filepath.Join(other, "state.db"))
	unwritable(other)
	if st, err := openBoot(t, other, master, "boot-A"); err == nil {
		st.Close()
		t.Fatal("opened without a dirty marker")
	}
	if after, _ := os.ReadFile(filepath.Join(other, "state.db")); !bytes.Equal(before, after) {
		t.Fatal("the state file was committed to before its dirty marker was written")
	}
}

// Every snapshot fsyncs the state file, so a write-back error surfaces
// there; the file is then marked untrusted.
func TestASnapshotSyncsTheStateFileAndAFailureMarksItUntrusted(t *testing.T) {
	master := keyring.NewMasterKey()
	dir := t.TempDir()
	st, err := openBoot(t, dir, master, "boot-A")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, master: master, keys: st.Keys(), st: st}
	f.apply(f.installTerm(1), put("a=1"))
	syncs := 0
	st.sync = func() error { syncs++; return nil }
	sn, err := st.BeginSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := sn.Sync(); err != nil || syncs != 1 {
		t.Fatalf("snapshot sync: %v, %d syncs", err, syncs)
	}
	sn.Release()

	st.sync = func() error { return syscall.EIO }
	sn, err = st.BeginSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	err = sn.Sync()
	sn.Release()
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "untrusted") {
		t.Fatalf("a failed snapshot sync: %v", err)
	}
	st.sync = nil
	st.Close() // a clean close after a write-back error must not bless the file
	again, err := openBoot(t, dir, master, "boot-A")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !again.Untrusted() {
		t.Fatal("a file with a write-back error was trusted after a restart")
	}
}
