// Package docseal encrypts documents as a stream of SM4-GCM chunks under a
// per-document key, so that a document of any size is sealed and opened in
// constant memory and a changed, dropped, reordered or truncated chunk is an
// error before any of its bytes are returned.
//
// Layout: a header [magic 8][chunk size 4][nonce prefix 8][wrapped key 49],
// then chunks of ChunkSize plaintext bytes, each sealed with the nonce
// [prefix 8][counter 4]. The last chunk (empty only for an empty document) is
// sealed with a "final" flag in its associated data,
// so truncation at a chunk boundary is detected. The document key is a fresh
// SM4 key wrapped by the keyring (purpose Documents) and bound to the
// document ID; destroying a document's wrapped key destroys the document.
//
// The SM3 digest of the plaintext is computed while sealing and checked at the
// end of every read against the digest the caller recorded.
package docseal

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

const (
	// ChunkSize is the plaintext size of every chunk but the last.
	ChunkSize  = 64 << 10
	magic      = "CXTDOC1\n"
	prefixSize = 8
	wrappedLen = keyring.Overhead + sm.KeySize
	headerSize = len(magic) + 4 + prefixSize + wrappedLen
)

// ErrCorrupt means the stored document is not what was sealed.
var ErrCorrupt = errors.New("docseal: document is corrupt, truncated or not this document")

// SealedSize returns the stored size of a document of plainSize bytes.
func SealedSize(plainSize int64) int64 {
	chunks := max((plainSize+ChunkSize-1)/ChunkSize, 1)
	return int64(headerSize) + plainSize + chunks*sm.TagSize
}

func keyAAD(docID string) []byte { return []byte("cxt/document-key/v1/" + docID) }

func chunkAAD(docID string, n uint64, final bool) []byte {
	aad := binary.BigEndian.AppendUint64([]byte("cxt/document-chunk/v1/"+docID+"\x00"), n)
	if final {
		return append(aad, 1)
	}
	return append(aad, 0)
}

func nonce(prefix []byte, n uint64) []byte {
	return binary.BigEndian.AppendUint32(append(make([]byte, 0, sm.NonceSize), prefix...), uint32(n))
}

// Writer seals a document written to it. Close must be called to write the
// final chunk.
type Writer struct {
	w      io.Writer
	aead   cipher.AEAD
	docID  string
	prefix []byte
	buf    []byte
	out    []byte
	n      uint64
	size   int64
	digest hash.Hash
	closed bool
}

// Wrapper wraps and unwraps a document's own key: the keyring (Keyring), or
// the key of the data subject the document belongs to (crypto/subjectkey),
// whose envelopes are as long.
type Wrapper interface {
	Seal(aad, plaintext []byte) ([]byte, error)
	Open(aad, envelope []byte) ([]byte, error)
}

// Keyring wraps document keys under the keyring's documents key.
func Keyring(k *keyring.Keyring) Wrapper { return ringWrapper{k} }

type ringWrapper struct{ k *keyring.Keyring }

func (r ringWrapper) Seal(aad, pt []byte) ([]byte, error) {
	return r.k.Seal(keyring.Documents, aad, pt)
}
func (r ringWrapper) Open(aad, env []byte) ([]byte, error) {
	return r.k.Open(keyring.Documents, aad, env)
}

