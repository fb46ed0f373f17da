// Package blob keeps documents — qualification papers, contracts, proofs of
// work — sealed at rest in a folder (the embedded default) or in MinIO.
//
// A Store seals on the way in and opens on the way out (crypto/docseal):
// backends only ever see ciphertext, documents stream in constant memory,
// and a read that meets a changed byte fails instead of returning it. The
// caller records each document's Info (size and SM3 digest) in the
// replicated state and passes the digest back to read it.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"

	"cxt/crypto/docseal"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

// Backend stores opaque objects by ID.
type Backend interface {
	// Put stores size bytes from r under id (size is exact).
	Put(ctx context.Context, id string, r io.Reader, size int64) error
	Get(ctx context.Context, id string) (io.ReadCloser, error)
	Delete(ctx context.Context, id string) error
}

// ErrNotFound is returned for an ID with no document.
var ErrNotFound = errors.New("blob: no such document")

// Info describes a stored document.
type Info struct {
	ID   string            `json:"id"`
	Size int64             `json:"size"`
	SM3  [sm.HashSize]byte `json:"sm3"`
}

// Store seals documents into a Backend.
type Store struct {
	b    Backend
	keys docseal.Wrapper
}

// New returns a Store over b sealing with keys.
func New(b Backend, keys *keyring.Keyring) *Store { return &Store{b: b, keys: docseal.Keyring(keys)} }

// Under returns the store with document keys wrapped by w instead of the
// keyring: a data subject's documents go under that subject's key
// (crypto/subjectkey), so that destroying the key shreds them.
func (s *Store) Under(w docseal.Wrapper) *Store { return &Store{b: s.b, keys: w} }

// Raw is the backend the store seals into, for the few objects that are
// not documents and need no sealing (their content is signed instead).
func (s *Store) Raw() Backend { return s.b }

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckID reports whether id may name a document.
func CheckID(id string) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("blob: document ID %q must be 1-128 letters, digits, '.', '_' or '-'", id)
	}
	return nil
}

// Put seals size bytes from r as document id. The plaintext streams through
// the sealer into the backend; nothing is buffered whole.
func (s *Store) Put(ctx context.Context, id string, r io.Reader, size int64) (Info, error) {
	if err := CheckID(id); err != nil {
		return Info{}, err
	}
	if size < 0 {
		return Info{}, errors.New("blob: document size must be known")
	}
	pr, pw := io.Pipe()
	type sealed struct {
		digest [sm.HashSize]byte
		err    error
	}
	done := make(chan sealed, 1)
	go func() {
		w, err := docseal.NewWriter(pw, s.keys, id)
		if err != nil {
			pw.CloseWithError(err)
			done <- sealed{err: err}
			return
		}
		n, err := io.Copy(w, io.LimitReader(r, size+1))
		if err == nil && n != size {
			err = fmt.Errorf("blob: document is %d bytes or more, announced %d", n, size)
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
		done <- sealed{digest: w.Digest(), err: err}
	}()
	err := s.b.Put(ctx, id, pr, docseal.SealedSize(size))
	pr.CloseWithError(errors.New("blob: backend stopped reading")) // unblock the sealer
	res := <-done
	if err == nil && res.err != nil {
		// The backend may hold what it read; a failed put leaves nothing.
		s.b.Delete(context.WithoutCancel(ctx), id)
		err = res.err
	}
	if err != nil {
		return Info{}, err
	}
	return Info{ID: id, Size: size, SM3: res.digest}, nil
}

// Get opens document id, checking every chunk and, at the end, its SM3
// digest against want. A read error means the document is damaged.
func (s *Store) Get(ctx context.Context, id string, want [sm.HashSize]byte) (io.ReadCloser, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	rc, err := s.b.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	r, err := docseal.NewReader(rc, s.keys, id, want)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{r, rc}, nil
}

// Delete removes document id.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	return s.b.Delete(ctx, id)
}
