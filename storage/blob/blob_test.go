package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"cxt/crypto/docseal"
	"cxt/crypto/keyring"
	"cxt/storage/blob"
	"cxt/storage/blob/miniotest"
)

func keys(t testing.TB) *keyring.Keyring {
	k, err := keyring.New(keyring.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	k.Install(1, keyring.NewSecret())
	return k
}

type backendCase struct {
	name    string
	backend blob.Backend
	dataDir string
}

func backends(t *testing.T) []backendCase {
	dirRoot := t.TempDir()
	dir, err := blob.NewDir(dirRoot)
	if err != nil {
		t.Fatal(err)
	}
	srv := miniotest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := blob.NewMinIO(ctx, srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	return []backendCase{{"dir", dir, dirRoot}, {"minio", m, srv.DataDir}}
}

func TestDocumentsRoundTripSealedInEveryBackend(t *testing.T) {
	ctx := context.Background()
	marker := []byte("CANARY-营业执照-91350100M000100Y43")
	doc := bytes.Repeat(marker, 40_000) // ~1.6 MB, many chunks
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := blob.New(b.backend, keys(t))
			info, err := s.Put(ctx, "licence-1", bytes.NewReader(doc), int64(len(doc)))
			if err != nil {
				t.Fatal(err)
			}
			rc, err := s.Get(ctx, "licence-1", info.SM3)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, doc) {
				t.Fatalf("read back %d bytes, %v", len(got), err)
			}
			if hits := scan(b.dataDir, marker); len(hits) > 0 {
				t.Fatalf("plaintext found in %v", hits)
			}
			if err := s.Delete(ctx, "licence-1"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "licence-1", info.SM3); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("deleted document: %v", err)
			}
		})
	}
}

func TestAFlippedByteOnDiskIsAnErrorNotWrongData(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir, _ := blob.NewDir(root)
	s := blob.New(dir, keys(t))
	doc := bytes.Repeat([]byte("合同正文 "), 50_000)
	info, err := s.Put(ctx, "contract", bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "contract")
	raw, _ := os.ReadFile(path)
	raw[len(raw)/2] ^= 1
	os.WriteFile(path, raw, 0o600)
	rc, err := s.Get(ctx, "contract", info.SM3)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, docseal.ErrCorrupt) {
		t.Fatalf("flipped byte: %v", err)
	}
}

func TestAShortOrLongDocumentIsRefusedAndLeavesNothing(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := blob.New(b.backend, keys(t))
			if _, err := s.Put(ctx, "short", strings.NewReader("abc"), 10); err == nil {
				t.Fatal("a document shorter than announced was accepted")
			}
			if _, err := s.Put(ctx, "long", strings.NewReader(strings.Repeat("x", 100)), 10); err == nil {
				t.Fatal("a document longer than announced was accepted")
			}
			for _, id := range []string{"short", "long"} {
				if _, err := b.backend.Get(ctx, id); !errors.Is(err, blob.ErrNotFound) {
					t.Fatalf("%s: a failed put left an object (%v)", id, err)
				}
			}
			if _, err := s.Put(ctx, "../escape", strings.NewReader("x"), 1); err == nil {
				t.Fatal("a path-like ID was accepted")
			}
		})
	}
}

// A 1 GiB document streams through sealing into MinIO and back without
// being held in memory.
func TestLargeDocumentsStreamInBoundedMemory(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	m, err := blob.NewMinIO(ctx, srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	s := blob.New(m, keys(t))
	const size = 1 << 30
	src := io.LimitReader(rand.Reader, size)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	info, err := s.Put(ctx, "big", src, size)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, "big", info.SM3)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n != size {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if peak := after.HeapSys; peak > 256<<20 {
		t.Fatalf("heap grew to %d MiB for a 1 GiB document", peak>>20)
	}
}

func scan(root string, marker []byte) []string {
	var hits []string
	filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, marker) {
				hits = append(hits, path)
			}
		}
		return nil
	})
	return hits
}
