package docseal

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

func ring(t testing.TB) *keyring.Keyring {
	k, err := keyring.New(keyring.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	k.Install(1, keyring.NewSecret())
	return k
}

func seal(t testing.TB, k *keyring.Keyring, id string, data []byte) ([]byte, [sm.HashSize]byte) {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, Keyring(k), id)
	if err != nil {
		t.Fatal(err)
	}
	// Write in odd pieces to cross chunk boundaries.
	for p := data; len(p) > 0; {
		n := min(len(p), 1+rand.IntN(100_000))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(len(data)) || int64(out.Len()) != SealedSize(int64(len(data))) {
		t.Fatalf("size %d sealed %d, want %d", w.Size(), out.Len(), SealedSize(int64(len(data))))
	}
	return out.Bytes(), w.Digest()
}

func open(k *keyring.Keyring, id string, sealed []byte, want [sm.HashSize]byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(sealed), Keyring(k), id, want)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestDocumentsRoundTripAtEverySizeAroundChunkBoundaries(t *testing.T) {
	k := ring(t)
	for _, size := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize, 3*ChunkSize + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		sealed, digest := seal(t, k, "doc-1", data)
		if digest != sm.Sum(data) {
			t.Fatalf("size %d: digest is not SM3 of the plaintext", size)
		}
		got, err := open(k, "doc-1", sealed, digest)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("size %d: %v", size, err)
		}
	}
}

func TestEveryKindOfDamageIsAnError(t *testing.T) {
	k := ring(t)
	data := bytes.Repeat([]byte("营业执照 "), 3*ChunkSize/10)
	sealed, digest := seal(t, k, "doc-1", data)
	chunk := ChunkSize + sm.TagSize
	cases := map[string][]byte{
		"a flipped byte":            flip(sealed, headerSize+chunk+5),
		"a flipped header byte":     flip(sealed, 10),
		"truncated at a chunk edge": sealed[:headerSize+2*chunk],
		"truncated mid-chunk":       sealed[:len(sealed)-3],
		"two chunks swapped":        swap(sealed, headerSize, headerSize+chunk, chunk),
		"a chunk dropped":           append(bytes.Clone(sealed[:headerSize]), sealed[headerSize+chunk:]...),
	}
	for name, bad := range cases {
		if _, err := open(k, "doc-1", bad, digest); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := open(k, "doc-2", sealed, digest); !errors.Is(err, ErrCorrupt) {
		t.Error("a document opened under another document's ID")
	}
	var wrong [sm.HashSize]byte
	if _, err := open(k, "doc-1", sealed, wrong); !errors.Is(err, ErrCorrupt) {
		t.Error("a wrong expected digest went unnoticed")
	}
}

func TestNoPlaintextInTheSealedDocument(t *testing.T) {
	k := ring(t)
	marker := []byte("CANARY-身份证-110101199003074514")
	sealed, _ := seal(t, k, "doc", bytes.Repeat(marker, 10000))
	if bytes.Contains(sealed, marker) {
		t.Fatal("plaintext visible")
	}
}

func flip(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 0x20; return c }

func swap(b []byte, i, j, n int) []byte {
	c := bytes.Clone(b)
	copy(c[i:i+n], b[j:j+n])
	copy(c[j:j+n], b[i:i+n])
	return c
}

func BenchmarkSeal(b *testing.B) {
	k := ring(b)
	data := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		w, _ := NewWriter(io.Discard, Keyring(k), "doc")
		w.Write(data)
		w.Close()
	}
}
