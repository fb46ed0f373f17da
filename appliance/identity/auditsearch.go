package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/crypto/sm"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// Page sizes of audit searches and exports. An export travels in a
// replicated command (it is remembered under its idempotency key), so it
// is bounded harder than its size alone would ask.
const (
	searchLimit    = 100   // GET /api/v1/audit without limit
	searchMaxLimit = 1_000 // GET /api/v1/audit's largest page
	exportMaxLimit = 2_000 // POST /api/v1/audit/export: its default and largest page
	// auditScan bounds the entries one page examines: a filter that
	// matches rarely answers a short page, truncated, with a cursor, in
	// bounded time instead of reading the whole log in one request.
	auditScan = 20_000
)

// auditQuery is a search as GET /api/v1/audit takes it in its query
// string and POST /api/v1/audit/export in its body.
type auditQuery struct {
	Subject  string `json:"subject,omitempty"`
	Username string `json:"username,omitempty"`
	Type     string `json:"type,omitempty"`
	Result   string `json:"result,omitempty"`
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
	Order    string `json:"order,omitempty"` // desc (newest first, the default) or asc
	Limit    int    `json:"limit,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
}

func auditQueryFrom(v url.Values) (auditQuery, error) {
	q := auditQuery{
		Subject: v.Get("subject"), Username: v.Get("username"), Type: v.Get("type"), Result: v.Get("result"),
		From: v.Get("from"), To: v.Get("to"), Order: v.Get("order"), Cursor: v.Get("cursor"),
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return q, errs.E("search audit", errs.Invalid, "limit must be a whole number from 1")
		}
		q.Limit = n
	}
	return q, nil
}

// auditSearch is a checked query: the log query without the subjects a
// username stands for, which are read with the page.
type auditSearch struct {
	q         auditlog.Query
	nameIndex []byte // of the username searched for, if any
	digest    []byte // binds a cursor to its query
}

// loginSubject is how a login names its user before the account is known
// (see login): a prefix of the username's blind index.
func loginSubject(nameIndex []byte) string { return "login:" + hex.EncodeToString(nameIndex[:8]) }

// ownTrail names the caller's own trail, which its searches never show:
// its account (as subject or object) and its name's login subject.
func ownTrail(r *api.Request) ([]string, error) {
	acct, err := callerAccount(r)
	if err != nil {
		return nil, err
	}
	idx, err := nameIndex(r, acct.Username)
	if err != nil {
		return nil, err
	}
	return []string{acct.ID, loginSubject(idx)}, nil
}

// check validates a query and resolves its cursor; limit is the page
// size when none is asked for, max the largest.
func (in auditQuery) check(r *api.Request, op string, limit, max int) (*auditSearch, error) {
	own, err := ownTrail(r)
	if err != nil {
		return nil, err
	}
	s := &auditSearch{q: auditlog.Query{Subject: in.Subject, Type: in.Type, Result: in.Result, Scan: auditScan, Hide: own}}
	switch in.Order {
	case "", "desc":
		s.q.Newest = true
	case "asc":
	default:
		return nil, errs.E(op, errs.Invalid, "order is desc (newest first, the default) or asc")
	}
	switch {
	case in.Limit == 0:
		s.q.Limit = limit
	case in.Limit < 1 || in.Limit > max:
		return nil, errs.E(op, errs.Invalid, "limit must be 1..%d", max)
	default:
		s.q.Limit = in.Limit
	}
	for name, v := range map[string]struct {
		s   string
		dst *time.Time
	}{"from": {in.From, &s.q.From}, "to": {in.To, &s.q.To}} {
		if v.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v.s)
		if err != nil {
			return nil, errs.E(op, errs.Invalid, "%s must be an RFC 3339 time", name)
		}
		*v.dst = t
	}
	if in.Username != "" {
		if in.Subject != "" {
			return nil, errs.E(op, errs.Invalid, "give subject or username, not both")
		}
		idx, err := nameIndex(r, in.Username)
		if err != nil {
			return nil, err
		}
		s.nameIndex = idx
		s.q.Subjects = []string{loginSubject(idx)}
	}
	// The digest covers what selects entries; the username by its blind
	// index, so that neither it nor the cursor carries the name.
	d := sm.Sum(mustJSON(map[string]any{
		"subject": in.Subject, "name": s.nameIndex, "type": in.Type, "result": in.Result,
		"from": s.q.From, "to": s.q.To, "newest": s.q.Newest,
	}))
	s.digest = d[:8]
	if in.Cursor != "" {
		after, err := openCursor(in.Cursor, s.digest)
		if err != nil {
			return nil, errs.Coded(op, errs.Invalid, "invalid_cursor", "%v", err)
		}
		s.q.After = after
	}
	// The search's own record names what was searched for, the username by
	// its blind index.
	r.Audit.Object = "audit query " + string(mustJSON(map[string]any{
		"subject": in.Subject, "subjects": s.q.Subjects, "type": in.Type, "result": in.Result,
		"from": in.From, "to": in.To, "newest": s.q.Newest, "after": s.q.After, "limit": s.q.Limit,
	}))
	return s, nil
}

// run reads one page and the log's head as of the same read.
func (s *auditSearch) run(r *api.Request) (auditlog.Page, auditlog.Head, error) {
	var page auditlog.Page
	var head auditlog.Head
	err := r.View(func(tx *state.ReadTx) error {
		q := s.q
		if s.nameIndex != nil {
			acct, err := AccountByName(tx, s.nameIndex)
			if err != nil {
				return err
			}
			if acct != nil {
				q.Subjects = append([]string{acct.ID}, q.Subjects...)
				q.Objects = []string{acct.ID}
			}
		}
		var err error
		if page, err = auditlog.SearchPage(tx, q); err != nil {
			return err
		}
		head, err = auditlog.CurrentHead(tx)
		return err
	})
	return page, head, err
}

// answer is a page as both routes return it: entries, and when truncated
// the cursor that continues it.
func (s *auditSearch) answer(page auditlog.Page) map[string]any {
	order := "desc"
	if !s.q.Newest {
		order = "asc"
	}
	out := map[string]any{"entries": page.Entries, "order": order, "limit": s.q.Limit, "truncated": page.Truncated}
	if page.Truncated {
		out["next_cursor"] = sealCursor(page.After, s.digest)
	}
	return out
}

// A cursor is "c1" ‖ the sequence number to continue after (8 bytes) ‖ the
// first 8 bytes of its query's digest, base64url: opaque to clients, and
// refused with another query than the one that made it.
var cursorTag = []byte("c1")

func sealCursor(after uint64, digest []byte) string {
	b := binary.BigEndian.AppendUint64(bytes.Clone(cursorTag), after)
	return base64.RawURLEncoding.EncodeToString(append(b, digest...))
}

func openCursor(c string, digest []byte) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != len(cursorTag)+16 || !bytes.HasPrefix(b, cursorTag) {
		return 0, errors.New("the cursor is not one this API gave out")
	}
	if !bytes.Equal(b[len(cursorTag)+8:], digest) {
		return 0, errors.New("the cursor belongs to another query: send it with the filters and order that returned it")
	}
	return binary.BigEndian.Uint64(b[len(cursorTag):]), nil
}

// searchAudit reads one page of the audit log, newest first unless
// order=asc, with the cursor that continues it when it is truncated.
func (b *Backend) searchAudit(r *api.Request) (int, any, error) {
	in, err := auditQueryFrom(r.HTTP.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	search, err := in.check(r, "search audit", searchLimit, searchMaxLimit)
	if err != nil {
		return 0, nil, err
	}
	page, head, err := search.run(r)
	if err != nil {
		return 0, nil, err
	}
	out := search.answer(page)
	out["size"], out["root"] = head.Size, head.Root
	return 200, out, nil
}
