package api_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"cxt/appliance/archives"
)

// A node folder copied before a destruction and put back after it does not
// bring the key back into use: the blob store's signed list of destroyed
// archives (outside the node's state) names the subject, so the node
// answers nothing but 503 archive_restored until its leader has destroyed
// the key again — never the merchant's data — and then the archive reads
// as destroyed with its certificate. A record the platform did not sign
// destroys nothing.
func TestARestoredCopyDoesNotBringADestroyedKeyBack(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	sys := e.signIn("sysadmin")
	operator := e.staff(sec, "platform_operator", "operator-1")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	auditor, _ := e.signInMFA("auditadmin") // before the copy: its session is in it
	e.esignAuthority(sys)
	rejected := func(name, uscc, user, phone string) string {
		a := e.call("POST", "/api/v1/merchants", "", application(name, uscc, user, phone))
		if a.status != 201 {
			t.Fatalf("apply: %d %v", a.status, a.body)
		}
		id := a.body["merchant"].(map[string]any)["id"].(string)
		if r := e.call("POST", "/api/v1/merchants/"+id+"/review", reviewer, `{"decision":"reject","reason":"资料不全"}`); r.status != 200 {
			t.Fatalf("reject: %d %v", r.status, r.body)
		}
		return id
	}
	gone := rejected("太原某某服务有限公司", usccB, "boss-b", "13800002222")
	kept := rejected("福州某某科技有限公司", usccA, "boss-a", "13800001111")
	e.stepUp(operator, "operator-1")
	if p := e.confirmed("POST", "/api/v1/archives/"+gone+"/destruction", operator, `{"reason":"申请被驳回，无须保存"}`, "d-1"); p.status != 202 {
		t.Fatalf("propose: %d %v", p.status, p.body)
	}
	l := e.call("GET", "/api/v1/archive-destructions?status=pending", reviewer, "")
	id := l.body["destructions"].([]any)[0].(map[string]any)["id"].(string)

	// The copy, taken before the approval, with the node stopped: all but
	// the documents (the blob store, MinIO in production, is not in it).
	e.n.Close()
	backup := filepath.Join(t.TempDir(), "backup")
	copyTree(t, e.dir, backup)
	e.restart()
	e.stepUp(reviewer, "reviewer-1")
	if r := e.confirmed("POST", "/api/v1/archive-destructions/"+id+"/decision", reviewer, `{"decision":"approve"}`, "a-1"); r.status != 200 {
		t.Fatalf("approve: %d %v", r.status, r.body)
	}
	list := filepath.Join(e.dir, "documents", archives.ListID)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(list); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the destroyed-archives list was never written")
		}
	}
	e.n.Close()
	for _, f := range []string{"raft", "state.db"} {
		os.RemoveAll(filepath.Join(e.dir, f))
		if _, err := os.Stat(filepath.Join(backup, f)); err == nil {
			copyTree(t, filepath.Join(backup, f), filepath.Join(e.dir, f))
		}
	}
	// A forged record for another merchant's live archive is ignored.
	forge, _ := os.ReadFile(list)
	os.WriteFile(list, append(forge[:len(forge)-2], []byte(`,{"subject":"`+kept+`","manifest":"e30=","signature":"MEQ="}]}`)...), 0o600)
	e.restart()
	shredded := false
	for deadline := time.Now().Add(30 * time.Second); !shredded; time.Sleep(20 * time.Millisecond) {
		r := e.call("GET", "/api/v1/archives/"+gone+"/contents?use=x", auditor, "")
		switch r.code() {
		case "archive_restored", "forbidden", "archive_use_not_approved":
		default:
			t.Fatalf("a restored node answered: %d %v", r.status, r.body)
		}
		x := e.call("GET", "/api/v1/archives/"+gone, auditor, "")
		switch {
		case x.code() == "archive_restored":
		case x.status == 200 && x.body["state"] == archives.StateDestroyed:
			shredded = true
		default:
			t.Fatalf("the restored archive: %d %v", x.status, x.body)
		}
		if time.Now().After(deadline) {
			t.Fatal("the destruction was never applied again")
		}
	}
	if x := e.call("GET", "/api/v1/archives/"+kept, auditor, ""); x.status != 200 || x.body["state"] == archives.StateDestroyed {
		t.Fatalf("a forged record destroyed %s: %d %v", kept, x.status, x.body)
	}
	if status, _, zip := e.downloadRaw("/api/v1/archives/"+gone+"/certificate", auditor); status != 200 {
		t.Fatalf("the re-applied archive's certificate: %d %s", status, zip)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}
