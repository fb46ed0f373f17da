package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Durability of the state file.
//
// A write is acknowledged once its Raft entry is fsynced on a quorum, so the
// state file need not be synced on every commit: after a crash the node
// replays the log from the file's applied index. What a skipped fsync risks is
// a torn file after the machine itself loses power — pages written but not yet
// on disk. A process crash cannot tear it: the kernel keeps every page.
//
// So while the file is open, "state.db.dirty" holds the kernel's boot ID,
// written and fsynced before the first unsynced commit (open's own). A clean
// Close syncs the file and removes the marker. At open, a marker from
// another boot means the machine went down with the file open: the file is
// moved aside, unread, and the node starts from its newest snapshot and the
// Raft log, which Raft keeps for everything after that snapshot.

// BootID returns the kernel's boot ID, or "" where there is none (then every
// commit is fsynced).
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (s *State) markerPath() string { return s.path + ".dirty" }

// distrustAfterReboot moves the state file aside when an earlier boot left it
// dirty.
func (s *State) distrustAfterReboot() error {
	if s.opts.BootID == "" {
		return nil
	}
	b, err := os.ReadFile(s.markerPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(b)) == s.opts.BootID {
		return nil // a process crash: the kernel kept every page
	}
	aside := fmt.Sprintf("%s.untrusted-%d", s.path, time.Now().Unix())
	if err := os.Rename(s.path, aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.untrusted = true
	return os.Remove(s.markerPath())
}

func (s *State) markDirty() error {
	if s.opts.BootID == "" {
		return nil
	}
	f, err := os.OpenFile(s.markerPath(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s.opts.BootID + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(s.path))
}

func (s *State) markClean() error {
	if s.opts.BootID == "" {
		return nil
	}
	if err := os.Remove(s.markerPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(s.path))
}

// Untrusted reports whether Open moved an earlier boot's file aside; the
// caller then restores from a snapshot and replays the log.
func (s *State) Untrusted() bool { return s.untrusted }

// A failed fsync is not a transient error: Linux reports a write-back error
// once and may then drop the pages it could not write, so the file on disk
// can lack commits that reads still see in the page cache. When the file
// cannot be synced — at close, or at a snapshot — the marker is rewritten
// with a value that matches no boot ID, so the next open sets the file
// aside and rebuilds it from the newest snapshot and the log, even within
// the same boot.

// syncFile fsyncs the state file; on failure it poisons the marker.
func (s *State) syncFile(when string) error {
	sync := s.sync
	if sync == nil {
		sync = s.db.Sync
	}
	err := sync()
	if err == nil {
		return nil
	}
	err = fmt.Errorf("state: sync %s at %s: %w", s.path, when, err)
	// A later sync may succeed; the pages this one could not write are
	// gone all the same, so the file stays untrusted.
	s.lost.Store(true)
	if s.opts.BootID == "" {
		return err
	}
	if perr := s.poisonMarker(err); perr != nil {
		return errors.Join(err, fmt.Errorf("state: mark the file untrusted: %w", perr))
	}
	return fmt.Errorf("%w; the file is marked untrusted and is rebuilt from the newest snapshot and the Raft log at the next start", err)
}

// poisonMarker replaces the marker's boot ID with a note that no boot ID
// matches.
func (s *State) poisonMarker(cause error) error {
	f, err := os.OpenFile(s.markerPath(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "unsynced: %v\n", cause); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(s.path))
}

// Sync fsyncs the state file, so that a write-back error of the unsynced
// commits before this snapshot surfaces; the file is then marked untrusted
// and the caller must stop the node. Persisting a snapshot calls it first.
func (sn *Snapshot) Sync() error {
	if sn.s.opts.ReadOnly {
		return nil
	}
	return sn.s.syncFile("snapshot")
}
