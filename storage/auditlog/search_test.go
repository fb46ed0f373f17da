package auditlog

import (
	"fmt"
	"testing"
	"time"

	"cxt/storage/state"
)

func (l *log) page(q Query) Page {
	l.t.Helper()
	var p Page
	if err := l.st.View(func(r *state.ReadTx) error {
		var err error
		p, err = SearchPage(r, q)
		return err
	}); err != nil {
		l.t.Fatal(err)
	}
	return p
}

func seqs(p Page) string {
	out := ""
	for _, e := range p.Entries {
		out += fmt.Sprint(e.Seq, " ")
	}
	return out
}

func TestPagesReadNewestFirstAndContinueWhereTheyStopped(t *testing.T) {
	l := newLog(t) // entry 1 installs the key term
	for i := range 10 {
		l.apply(put([]string{"alice", "bob"}[i%2], fmt.Sprint("k", i))) // alice at 2, 4, …, 10; bob at 3, 5, …, 11
	}
	q := Query{Subject: "alice", Limit: 2, Newest: true}
	var got []string
	for {
		p := l.page(q)
		got = append(got, seqs(p))
		if !p.Truncated {
			if p.After != 0 {
				t.Fatalf("an untruncated page continues after %d", p.After)
			}
			break
		}
		q.After = p.After
	}
	if fmt.Sprint(got) != "[10 8  6 4  2 ]" {
		t.Fatalf("newest-first pages: %v", got)
	}
	q = Query{Subject: "bob", Limit: 3}
	p := l.page(q)
	if seqs(p) != "3 5 7 " || !p.Truncated || p.After != 7 {
		t.Fatalf("oldest-first first page: %q %+v", seqs(p), p)
	}
	q.After = p.After
	if p = l.page(q); seqs(p) != "9 11 " || p.Truncated {
		t.Fatalf("oldest-first second page: %q %+v", seqs(p), p)
	}
	// A full page is truncated only when another match exists.
	if p = l.page(Query{Subject: "bob", Limit: 5}); seqs(p) != "3 5 7 9 11 " || p.Truncated {
		t.Fatalf("an exactly full page: %q %+v", seqs(p), p)
	}
	if p = l.page(Query{Newest: true, After: 1}); len(p.Entries) != 0 || p.Truncated {
		t.Fatalf("nothing precedes the first entry: %+v", p)
	}
}

func TestARareMatchCostsABoundedReadPerPage(t *testing.T) {
	l := newLog(t)
	l.apply(put("needle", "n"))
	for i := range 30 {
		l.apply(put("hay", fmt.Sprint("h", i)))
	}
	// 32 entries; the needle is entry 2. Each page examines at most 10.
	q := Query{Subject: "needle", Limit: 5, Newest: true, Scan: 10}
	pages := 0
	var found []Entry
	for {
		p := l.page(q)
		pages++
		found = append(found, p.Entries...)
		if !p.Truncated {
			break
		}
		if p.After >= q.After && q.After != 0 {
			t.Fatalf("page %d did not move on: after %d", pages, p.After)
		}
		q.After = p.After
	}
	if len(found) != 1 || found[0].Seq != 2 || pages != 4 {
		t.Fatalf("found %+v in %d pages, want entry 2 in 4 pages of at most 10", found, pages)
	}
}

func TestSubjectsAndObjectsSelectOnePersonsEntries(t *testing.T) {
	l := newLog(t)
	l.apply(put("acct-1", "a"), put("login:ab", "b"), put("acct-2", "c"))
	l.apply(RecordCommand(Context{Subject: "system", Object: "acct-1", Event: "account.locked"}, time.Now()))
	p := l.page(Query{Subjects: []string{"acct-1", "login:ab"}, Objects: []string{"acct-1"}})
	if seqs(p) != "2 3 5 " {
		t.Fatalf("one person's entries: %q", seqs(p))
	}
}
