package queries

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"cxt/appliance/agreements"
	"cxt/appliance/errs"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/appliance/tasks"
	"cxt/crypto/docseal"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// Of says whose documents a Document request names.
type Of string

// The subjects whose documents a bureau asks for.
const (
	OfWorker   Of = "worker"
	OfMerchant Of = "merchant"
)

// Scheme names the envelope's construction (sm.Envelope); a change of it
// is a new name.
const Scheme = "cxt-envelope/1"

// MaxDocument bounds what a document answer reads into memory.
const MaxDocument = 64 << 20

// SealedDocument is a document sealed to a bureau's SM2 key. Its byte
// fields are base64 in JSON; docs/gateway.md §9 opens them with
// OpenSSL.
type SealedDocument struct {
	Ref    string `json:"ref"`
	Kind   string `json:"kind"`
	Type   string `json:"type"` // content type
	Size   int64  `json:"size"`
	SM3    string `json:"sm3"` // hex, of the document
	Scheme string `json:"scheme"`
	// Key is the SM2 encryption (SM3, DER C1C3C2) of the 32-byte secret:
	// the SM4 key, then the HMAC-SM3 key.
	Key []byte `json:"key"`
	// IV and Ciphertext: the document under SM4-CBC, PKCS#7 padded.
	IV         []byte `json:"iv"`
	Ciphertext []byte `json:"ciphertext"`
	// MAC is HMAC-SM3 of IV ‖ Ciphertext.
	MAC []byte `json:"mac"`
}

// Viewer runs a function in a read transaction, as state.State.View and
// api.Request.View do.
type Viewer func(func(*state.ReadTx) error) error

// located is a document found for a bureau: where it is and under which
// key (nil: the platform's document key).
type located struct {
	ref   DocumentRef
	id    string
	under docseal.Wrapper
}

