package api_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"cxt/appliance/archives"
	"cxt/appliance/archives/archivestest"
	"cxt/appliance/esign/esigntest"
	"cxt/appliance/node"
	"cxt/crypto/sm"
	"cxt/storage/blob"
	"cxt/storage/blob/miniotest"
)

// A merchant's documents live in a real MinIO, sealed under the merchant's
// own key. Destroying its archive leaves each object's bytes where they
// are — the certificate lists the SM3 of each as stored, which the object
// read straight from MinIO matches — but nothing opens them any more: the
// API refuses, and another merchant's document, under its own key, still
// opens. No byte of the licence is in MinIO's folder in the clear.
func TestADestroyedMerchantsDocumentsInMinIOOpenNoMore(t *testing.T) {
	srv := miniotest.Start(t)
	cfg := srv.Config
	e := startInit(t, node.InitOptions{MinIO: &cfg}, nil, nil)
	sec, _ := e.signInMFA("secadmin")
	sys := e.signIn("sysadmin")
	operator := e.staff(sec, "platform_operator", "operator-1")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	e.esignAuthority(sys)
	keep, bossA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	kept := e.upload("/api/v1/merchants/"+keep+"/documents?kind=other", bossA, licencePDF)
	if kept.status != 201 {
		t.Fatalf("the kept merchant's document: %d %v", kept.status, kept.body)
	}

	a := e.call("POST", "/api/v1/merchants", "", application("太原某某服务有限公司", usccB, "boss-b", "13800002222"))
	if a.status != 201 {
		t.Fatalf("apply: %d %v", a.status, a.body)
	}
	gone := a.body["merchant"].(map[string]any)["id"].(string)
	admin := e.tenantSignIn("boss-b", a.body["one_time_password"].(string))
	const marker = "CANARY-licence-太原某某服务有限公司-" + usccB
	licence := []byte("%PDF-1.4\n1 0 obj <<>> endobj\n" + marker + "\n%%EOF\n")
	up := e.upload("/api/v1/merchants/"+gone+"/documents?kind=business_licence", admin, licence)
	if up.status != 201 {
		t.Fatalf("licence: %d %v", up.status, up.body)
	}
	doc := up.body["id"].(string)
	if r := e.call("POST", "/api/v1/merchants/"+gone+"/review", reviewer, `{"decision":"reject","reason":"营业执照与申请名称不符"}`); r.status != 200 {
		t.Fatalf("reject: %d %v", r.status, r.body)
	}
	mc, err := blob.NewMinIO(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	object := func(id string) []byte {
		t.Helper()
		rc, err := mc.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("object %s in MinIO: %v", id, err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return b
	}
	before := object(doc)

	e.stepUp(operator, "operator-1")
	e.stepUp(reviewer, "reviewer-1")
	p := e.confirmed("POST", "/api/v1/archives/"+gone+"/destruction", operator, `{"reason":"申请被驳回，无须保存"}`, "d-1")
	if p.status != 202 {
		t.Fatalf("propose: %d %v", p.status, p.body)
	}
	if r := e.confirmed("POST", "/api/v1/archive-destructions/"+p.body["id"].(string)+"/decision", reviewer, `{"decision":"approve"}`, "a-1"); r.status != 200 {
		t.Fatalf("approve: %d %v", r.status, r.body)
	}

	// The certificate lists the document by the SM3 of its ciphertext as
	// MinIO holds it, still, byte for byte.
	status, _, zip := e.downloadRaw("/api/v1/archives/"+gone+"/certificate", operator)
	if status != 200 {
		t.Fatalf("certificate: %d", status)
	}
	dir := esigntest.Extract(t, zip)
	archivestest.VerifyOK(t, dir)
	raw, _ := os.ReadFile(filepath.Join(dir, archives.FileJSON))
	var m archives.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	after := object(doc)
	sum := sm.Sum(after)
	found := false
	for _, it := range m.Items {
		if it.Ref == doc {
			found = true
			if !it.Object || it.SM3 != hex.EncodeToString(sum[:]) {
				t.Errorf("the certificate's item %+v, the object's SM3 %x", it, sum)
			}
		}
	}
	if !found || !bytes.Equal(before, after) {
		t.Fatalf("the licence in the certificate: %v; the object unchanged: %v (%+v)", found, bytes.Equal(before, after), m.Items)
	}

	// Nothing opens it; the other merchant's document still opens.
	if r := e.call("GET", "/api/v1/merchants/"+gone+"/documents/"+doc, reviewer, ""); r.status != 409 || r.code() != "subject_shredded" {
		t.Errorf("the destroyed merchant's document: %d %v", r.status, r.body)
	}
	if status, _, body := e.download("/api/v1/merchants/"+keep+"/documents/"+kept.body["id"].(string), bossA); status != 200 || !bytes.Equal(body, licencePDF) {
		t.Errorf("the kept merchant's document: %d", status)
	}
	scanned := 0
	filepath.Walk(srv.DataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		scanned++
		if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte(usccB)) {
			t.Errorf("the licence in the clear in %s", path)
		}
		return nil
	})
	if scanned == 0 {
		t.Fatal("nothing scanned in MinIO's folder")
	}
}
