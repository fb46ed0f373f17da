package cli

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cxt/appliance/demo"
	"cxt/appliance/esign/esigntest"
	"cxt/appliance/ident"
	"cxt/appliance/receipts"
	"cxt/appliance/receipts/receiptstest"
	"cxt/storage/cluster/loopback"
)

func TestDemoFillsTheDocumentedWorldThroughTheAPIAndRefusesOtherNodes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	api, cl := loopback.FreeAddr(), loopback.FreeAddr()
	// Six workers, two per merchant: every step of the world, in a fraction
	// of the default fifty's time (the race detector's runs included).
	const workers = 6
	code, out, errOut := run(t, "", "demo", "--data", dir, "--listen", api, "--cluster", cl, "--fill-only", "--workers", fmt.Sprint(workers))
	if code != 0 || !strings.Contains(out, "world.json") {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	var w demo.World
	b, err := os.ReadFile(filepath.Join(dir, "demo", "world.json"))
	if err != nil || json.Unmarshal(b, &w) != nil {
		t.Fatalf("world.json: %v", err)
	}
	roles := map[string]int{}
	for _, a := range w.Accounts {
		roles[a.Role]++
		// Workers sign in with an SMS code to their phone, everyone else
		// with a TOTP code.
		if a.Password == "" || a.Role != "worker" && a.TOTP == "" || a.Role == "worker" && a.Phone == "" {
			t.Errorf("account %s (%s) lacks its password or second factor", a.Username, a.Role)
		}
	}
	if roles["system_admin"] != 1 || roles["platform_reviewer"] != 1 || roles["merchant_admin"] != 3 {
		t.Fatalf("accounts by role: %v", roles)
	}
	models := map[string]bool{}
	for _, m := range w.Merchants {
		models[m.Registered["operating_model"].(string)] = true
		if m.Status != "approved" || len(m.Documents) != 1 {
			t.Errorf("merchant %s: %s, %d documents", m.ID, m.Status, len(m.Documents))
		}
		if _, err := ident.ParseUSCC(m.Registered["uscc"].(string)); err != nil {
			t.Errorf("merchant %s registered an invalid code: %v", m.ID, err)
		}
	}
	if !models["intermediary"] || !models["operating"] {
		t.Fatalf("both operating models are not among the demo merchants: %v", models)
	}
	// Each merchant's cooperation agreement and each worker's tripartite
	// agreement was signed by every party and its evidence package
	// downloaded.
	if len(w.Workers) != workers || len(w.Artifacts) != len(w.Merchants)+len(w.Workers) {
		t.Fatalf("%d workers, %d artifacts", len(w.Workers), len(w.Artifacts))
	}
	for _, wk := range w.Workers {
		if wk.Agreement == "" || wk.RealName != "passed" {
			t.Errorf("worker %s: %+v", wk.Username, wk)
		}
		if _, err := ident.ParseResidentID(wk.Registered["id_number"], time.Now()); err != nil {
			t.Errorf("worker %s registered an invalid ID: %v", wk.Username, err)
		}
	}
	if roles["worker"] != workers {
		t.Fatalf("worker accounts: %d", roles["worker"])
	}
	for _, m := range w.Merchants {
		if m.Agreement == "" {
			t.Errorf("merchant %s has no signed cooperation agreement", m.ID)
		}
	}
	for _, a := range w.Artifacts {
		z, err := zip.OpenReader(a.Path)
		if err != nil {
			t.Fatalf("%s: %v", a.Path, err)
		}
		names := map[string]bool{}
		for _, f := range z.File {
			names[f.Name] = true
		}
		z.Close()
		if !names["contract.pdf"] || !names["manifest.json"] || !names["VERIFY.md"] || !names["ca.pem"] {
			t.Errorf("%s holds %v", a.Path, names)
		}
	}
	// Each merchant published a task; the one over the risk rule's budget
	// line was approved by the reviewer; every worker's work was accepted.
	if len(w.Tasks) != len(w.Merchants) {
		t.Fatalf("tasks: %+v", w.Tasks)
	}
	for _, tk := range w.Tasks {
		if len(tk.Workers) != workers/len(w.Merchants) || tk.Review == "" {
			t.Errorf("task %+v", tk)
		}
	}
	// The money: top-ups from a statement, one batch of 1,000 rows — five to
	// a worker who does not exist, rejected; the rows beyond the first
	// top-up held, then released after the second — paid by the sandbox
	// bank, a few failed and a few returned.
	if w.Payouts == nil || len(w.Payouts.Batches) != 1 || len(w.Payouts.Statements) != 2 || len(w.Payouts.Codes) != len(w.Merchants) {
		t.Fatalf("payouts: %+v", w.Payouts)
	}
	pb := w.Payouts.Batches[0]
	if pb.Rows != demo.DemoBatchRows || pb.Counts["rejected"] != 5 || pb.Counts["on_hold"] != 0 || pb.Counts["paid"] < 900 ||
		pb.Counts["failed"] == 0 || pb.Counts["returned"] == 0 || len(pb.Returned) != pb.Counts["returned"] {
		t.Fatalf("the batch ended %+v", pb)
	}
	// The receipts of a paid and a returned payment, downloaded by the
	// merchant and by the worker, verify with the OpenSSL lines their
	// README prints; a byte changed in the PDF does not.
	if len(w.Payouts.Receipts) != 2 {
		t.Fatalf("receipts: %+v", w.Payouts.Receipts)
	}
	for _, a := range w.Payouts.Receipts {
		b, err := os.ReadFile(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		rdir := esigntest.Extract(t, b)
		if out, err := receiptstest.Verify(t, rdir); err != nil || !strings.HasSuffix(out, "Verified OK\n") {
			t.Fatalf("%s: %v\n%s", a.What, err, out)
		}
		pdf := filepath.Join(rdir, receipts.FilePDF)
		data, _ := os.ReadFile(pdf)
		data[len(data)/2] ^= 1
		os.WriteFile(pdf, data, 0o600)
		if out, err := receiptstest.Verify(t, rdir); err == nil {
			t.Fatalf("%s verifies with a byte of its PDF changed:\n%s", a.What, out)
		}
	}
	// The books of the stopped demo node hold.
	if code, out, errOut := run(t, "", "ledger", "verify", "--data", dir); code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("ledger verify: exit %d\n%s\n%s", code, out, errOut)
	}
	// The canary: no worker's name, ID number, phone or card is anywhere on
	// the node's disk in the clear — state, Raft log, documents, the bank's
	// journal — outside DIR/demo, where the demo writes what it registered
	// for the evaluator.
	files := 0
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasPrefix(path, filepath.Join(dir, "demo")+string(filepath.Separator)) {
			return nil
		}
		files++
		data, _ := os.ReadFile(path)
		for _, wk := range w.Workers {
			for _, field := range []string{"name", "id_number", "phone", "bank_card"} {
				if v := wk.Registered[field]; v != "" && bytes.Contains(data, []byte(v)) {
					t.Errorf("worker %s's %s is on disk in the clear in %s", wk.Username, field, path)
				}
			}
		}
		return nil
	})
	if files < 5 {
		t.Fatalf("the canary read only %d files", files)
	}
	// The node is marked demo; a second run serves it without filling again.
	if code, out, _ := run(t, "", "demo", "--data", dir, "--listen", api, "--cluster", cl, "--fill-only"); code != 0 || strings.Contains(out, "filling") {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	// A node that is not a demo node is refused.
	other := filepath.Join(t.TempDir(), "plain")
	if code, _, errOut := run(t, "", "init", "--data", other, "--listen", loopback.FreeAddr(), "--cluster", loopback.FreeAddr()); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	if code, _, errOut := run(t, "", "demo", "--data", other, "--fill-only"); code != 2 || !strings.Contains(errOut, "not a demo node") {
		t.Fatalf("demo on a plain node: exit %d %s", code, errOut)
	}
}
