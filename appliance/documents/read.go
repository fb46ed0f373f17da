package documents

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	"cxt/appliance/errs"
	"cxt/crypto/docseal"
	"cxt/crypto/sm"
	"cxt/storage/blob"
)

// Read answers a document the store keeps under key, whole, after its SM3
// digest (hex, as the records keep it) is checked: nothing is answered from
// a document that fails the check. store is nil while the node is sealed;
// op names the request in refusals.
func Read(ctx context.Context, store *blob.Store, key docseal.Wrapper, id, sm3hex, op string) ([]byte, error) {
	var want [sm.HashSize]byte
	if raw, err := hex.DecodeString(sm3hex); err != nil || len(raw) != sm.HashSize {
		return nil, fmt.Errorf("documents: document %s: bad digest on record", id)
	} else {
		copy(want[:], raw)
	}
	if store == nil {
		return nil, errs.E(op, errs.Unavailable, "the document store is not open yet")
	}
	rc, err := store.Under(key).Get(ctx, id, want)
	if err != nil {
		return nil, errs.Wrap(op, errs.Unavailable, err, "document %s could not be read", id)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, MaxSize+1))
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "document %s failed its integrity check", id)
	}
	return body, nil
}

// Received reads an uploaded document, the whole request body: at most
// MaxSize bytes, not empty, and of a type read from its content (Sniff).
func Received(body io.Reader, op string) ([]byte, string, error) {
	b, err := io.ReadAll(body)
	if err != nil || len(b) > MaxSize {
		return nil, "", errs.Coded(op, errs.TooLarge, "too_large", "a document is at most %d bytes", MaxSize)
	}
	if len(b) == 0 {
		return nil, "", errs.E(op, errs.Invalid, "the body is the document, and it is empty")
	}
	typ := Sniff(b)
	if typ == "" {
		return nil, "", errs.Coded(op, errs.Unsupported, "unsupported_document", "a document is a PDF, JPEG, PNG or OFD file, read from its content")
	}
	return b, typ, nil
}

// Write seals a document under key into the store, under a fresh ID that
// starts with prefix, and returns the ID and what the store recorded.
func Write(ctx context.Context, store *blob.Store, key docseal.Wrapper, prefix string, body []byte, op string) (string, blob.Info, error) {
	if store == nil {
		return "", blob.Info{}, errs.E(op, errs.Unavailable, "the document store is not open yet")
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	id := prefix + hex.EncodeToString(rnd[:])
	info, err := store.Under(key).Put(ctx, id, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return "", blob.Info{}, errs.Wrap(op, errs.Unavailable, err, "the document could not be stored")
	}
	return id, info, nil
}
