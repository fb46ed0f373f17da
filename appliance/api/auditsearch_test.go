package api_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"cxt/storage/auditlog"
	"cxt/storage/state"
)

func seqsOf(t *testing.T, r reply) []int {
	t.Helper()
	var out []int
	for _, x := range r.body["entries"].([]any) {
		out = append(out, int(x.(map[string]any)["seq"].(float64)))
	}
	return out
}

// matching returns the sequence numbers of the entries q selects, read
// straight from the state, oldest first.
func (e *env) matching(q auditlog.Query, upTo int) []int {
	e.t.Helper()
	c := e.n.Cluster()
	c.ReadBarrier(context.Background())
	var out []int
	c.State().View(func(tx *state.ReadTx) error {
		all, err := auditlog.Search(tx, q)
		for _, en := range all {
			if int(en.Seq) <= upTo {
				out = append(out, int(en.Seq))
			}
		}
		return err
	})
	return out
}

func TestAuditSearchPagesNewestFirstWithACursor(t *testing.T) {
	e := start(t)
	audit := e.signIn("auditadmin")
	sec := e.signIn("secadmin") // an audit admin never reads its own trail: it reads the security admin's
	for range 20 {
		e.call("GET", "/api/v1/me", sec, "")
	}
	filter := "type=request&subject=acct-secadmin"
	// Newest first, the default: pages of 7 until the end.
	var got []int
	first := 0
	for path := "/api/v1/audit?" + filter + "&limit=7"; ; {
		r := e.call("GET", path, audit, "")
		if r.status != 200 || r.body["order"] != "desc" || r.body["limit"] != 7.0 {
			t.Fatalf("page: %d %v", r.status, r.body)
		}
		page := seqsOf(t, r)
		if first == 0 {
			first = page[0]
		}
		got = append(got, page...)
		next, _ := r.body["next_cursor"].(string)
		if r.body["truncated"] != (next != "") {
			t.Fatalf("truncated %v with next_cursor %q", r.body["truncated"], next)
		}
		if next == "" {
			break
		}
		if len(page) != 7 {
			t.Fatalf("a truncated page of %d entries", len(page))
		}
		path = "/api/v1/audit?" + filter + "&limit=7&cursor=" + url.QueryEscape(next)
	}
	want := e.matching(auditlog.Query{Type: "request", Subject: "acct-secadmin"}, first)
	if len(want) < 20 || len(got) != len(want) {
		t.Fatalf("paged %d entries, %d match", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[len(want)-1-i] {
			t.Fatalf("newest-first pages %v, want the reverse of %v", got, want)
		}
	}

	// Oldest first: the pages meet the log's end, whose size the answer gives.
	got = nil
	var size int
	for path := "/api/v1/audit?" + filter + "&order=asc&limit=9"; ; {
		r := e.call("GET", path, audit, "")
		got = append(got, seqsOf(t, r)...)
		size = int(r.body["size"].(float64))
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/api/v1/audit?" + filter + "&order=asc&limit=9&cursor=" + url.QueryEscape(next)
	}
	if want := e.matching(auditlog.Query{Type: "request", Subject: "acct-secadmin"}, size); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("oldest-first pages %v, want %v", got, want)
	}

	// More entries than a page: the default page says so.
	r := e.call("GET", "/api/v1/audit", audit, "")
	// (every entry but the audit admin's own)
	if n := len(seqsOf(t, r)); r.body["limit"] != 100.0 || r.body["truncated"] != false || n == 0 || n >= int(r.body["size"].(float64)) {
		t.Fatalf("default page of a short log: %v %v %v", r.body["limit"], r.body["truncated"], r.body["size"])
	}
	for range 100 {
		e.call("GET", "/api/v1/me", sec, "")
	}
	if r := e.call("GET", "/api/v1/audit", audit, ""); len(seqsOf(t, r)) != 100 || r.body["truncated"] != true || r.body["next_cursor"] == nil {
		t.Fatalf("default page of a long log: %d entries, truncated %v", len(seqsOf(t, r)), r.body["truncated"])
	}

	// A cursor serves only the query that made it.
	next := e.call("GET", "/api/v1/audit?"+filter+"&limit=2", audit, "").body["next_cursor"].(string)
	for _, c := range []struct{ name, query, code string }{
		{"another type", "type=login.success&subject=acct-secadmin&limit=2&cursor=" + next, "invalid_cursor"},
		{"another order", filter + "&order=asc&limit=2&cursor=" + next, "invalid_cursor"},
		{"a forged cursor", filter + "&cursor=bm90LWEtY3Vyc29y", "invalid_cursor"},
		{"a limit too large", "limit=1001", "invalid_request"},
		{"a limit that is no number", "limit=ten", "invalid_request"},
		{"an unknown order", "order=sideways", "invalid_request"},
		{"subject and username", "subject=acct-auditadmin&username=auditadmin", "invalid_request"},
		{"a bad time", "from=yesterday", "invalid_request"},
	} {
		if r := e.call("GET", "/api/v1/audit?"+c.query, audit, ""); r.status != 400 || r.code() != c.code {
			t.Errorf("%s: %d %v, want 400 %s", c.name, r.status, r.body, c.code)
		}
	}
	if r := e.call("GET", "/api/v1/audit?"+filter+"&limit=2&cursor="+next, audit, ""); r.status != 200 || len(seqsOf(t, r)) != 2 {
		t.Fatalf("the cursor with its own query: %d %v", r.status, r.body)
	}
}

