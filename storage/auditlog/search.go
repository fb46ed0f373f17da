package auditlog

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"cxt/storage/state"
)

// Query selects entries; zero fields match everything.
type Query struct {
	From, To time.Time
	Subject  string
	// Subjects and Objects select one person's entries: those whose
	// subject is any of Subjects or whose object is any of Objects. A
	// search by username asks for what the account did, for its failed
	// logins (recorded under the name's blind index) and for what was done
	// to it (its lock, its roles).
	Subjects []string
	Objects  []string
	Type     string
	Result   string
	Limit    int
	// Hide withholds every entry whose subject or object is one of these:
	// an audit administrator never reads its own trail — what it did, what
	// was done to its account, its logins under its name's blind index
	// (docs/security.md).
	Hide []string
	// Newest reads from the end of the log backwards.
	Newest bool
	// After continues a previous page: only entries past this sequence
	// number in the query's direction are read (0: from the start).
	After uint64
	// Scan bounds the entries one page examines (0: no bound), so that a
	// rare match in a long log costs a bounded read per page rather than
	// one read of the whole log.
	Scan int
}

// Page is one page of a search.
type Page struct {
	Entries []Entry
	// Truncated says that more entries may match past this page; After is
	// then where the next page continues.
	Truncated bool
	After     uint64
}

func (q *Query) matches(e *Entry) bool {
	return (q.From.IsZero() || !e.Time.Before(q.From)) && (q.To.IsZero() || e.Time.Before(q.To)) &&
		(q.Subject == "" || e.Subject == q.Subject) &&
		((len(q.Subjects) == 0 && len(q.Objects) == 0) || slices.Contains(q.Subjects, e.Subject) || slices.Contains(q.Objects, e.Object)) &&
		(q.Type == "" || e.Type == q.Type) && (q.Result == "" || e.Result == q.Result) &&
		!slices.Contains(q.Hide, e.Subject) && !hidesObject(q.Hide, e.Object)
}

// SearchPage returns the next page of entries matching q, reading the log
// with a cursor from q.After in q's direction: a page costs what it reads,
// never the whole log before it.
func SearchPage(r *state.ReadTx, q Query) (Page, error) {
	var page Page
	var start []byte
	switch {
	case q.After > 0 && q.Newest:
		if q.After == 1 {
			return page, nil // nothing precedes the first entry
		}
		start = seqKey(q.After - 1)
	case q.After > 0:
		start = seqKey(q.After + 1)
	}
	examined := 0
	err := r.Seek(EntriesBucket, start, q.Newest, func(k, v []byte) (bool, error) {
		if len(k) != 8 {
			return true, nil
		}
		if q.Scan > 0 && examined == q.Scan {
			page.Truncated = true // page.After is the last entry examined
			return false, nil
		}
		examined++
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return false, err
		}
		if !q.matches(&e) {
			page.After = binary.BigEndian.Uint64(k)
			return true, nil
		}
		if q.Limit > 0 && len(page.Entries) == q.Limit {
			// One more match exists: the page is full and truncated.
			page.Truncated, page.After = true, page.Entries[len(page.Entries)-1].Seq
			return false, nil
		}
		page.Entries = append(page.Entries, e)
		page.After = e.Seq
		return true, nil
	})
	if !page.Truncated {
		page.After = 0
	}
	return page, err
}

// Search returns the entries matching q, oldest first (newest first with
// q.Newest), at most q.Limit of them.
func Search(r *state.ReadTx, q Query) ([]Entry, error) {
	q.Scan, q.After = 0, 0
	page, err := SearchPage(r, q)
	return page.Entries, err
}

// hidesObject reports whether an entry's object is one of hide, or starts
// with one of them and a space ("acct-x account.password_changed email",
// a notification's delivery to it).
func hidesObject(hide []string, object string) bool {
	if object == "" {
		return false
	}
	for _, h := range hide {
		if object == h || strings.HasPrefix(object, h+" ") {
			return true
		}
	}
	return false
}
