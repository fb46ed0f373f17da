package datadir

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is held (flock) by the process serving the folder, with its PID
// inside so that a second one can say who holds it.
const LockFile = "lock"

// Lock is a held data-folder lock.
type Lock struct{ f *os.File }

// ErrInUse means another process serves the folder.
var ErrInUse = errors.New("datadir: the folder is in use")

// Lock takes the folder's lock without waiting. The kernel releases it when
// the process ends, however it ends, so a crash leaves nothing to clean up;
// the file itself stays.
func (n *Node) Lock() (*Lock, error) {
	path := n.Path(LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("datadir: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
		}
		b := make([]byte, 32)
		k, _ := f.ReadAt(b, 0)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b[:k]))); perr == nil && pid > 0 {
			return nil, fmt.Errorf("%w by process %d (%s); stop it first", ErrInUse, pid, n.dir)
		}
		return nil, fmt.Errorf("%w by another process (%s); stop it first", ErrInUse, n.dir)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock; a second call does nothing.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	return f.Close() // closing the descriptor releases the flock
}