func TestAuditSearchByUsernameFindsTheAccountAndItsFailedLogins(t *testing.T) {
	e := start(t)
	e.login("sysadmin", "Wrong-Password-1!")
	e.login("nobody-here", "Wrong-Password-1!")
	e.signIn("sysadmin")
	audit := e.signIn("auditadmin")

	subjects := func(query string) map[string]int {
		t.Helper()
		r := e.call("GET", "/api/v1/audit?limit=1000&"+query, audit, "")
		if r.status != 200 {
			t.Fatalf("%s: %d %v", query, r.status, r.body)
		}
		out := map[string]int{}
		for _, x := range r.body["entries"].([]any) {
			en := x.(map[string]any)
			key := en["subject"].(string) + " " + en["type"].(string)
			if en["subject"] == "system" || en["subject"] == "cxt init" {
				key += " on " + en["object"].(string)
			}
			out[key]++
		}
		return out
	}
	// A failed login is settled under the name's blind index, before any
	// account is known.
	sys := subjects("username=sysadmin")
	failed := ""
	for k := range sys {
		if strings.HasPrefix(k, "login:") && strings.HasSuffix(k, " login.settle") {
			failed = strings.Fields(k)[0]
		}
	}
	if failed == "" || sys["acct-sysadmin login.success"] != 1 || sys["acct-sysadmin account.password"] != 1 ||
		sys["cxt init account.create on acct-sysadmin"] != 1 {
		t.Fatalf("username=sysadmin: %v", sys)
	}
	for k := range sys {
		if !strings.HasPrefix(k, "acct-sysadmin ") && !strings.HasPrefix(k, failed+" ") && !strings.HasSuffix(k, " on acct-sysadmin") {
			t.Fatalf("username=sysadmin found another's entry %q: %v", k, sys)
		}
	}
	// The blind index is of the name as logins take it: case and spaces aside.
	if again := subjects("username=" + url.QueryEscape(" SysAdmin ")); fmt.Sprint(again) != fmt.Sprint(subjects("username=sysadmin")) {
		t.Fatalf("username= SysAdmin : %v", again)
	}
	// A name without an account still finds its failed logins, and only those.
	ghost := subjects("username=nobody-here")
	settled := 0
	for k, n := range ghost {
		if !strings.HasPrefix(k, "login:") || strings.HasPrefix(k, failed+" ") {
			t.Fatalf("username=nobody-here found another's entry %q: %v", k, ghost)
		}
		if strings.HasSuffix(k, " login.settle") {
			settled += n
		}
	}
	if settled != 1 {
		t.Fatalf("username=nobody-here: %v", ghost)
	}
	// The search's own record names the blind index, never the name.
	e.n.Cluster().ReadBarrier(context.Background())
	e.n.Cluster().State().View(func(tx *state.ReadTx) error {
		all, err := auditlog.Search(tx, auditlog.Query{Type: "request", Subject: "acct-auditadmin"})
		for _, en := range all {
			if strings.Contains(en.Object, "nobody-here") {
				t.Fatalf("a username in the audit log: %q", en.Object)
			}
		}
		return err
	})
}

func TestAuditExportSaysWhenItIsTruncatedAndHowToContinue(t *testing.T) {
	e := start(t)
	audit := e.signIn("auditadmin")
	sec := e.signIn("secadmin")
	for range 8 {
		e.call("GET", "/api/v1/me", sec, "")
	}
	audit = e.steppedUp("auditadmin", audit)
	body := `{"type":"request","subject":"acct-secadmin","limit":5,"reason":"quarterly review"}`
	first := e.confirmed("POST", "/api/v1/audit/export", audit, body, "x1")
	next, _ := first.body["next_cursor"].(string)
	if first.status != 200 || first.body["truncated"] != true || next == "" || !strings.Contains(first.body["next"].(string), "cursor") {
		t.Fatalf("first export: %d %v", first.status, first.body)
	}
	a := seqsOf(t, first)
	if len(a) != 5 || first.body["order"] != "desc" {
		t.Fatalf("first export: %v", a)
	}
	body = fmt.Sprintf(`{"type":"request","subject":"acct-secadmin","limit":5,"cursor":%q,"reason":"quarterly review"}`, next)
	second := e.confirmed("POST", "/api/v1/audit/export", audit, body, "x2")
	b := seqsOf(t, second)
	if second.status != 200 || len(b) == 0 || b[0] >= a[len(a)-1] {
		t.Fatalf("the second export does not continue the first: %v then %v (%v)", a, b, second.body)
	}
	if r := e.confirmed("POST", "/api/v1/audit/export", audit, `{"limit":2001,"reason":"quarterly review"}`, "x3"); r.status != 400 {
		t.Fatalf("an export over the limit: %d %v", r.status, r.body)
	}
	if r := e.confirmed("POST", "/api/v1/audit/export", audit, `{"type":"request","reason":"quarterly review"}`, "x4"); r.status != 200 || r.body["limit"] != 2000.0 {
		t.Fatalf("the default export: %d %v", r.status, r.body["limit"])
	}
}
