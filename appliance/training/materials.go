package training

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	"cxt/appliance/documents"
	"cxt/appliance/errs"
	"cxt/crypto/sm"
	"cxt/storage/blob"
)

// MP4 is the content type of a video material.
const MP4 = "video/mp4"

// MaxMaterial bounds a material: a document or a short video.
const MaxMaterial = 64 << 20

// Sniff returns the content type of a material from its bytes — what
// appliance/documents accepts (PDF, JPEG, PNG, OFD) or an ISO base media
// file (MP4: an ftyp box first) — or "".
func Sniff(b []byte) string {
	if t := documents.Sniff(b); t != "" {
		return t
	}
	if len(b) >= 12 && string(b[4:8]) == "ftyp" && bytes.IndexFunc(b[8:12], func(r rune) bool { return r < 0x20 || r > 0x7e }) < 0 {
		return MP4
	}
	return ""
}

// extension is the file extension of a material's type.
func extension(typ string) string {
	if typ == MP4 {
		return ".mp4"
	}
	return documents.Extension(typ)
}

// received reads an uploaded material, the whole body: at most
// MaxMaterial bytes, not empty, of a type read from its content.
func received(body io.Reader, op string) ([]byte, string, error) {
	b, err := io.ReadAll(io.LimitReader(body, MaxMaterial+1))
	if err != nil || len(b) > MaxMaterial {
		return nil, "", errs.Coded(op, errs.TooLarge, "too_large", "a material is at most %d bytes", MaxMaterial)
	}
	if len(b) == 0 {
		return nil, "", errs.E(op, errs.Invalid, "the body is the material, and it is empty")
	}
	typ := Sniff(b)
	if typ == "" {
		return nil, "", errs.Coded(op, errs.Unsupported, "unsupported_document", "a material is a PDF, JPEG, PNG, OFD or MP4 file, read from its content")
	}
	return b, typ, nil
}

// store seals a material with the keyring into the blob store under a
// fresh ID.
func store(ctx context.Context, s *blob.Store, body []byte, op string) (string, blob.Info, error) {
	if s == nil {
		return "", blob.Info{}, errs.E(op, errs.Unavailable, "the document store is not open yet")
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	id := "course-" + hex.EncodeToString(rnd[:])
	info, err := s.Put(ctx, id, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return "", blob.Info{}, errs.Wrap(op, errs.Unavailable, err, "the material could not be stored")
	}
	return id, info, nil
}

// load reads a material back whole, after its SM3 is checked.
func load(ctx context.Context, s *blob.Store, m *Material, op string) ([]byte, error) {
	var want [sm.HashSize]byte
	if raw, err := hex.DecodeString(m.SM3); err != nil || len(raw) != sm.HashSize {
		return nil, fmt.Errorf("training: material %s: bad digest on record", m.ID)
	} else {
		copy(want[:], raw)
	}
	if s == nil {
		return nil, errs.E(op, errs.Unavailable, "the document store is not open yet")
	}
	rc, err := s.Get(ctx, m.ID, want)
	if err != nil {
		return nil, errs.Wrap(op, errs.Unavailable, err, "material %s could not be read", m.ID)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, MaxMaterial+1))
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "material %s failed its integrity check", m.ID)
	}
	return body, nil
}
