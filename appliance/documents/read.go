package documents

import (
	"context"
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
