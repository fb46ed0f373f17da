package identity

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// HeadMessage is what a signed audit head signs:
// "cxt-audit-head-v1" || size (8 bytes) || root (32) || time (8, Unix ns).
func HeadMessage(size uint64, root auditlog.Hash, at time.Time) []byte {
	msg := append([]byte("cxt-audit-head-v1"), binary.BigEndian.AppendUint64(nil, size)...)
	msg = append(msg, root[:]...)
	return binary.BigEndian.AppendUint64(msg, uint64(at.UnixNano()))
}

// auditHead returns the log's size and root signed with the node's SM2 key.
// An auditor keeps signed heads; a later head that is not consistent with
// one of them (see auditProof) proves the log was rewritten or truncated.
func (b *Backend) auditHead(r *api.Request) (int, any, error) {
	var head auditlog.Head
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		head, err = auditlog.CurrentHead(tx)
		return err
	}); err != nil {
		return 0, nil, err
	}
	at := r.Now().UTC()
	sig, cert, err := b.Sign(HeadMessage(head.Size, head.Root, at))
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{
		"size": head.Size, "root": head.Root, "time": at,
		"signature": base64.StdEncoding.EncodeToString(sig), "signer_certificate": string(cert),
		"signed_message": "\"cxt-audit-head-v1\" || size u64 || root 32 || time u64 ns, SM2 with SM3 and the default ID",
	}, nil
}

// auditProof proves that the log of size `from` is a prefix of the current
// log (?from=M), or that entry `entry` is in it (?entry=N, 1-based).
func (b *Backend) auditProof(r *api.Request) (int, any, error) {
	q := r.HTTP.URL.Query()
	var leaves []auditlog.Hash
	var head auditlog.Head
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		if head, err = auditlog.CurrentHead(tx); err != nil {
			return err
		}
		leaves, err = auditlog.Leaves(tx, head.Size)
		return err
	}); err != nil {
		return 0, nil, err
	}
	n := len(leaves)
	if v := q.Get("entry"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 1 || i > n {
			return 0, nil, errs.E("audit proof", errs.Invalid, "entry must be 1..%d", n)
		}
		return 200, map[string]any{
			"size": n, "root": head.Root, "entry": i, "leaf": leaves[i-1],
			"inclusion": auditlog.InclusionProof(leaves, i-1),
		}, nil
	}
	m, err := strconv.Atoi(q.Get("from"))
	if err != nil || m < 1 || m > n {
		return 0, nil, errs.E("audit proof", errs.Invalid, "give from=1..%d (a size you hold a signed head for) or entry=", n)
	}
	return 200, map[string]any{
		"from": m, "size": n, "old_root": auditlog.Root(leaves[:m]), "root": head.Root,
		"consistency": auditlog.ConsistencyProof(leaves, m),
	}, nil
}

// exportAudit hands an audit administrator a page of the entries matching
// a query (the filters and cursor of GET /api/v1/audit) with the signed
// head of the log, as an important operation.
func (b *Backend) exportAudit(r *api.Request) (*api.Op, error) {
	var in struct {
		auditQuery
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(in.Reason)) < 5 {
		return nil, errs.E("export audit", errs.Invalid, "a reason of at least 5 characters is required")
	}
	search, err := in.check(r, "export audit", exportMaxLimit, exportMaxLimit)
	if err != nil {
		return nil, err
	}
	r.Audit.Reason = in.Reason
	page, head, err := search.run(r)
	if err != nil {
		return nil, err
	}
	at := r.Now().UTC()
	sig, cert, err := b.Sign(HeadMessage(head.Size, head.Root, at))
	if err != nil {
		return nil, err
	}
	resp := search.answer(page)
	resp["head"] = map[string]any{
		"size": head.Size, "root": head.Root, "time": at,
		"signature": base64.StdEncoding.EncodeToString(sig), "signer_certificate": string(cert),
	}
	if page.Truncated {
		resp["next"] = "more entries match: export again with the same filters, \"cursor\": next_cursor and a new Idempotency-Key"
	}
	return &api.Op{
		// The impact names the query, not the count: every request adds
		// entries, and the confirm must see the same preview.
		Impact:  map[string]any{"query": in, "limit": search.q.Limit},
		Risks:   []string{"the export leaves the appliance: keep it as confidential as the log"},
		Command: auditlog.RecordCommand(auditlog.Context{Event: "audit.export"}, r.Now()),
		Status:  200, Secrets: []string{"entries"}, // handed out once: a replay withholds them
		// The page, the cursor that continues it, and the signed head.
		Response: resp,
	}, nil
}
