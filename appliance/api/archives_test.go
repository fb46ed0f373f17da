package api_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"cxt/appliance/archives"
	"cxt/appliance/archives/archivestest"
	"cxt/appliance/esign/esigntest"
)

// An archive through the API: a turned-down applicant's archive is due at
// once, an approved merchant's is in use; a legal hold blocks the
// destruction and is released only by a second person; contents are read
// only under a use a second person approved; the destruction is proposed
// by one and approved by another — two approvals at once destroy once —
// and afterwards nothing of the merchant opens, while the certificate
// verifies with OpenSSL and the statistics add up.
func TestAnArchiveIsHeldUsedAndDestroyedByTwoPeople(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	sys := e.signIn("sysadmin")
	operator := e.staff(sec, "platform_operator", "operator-1")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	reviewer2 := e.staff(sec, "platform_reviewer", "reviewer-2")
	auditor, _ := e.signInMFA("auditadmin")
	e.esignAuthority(sys)
	active, _ := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	a := e.call("POST", "/api/v1/merchants", "", application("太原某某服务有限公司", usccB, "boss-b", "13800002222"))
	if a.status != 201 {
		t.Fatalf("apply: %d %v", a.status, a.body)
	}
	gone := a.body["merchant"].(map[string]any)["id"].(string)
	admin := e.tenantSignIn("boss-b", a.body["one_time_password"].(string))
	e.qualify(gone, admin)
	if r := e.call("POST", "/api/v1/merchants/"+gone+"/review", reviewer, `{"decision":"reject","reason":"营业执照与申请名称不符"}`); r.status != 200 {
		t.Fatalf("reject: %d %v", r.status, r.body)
	}

	index := func(id string) map[string]any {
		t.Helper()
		r := e.call("GET", "/api/v1/archives/"+id, auditor, "")
		if r.status != 200 {
			t.Fatalf("index of %s: %d %v", id, r.status, r.body)
		}
		return r.body
	}
	if x := index(active); x["state"] != archives.StateActive {
		t.Fatalf("an approved merchant's archive: %v", x)
	}
	x := index(gone)
	if x["state"] != archives.StateDue || len(x["items"].([]any)) < 3 {
		t.Fatalf("a rejected applicant's archive: %v", x)
	}
	for _, bad := range []struct{ id, code string }{{"m_nobody", "not_found"}, {"t_123", "not_found"}} {
		if r := e.call("GET", "/api/v1/archives/"+bad.id, auditor, ""); r.status != 404 {
			t.Errorf("archive %s: %d %v", bad.id, r.status, r.body)
		}
	}
	if r := e.call("GET", "/api/v1/archives/"+gone, admin, ""); r.status != 403 && r.status != 404 {
		t.Errorf("the merchant reads the platform's archive of itself: %d %v", r.status, r.body)
	}

	e.stepUp(operator, "operator-1")
	// Not while it is in use.
	if r := e.confirmed("POST", "/api/v1/archives/"+active+"/destruction", operator, `{"reason":"合作终止，保管期满"}`, "d-active"); r.status != 409 || r.code() != "archive_retention_running" {
		t.Fatalf("destroying an open merchant's archive: %d %v", r.status, r.body)
	}

	// A legal hold blocks it, and only another person releases it.
	e.stepUp(reviewer, "reviewer-1")
	h := e.call("POST", "/api/v1/archives/"+gone+"/holds", operator, `{"reason":"税务稽查调取资料","authority":"国家税务总局福州市税务局稽查局 榕税稽通〔2026〕12号"}`)
	if h.status != 201 {
		t.Fatalf("hold: %d %v", h.status, h.body)
	}
	hold := h.body["id"].(string)
	if r := e.confirmed("POST", "/api/v1/archives/"+gone+"/destruction", operator, `{"reason":"申请被驳回，无须保存"}`, "d-held"); r.status != 409 || r.code() != "archive_on_hold" {
		t.Fatalf("destroying a held archive: %d %v", r.status, r.body)
	}
	if r := e.confirmed("POST", "/api/v1/archives/"+gone+"/holds/"+hold+"/release", operator, `{"reason":"稽查已结案"}`, "rel-1"); r.status != 403 || r.code() != "archive_maker_checker" {
		t.Fatalf("released by who placed it: %d %v", r.status, r.body)
	}
	if r := e.confirmed("POST", "/api/v1/archives/"+gone+"/holds/"+hold+"/release", reviewer, `{"reason":"稽查已结案"}`, "rel-2"); r.status != 200 {
		t.Fatalf("release: %d %v", r.status, r.body)
	}

	// Use: asked by one, approved by another, read by the asker only.
	u := e.call("POST", "/api/v1/archives/"+gone+"/uses", operator, `{"purpose":"核对申请材料","classes":["identity","qualification"]}`)
	if u.status != 201 {
		t.Fatalf("use: %d %v", u.status, u.body)
	}
	use := u.body["id"].(string)
	contents := "/api/v1/archives/" + gone + "/contents?use=" + use
	if r := e.call("GET", contents, operator, ""); r.status != 403 || r.code() != "archive_use_not_approved" {
		t.Fatalf("reading before approval: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/archive-uses/"+use+"/decision", operator, `{"decision":"approve"}`); r.status != 403 || r.code() != "archive_maker_checker" {
		t.Fatalf("approving one's own use: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/archive-uses/"+use+"/decision", reviewer, `{"decision":"approve"}`); r.status != 200 {
		t.Fatalf("approve use: %d %v", r.status, r.body)
	}
	if r := e.call("GET", contents, reviewer, ""); r.status != 403 || r.code() != "archive_use_not_approved" {
		t.Fatalf("another person reads under the use: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/archives/"+active+"/contents?use="+use, operator, ""); r.status != 403 {
		t.Fatalf("the use read another archive: %d %v", r.status, r.body)
	}
	c := e.call("GET", contents, operator, "")
	if c.status != 200 || c.body["identity"].(map[string]any)["uscc"] != usccB {
		t.Fatalf("contents: %d %v", c.status, c.body)
	}

	// Destruction: one proposes, another approves; two approvals at once
	// destroy once.
	e.stepUp(operator, "operator-1")
	e.stepUp(reviewer, "reviewer-1")
	e.stepUp(reviewer2, "reviewer-2")
	p := e.confirmed("POST", "/api/v1/archives/"+gone+"/destruction", operator, `{"reason":"申请被驳回，无须保存"}`, "d-1")
	if p.status != 202 {
		t.Fatalf("propose: %d %v", p.status, p.body)
	}
	if r := e.confirmed("POST", "/api/v1/archives/"+gone+"/destruction", reviewer, `{"reason":"申请被驳回，无须保存"}`, "d-2"); r.status != 409 || r.code() != "archive_destruction_pending" {
		t.Fatalf("a second proposal while one waits: %d %v", r.status, r.body)
	}
	// A use asked for and not yet decided ends with the archive.
	if r := e.call("POST", "/api/v1/archives/"+gone+"/uses", operator, `{"purpose":"核对申请资料","classes":["identity"]}`); r.status != 201 {
		t.Fatalf("a use asked before the destruction: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/archive-uses?status=bogus", auditor, ""); r.status != 400 {
		t.Fatalf("an unknown status filter: %d %v", r.status, r.body)
	}
	l := e.call("GET", "/api/v1/archive-destructions?status=pending", auditor, "")
	list, _ := l.body["destructions"].([]any)
	if l.status != 200 || len(list) != 1 {
		t.Fatalf("pending destructions: %d %v", l.status, l.body)
	}
	id := list[0].(map[string]any)["id"].(string)
	decide := "/api/v1/archive-destructions/" + id + "/decision"
	if r := e.confirmed("POST", decide, operator, `{"decision":"approve"}`, "a-0"); r.status != 403 || r.code() != "archive_maker_checker" {
		t.Fatalf("approved by its maker: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/archives/"+gone+"/certificate", auditor, ""); r.status != 404 || r.code() != "archive_not_destroyed" {
		t.Fatalf("a certificate before the destruction: %d %v", r.status, r.body)
	}
	var wg sync.WaitGroup
	results := make([]reply, 2)
	for i, tok := range []string{reviewer, reviewer2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.confirmed("POST", decide, tok, `{"decision":"approve"}`, fmt.Sprintf("a-%d", i+1))
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		switch {
		case r.status == 200:
			ok++
		case r.code() != "archive_request_closed" && r.code() != "archive_destroyed":
			t.Errorf("the losing approval: %d %v", r.status, r.body)
		}
	}
	if ok != 1 {
		t.Fatalf("%d approvals destroyed the archive: %+v", ok, results)
	}

	// Nothing of the merchant opens any more; the archive says so.
	if r := e.call("GET", "/api/v1/merchants/"+gone, reviewer, ""); r.status != 409 || r.code() != "subject_shredded" {
		t.Errorf("the destroyed merchant read: %d %v", r.status, r.body)
	}
	if l := e.call("GET", "/api/v1/archive-uses?status=pending&subject="+gone, auditor, ""); l.status != 200 || len(l.body["uses"].([]any)) != 0 {
		t.Errorf("uses still pending on a destroyed archive: %d %v", l.status, l.body)
	}
	if r := e.call("GET", contents, operator, ""); r.status != 409 || r.code() != "archive_destroyed" {
		t.Errorf("contents after destruction: %d %v", r.status, r.body)
	}
	if x := index(gone); x["state"] != archives.StateDestroyed || x["destroyed"] == nil {
		t.Errorf("the destroyed archive's index: %v", x)
	}
	if r := e.call("POST", "/api/v1/archives/"+gone+"/holds", operator, `{"reason":"再次调取资料","authority":"法院"}`); r.status != 409 || r.code() != "archive_destroyed" {
		t.Errorf("a hold on a destroyed archive: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/archives/"+active+"/certificate", auditor, ""); r.status != 404 || r.code() != "archive_not_destroyed" {
		t.Errorf("a certificate of an archive not destroyed: %d %v", r.status, r.body)
	}

	// The certificate: PDF and manifest, each verified by OpenSSL.
	status, header, zip := e.downloadRaw("/api/v1/archives/"+gone+"/certificate", auditor)
	if status != 200 || header.Get("Content-Type") != "application/zip" {
		t.Fatalf("certificate: %d %s", status, header)
	}
	dir := esigntest.Extract(t, zip)
	archivestest.VerifyOK(t, dir)
	var m archives.Manifest
	raw, _ := os.ReadFile(filepath.Join(dir, archives.FileJSON))
	if err := json.Unmarshal(raw, &m); err != nil || m.Subject != gone || m.ProposedBy == m.ApprovedBy || len(m.Items) < 3 || len(m.Classes) == 0 {
		t.Fatalf("manifest: %v %+v", err, m)
	}
	for _, it := range m.Items {
		if len(it.SM3) != 64 {
			t.Errorf("item %+v has no SM3", it)
		}
	}
	if strings.Contains(string(raw), usccB) || strings.Contains(string(raw), "13800002222") {
		t.Errorf("the manifest carries what was destroyed:\n%s", raw)
	}
	raw[len(raw)/2] ^= 1
	os.WriteFile(filepath.Join(dir, archives.FileJSON), raw, 0o600)
	if out, err := archivestest.Verify(t, dir); err == nil {
		t.Fatalf("a changed manifest verifies:\n%s", out)
	}

	// The statistics equal what each archive's own index says.
	st := e.call("GET", "/api/v1/archives/stats", auditor, "")
	if st.status != 200 {
		t.Fatalf("stats: %d %v", st.status, st.body)
	}
	want := map[string]float64{}
	items := 0
	for _, id := range []string{active, gone} {
		x := index(id)
		want[x["state"].(string)]++
		items += len(x["items"].([]any))
	}
	got := st.body["archives"].(map[string]any)["merchant"].(map[string]any)
	for s, n := range want {
		if got[s] != n {
			t.Errorf("stats: %d merchants' archives %s, their indexes say %v (%v)", got[s], s, n, st.body)
		}
	}
	if st.body["total_items"] != float64(items) {
		t.Errorf("stats count %v items, the indexes %d", st.body["total_items"], items)
	}

	// Its credit code no longer leads to it: the company may apply again.
	if r := e.call("POST", "/api/v1/merchants", "", application("太原某某服务有限公司", usccB, "boss-b2", "13800002223")); r.status != 201 || strings.Contains(fmt.Sprint(r.body), gone) {
		t.Errorf("the destroyed merchant's code applies again: %d %v", r.status, r.body)
	}
}