// NewWriter writes the header of document docID to w, its key wrapped by keys.
func NewWriter(w io.Writer, keys Wrapper, docID string) (*Writer, error) {
	key := make([]byte, sm.KeySize)
	prefix := make([]byte, prefixSize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := rand.Read(prefix); err != nil {
		return nil, err
	}
	wrapped, err := keys.Seal(keyAAD(docID), key)
	if err == nil && len(wrapped) != keyring.Overhead+sm.KeySize {
		err = fmt.Errorf("docseal: a wrapped key is %d bytes, want %d", len(wrapped), keyring.Overhead+sm.KeySize)
	}
	if err != nil {
		return nil, err
	}
	aead, err := sm.NewAEAD(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, magic...)
	hdr = binary.BigEndian.AppendUint32(hdr, ChunkSize)
	hdr = append(hdr, prefix...)
	hdr = append(hdr, wrapped...)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	return &Writer{
		w: w, aead: aead, docID: docID, prefix: prefix,
		buf: make([]byte, 0, ChunkSize), out: make([]byte, 0, ChunkSize+sm.TagSize), digest: sm.NewHash(),
	}, nil
}

func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("docseal: write after close")
	}
	written := 0
	for len(p) > 0 {
		k := copy(w.buf[len(w.buf):ChunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		written += k
		if len(w.buf) == ChunkSize && len(p) > 0 {
			// A full chunk is sealed only once more data follows, so the
			// last chunk always carries the final flag.
			if err := w.flush(false); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (w *Writer) flush(final bool) error {
	w.digest.Write(w.buf)
	w.size += int64(len(w.buf))
	w.out = w.aead.Seal(w.out[:0], nonce(w.prefix, w.n), w.buf, chunkAAD(w.docID, w.n, final))
	w.n++
	w.buf = w.buf[:0]
	_, err := w.w.Write(w.out)
	return err
}

// Close seals the final chunk.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.flush(true)
}

// Size returns the plaintext size written so far.
func (w *Writer) Size() int64 { return w.size }

// Digest returns the SM3 digest of the plaintext; valid after Close.
func (w *Writer) Digest() [sm.HashSize]byte {
	var d [sm.HashSize]byte
	copy(d[:], w.digest.Sum(nil))
	return d
}

// Reader opens a sealed document as it is read.
type Reader struct {
	r      *bufio.Reader
	aead   cipher.AEAD
	docID  string
	prefix []byte
	want   [sm.HashSize]byte
	digest hash.Hash
	in     []byte
	plain  []byte
	n      uint64
	done   bool
	err    error
}

// NewReader reads the header of document docID from r; reads fail with
// ErrCorrupt unless every chunk opens and the plaintext's SM3 digest is want.
func NewReader(r io.Reader, keys Wrapper, docID string, want [sm.HashSize]byte) (*Reader, error) {
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: short header", ErrCorrupt)
	}
	if !bytes.Equal(hdr[:len(magic)], []byte(magic)) || binary.BigEndian.Uint32(hdr[len(magic):]) != ChunkSize {
		return nil, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	prefix := hdr[len(magic)+4 : len(magic)+4+prefixSize]
	key, err := keys.Open(keyAAD(docID), hdr[len(magic)+4+prefixSize:])
	if err != nil {
		return nil, fmt.Errorf("%w: document key: %v", ErrCorrupt, err)
	}
	aead, err := sm.NewAEAD(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	return &Reader{
		r: bufio.NewReaderSize(r, 32<<10), aead: aead, docID: docID, prefix: prefix, want: want, digest: sm.NewHash(),
		in: make([]byte, ChunkSize+sm.TagSize),
	}, nil
}

func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.next()
	}
	k := copy(p, r.plain)
	r.plain = r.plain[k:]
	return k, nil
}

// next opens one chunk; a chunk is the last when nothing follows it.
func (r *Reader) next() error {
	n, err := io.ReadFull(r.r, r.in)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return err
	}
	final := n < len(r.in)
	if !final {
		if _, perr := r.r.Peek(1); perr == io.EOF {
			final = true
		} else if perr != nil {
			return perr
		}
	}
	pt, oerr := r.aead.Open(r.in[:0:0], nonce(r.prefix, r.n), r.in[:n], chunkAAD(r.docID, r.n, final))
	if oerr != nil {
		return fmt.Errorf("%w: chunk %d", ErrCorrupt, r.n)
	}
	r.n++
	r.digest.Write(pt)
	r.plain = pt
	if final {
		r.done = true
		if !sm.Equal(r.digest.Sum(nil), r.want[:]) {
			r.plain = nil
			return fmt.Errorf("%w: SM3 digest mismatch", ErrCorrupt)
		}
	}
	return nil
}
