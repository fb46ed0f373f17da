// Package signedreq is the appliance's side of SM2-signed requests
// (crypto/sm/reqsig), shared by every kind of machine client — merchants'
// systems (appliance/clients) and tax bureaus (gateway/bureaus): reading a
// signed request's body and headers inside the API pipeline, and taking each
// nonce once on every node of the cluster.
//
// A nonce is recorded by a replicated command before its request is served,
// and kept until its timestamp could no longer pass on any node (TTL): a
// replay is refused whichever node it goes to, and of two racing requests
// with one nonce the second in the log is refused. Each client kind keeps
// its nonces in its own bucket, under its own command type, and checks in
// that command that its client may still sign (Record takes the check).
package signedreq

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/crypto/sm/reqsig"
	"cxt/storage/state"
)

// CodeReplayed refuses a nonce its client used already.
var CodeReplayed = state.NewCode(state.KindUnauthenticated, "request_replayed")

// TTL is how long after its timestamp a nonce is kept: the window and as
// much again for clocks that disagree between nodes.
const TTL = 2 * reqsig.Window

// Read reads r's body (bounded by the route), puts it back for the handler,
// and parses the signature headers over it. Malformed headers are a
// reqsig.ErrMalformed, for the caller to answer in its own terms; a body
// that cannot be read is an errs error.
func Read(r *api.Request) (*reqsig.Signed, []byte, error) {
	const op = "authenticate client"
	body, err := io.ReadAll(r.HTTP.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, nil, errs.E(op, errs.TooLarge, "the body exceeds %d bytes", tooBig.Limit)
	case err != nil:
		return nil, nil, errs.E(op, errs.Invalid, "the body could not be read: %v", err)
	}
	r.HTTP.Body = io.NopCloser(bytes.NewReader(body))
	signed, err := reqsig.Parse(r.HTTP, body)
	return signed, body, err
}

// Nonce is the body of a nonce command: a verified request's nonce, kept
// until Expires.
type Nonce struct {
	Client  string    `json:"client"`
	Nonce   string    `json:"nonce"`
	Expires time.Time `json:"expires"`
}

// For is the nonce of a verified request of client.
func For(client string, s *reqsig.Signed) Nonce {
	return Nonce{Client: client, Nonce: s.Nonce, Expires: s.Time.Add(TTL)}
}

// Key is a nonce's key in its bucket.
func Key(client, nonce string) []byte { return []byte(client + "\x00" + nonce) }

// Record takes n once in bucket, inside the nonce command being applied:
// a second request with it is refused (CodeReplayed), whichever node it
// came to. The caller has checked that its client may still sign.
func Record(tx *state.Tx, bucket string, n Nonce) error {
	if n.Client == "" || n.Nonce == "" || n.Expires.IsZero() {
		return state.Reject(state.InvalidRequest, "a nonce names its client, itself and when it expires")
	}
	k := Key(n.Client, n.Nonce)
	if prev, err := tx.Get(bucket, k); err != nil {
		return err
	} else if prev != nil {
		return state.Reject(CodeReplayed, "this nonce was used already: a signed request is taken once; sign each request with a new nonce")
	}
	return tx.Put(bucket, k, binary.BigEndian.AppendUint64(nil, uint64(n.Expires.UnixNano())))
}

// Expire is the sweep of a nonce bucket (state.Registry.Expire): a nonce
// goes once its expiry has passed.
func Expire(bucket string) state.Expirer {
	return func(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
		if len(v) == 8 && now.UnixNano() < int64(binary.BigEndian.Uint64(v)) {
			return false, nil
		}
		return true, tx.Delete(bucket, k)
	}
}