// Document answers one document of a worker or merchant the bureau may see
// — a tripartite agreement's PDF or evidence package, a merchant's
// qualification document or cooperation agreement, a work's completion
// proof — sealed to the bureau's key to. The subject is found as Worker and
// Merchant find it (the same refusals); a document the subject does not
// have within the bureau's scope, another subject's included, is
// CodeDocumentNotFound. The document is read whole and checked against its
// recorded SM3 before it is sealed.
func Document(ctx context.Context, viewer Viewer, keys *keyring.Keyring, store *blob.Store, scope Scope, of Of, by Identifier, ref string, to *sm.PublicKey) (*SealedDocument, error) {
	const op = "gateway document query"
	parts, err := parseRef(op, ref)
	if err != nil {
		return nil, err
	}
	if of != OfWorker && of != OfMerchant {
		return nil, errs.E(op, errs.Invalid, "documents are asked of a worker or a merchant")
	}
	if to == nil {
		return nil, errs.E(op, errs.Invalid, "a document is sealed to the bureau's SM2 key, and none was given")
	}
	var loc *located
	err = viewer(func(r *state.ReadTx) error {
		var subject string
		var v *view
		if of == OfWorker {
			w, wv, err := findWorker(op, r, keys, scope, by)
			if err != nil {
				return err
			}
			subject, v = w.ID, wv
		} else {
			m, err := findMerchant(op, r, keys, scope, by)
			if err != nil {
				return err
			}
			subject, v = m.ID, newView(r, scope)
		}
		loc, err = locate(r, keys, v, of, subject, parts)
		if err == nil && loc == nil {
			err = errs.Coded(op, errs.NotExist, CodeDocumentNotFound, "this %s has no document %s within your scope", of, ref)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	body, err := read(ctx, op, store, loc)
	if err != nil {
		return nil, err
	}
	defer clear(body)
	e, err := sm.SealFor(to, body)
	if err != nil {
		return nil, err
	}
	d := loc.ref
	return &SealedDocument{Ref: d.Ref, Kind: d.Kind, Type: d.Type, Size: int64(len(body)), SM3: d.SM3, Scheme: Scheme,
		Key: e.Key, IV: e.IV, Ciphertext: e.Ciphertext, MAC: e.MAC}, nil
}

// parseRef splits a document reference into its kind and IDs.
func parseRef(op, ref string) ([]string, error) {
	parts := strings.Split(ref, ":")
	bad := slices.ContainsFunc(parts, func(p string) bool { return p == "" || strings.ContainsAny(p, " /\\\t\n\x00") })
	switch {
	case bad:
	case parts[0] == "agreement" && len(parts) == 3 && (parts[2] == "pdf" || parts[2] == "evidence"),
		parts[0] == "merchant" && len(parts) == 3,
		parts[0] == "proof" && len(parts) == 4:
		return parts, nil
	}
	return nil, errs.Coded(op, errs.Invalid, CodeDocumentRef,
		"a document is agreement:<id>:pdf, agreement:<id>:evidence, merchant:<merchant>:<document> or proof:<task>:<worker>:<document>, as an answer names it")
}

// locate finds the document parts names among subject's within the
// bureau's view; nil if there is none such.
func locate(r *state.ReadTx, keys *keyring.Keyring, v *view, of Of, subject string, parts []string) (*located, error) {
	ref := strings.Join(parts, ":")
	switch parts[0] {
	case "agreement":
		a, err := agreements.Get(r, parts[1])
		if state.NotFound.Is(err) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		if of == OfWorker && a.Worker != subject || of == OfMerchant && a.Merchant != subject {
			return nil, nil
		}
		if ok, err := v.sees(a.Merchant); err != nil || !ok {
			return nil, err
		}
		for _, d := range agreementOf(a).Documents {
			if d.Ref == ref {
				id := a.PDF.ID
				if parts[2] == "evidence" {
					id = a.Evidence.ID
				}
				return &located{ref: d, id: id}, nil
			}
		}
		return nil, nil
	case "merchant":
		if of != OfMerchant || parts[1] != subject {
			return nil, nil
		}
		m, err := v.merchant(subject)
		if err != nil || m == nil {
			return nil, err
		}
		i := slices.IndexFunc(m.Documents, func(d merchants.DocRef) bool { return d.ID == parts[2] })
		if i < 0 {
			return nil, nil
		}
		d := m.Documents[i]
		key, err := subjects.Key(r, keys, m.ID)
		if err != nil {
			return nil, err
		}
		return &located{ref: DocumentRef{Ref: ref, Kind: d.Kind, Type: d.Type, Size: d.Size, SM3: d.SM3}, id: d.ID, under: key}, nil
	case "proof":
		w, err := tasks.GetWork(r, parts[1], parts[2])
		if state.NotFound.Is(err) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		if of == OfWorker && w.Worker != subject || of == OfMerchant && w.Merchant != subject {
			return nil, nil
		}
		if ok, err := v.sees(w.Merchant); err != nil || !ok {
			return nil, err
		}
		i := slices.IndexFunc(w.Proof, func(d tasks.ProofRef) bool { return d.ID == parts[3] })
		if i < 0 {
			return nil, nil
		}
		key, err := subjects.Key(r, keys, w.Merchant) // proof is kept under the merchant's key
		if err != nil {
			return nil, err
		}
		return &located{ref: workOf(w).Proof[i], id: w.Proof[i].ID, under: key}, nil
	}
	return nil, nil
}

// read reads a located document whole; the store checks it against its
// SM3 as it reads, and so does this, before anything is sealed.
func read(ctx context.Context, op string, store *blob.Store, loc *located) ([]byte, error) {
	if store == nil {
		return nil, errs.E(op, errs.Unavailable, "the document store is not open yet")
	}
	var want [sm.HashSize]byte
	if raw, err := hex.DecodeString(loc.ref.SM3); err != nil || len(raw) != sm.HashSize {
		return nil, errs.E(op, errs.Internal, "document %s has a bad digest on record", loc.id)
	} else {
		copy(want[:], raw)
	}
	s := store
	if loc.under != nil {
		s = store.Under(loc.under)
	}
	rc, err := s.Get(ctx, loc.id, want)
	if err != nil {
		return nil, errs.Wrap(op, errs.Unavailable, err, "document %s could not be read", loc.id)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, MaxDocument+1))
	if err == nil && len(body) > MaxDocument {
		err = fmt.Errorf("larger than %d bytes", MaxDocument)
	}
	if err == nil && sm.Sum(body) != want {
		err = errors.New("SM3 differs from the record's")
	}
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "document %s failed its integrity check", loc.id)
	}
	return body, nil
}
