package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Dir keeps objects as files under a folder, written to a temporary name,
// synced, then renamed, so a crash never leaves half a document in place.
type Dir struct{ root string }

// NewDir returns a Dir backend rooted at root, creating it if needed.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	return &Dir{root: root}, nil
}

func (d *Dir) path(id string) string { return filepath.Join(d.root, id) }

// Put writes the object.
func (d *Dir) Put(ctx context.Context, id string, r io.Reader, size int64) (err error) {
	f, err := os.CreateTemp(d.root, ".put-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, r)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("blob: wrote %d bytes, want %d", n, size)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), d.path(id)); err != nil {
		return err
	}
	dir, err := os.Open(d.root)
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// Get opens the object.
func (d *Dir) Get(ctx context.Context, id string) (io.ReadCloser, error) {
	f, err := os.Open(d.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	return f, err
}

// Delete removes the object.
func (d *Dir) Delete(ctx context.Context, id string) error {
	err := os.Remove(d.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return ErrNotFound
	}
	return err
}
