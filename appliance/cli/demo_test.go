package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cxt/appliance/archives"
	"cxt/appliance/archives/archivestest"
	"cxt/appliance/demo"
	"cxt/appliance/esign/esigntest"
	"cxt/appliance/ident"
	"cxt/appliance/receipts"
	"cxt/appliance/receipts/receiptstest"
	"cxt/gateway/feed"
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
	// The risk plants were caught: the payout rules refused the payment to
	// the merchant's own supervisor and held the second just under the
	// limit (the demo checked each against the API as it went), and the
	// inspection opened a case for the bank card three workers share.
	if w.Risk == nil || len(w.Risk.Planted) != 2 || len(w.Risk.SharedCard) != 3 {
		t.Fatalf("the risk plants: %+v", w.Risk)
	}
	rules := map[string]bool{}
	for _, p := range w.Risk.Planted {
		rules[p.Rule] = true
	}
	kinds := map[string]int{}
	for _, c := range w.Risk.Cases {
		kinds[c.Kind]++
	}
	if !rules["identity.officer"] || !rules["velocity.structuring"] || kinds["shared_card"] != 1 {
		t.Fatalf("what the rules caught: %v, cases %v", rules, kinds)
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
	if w.Payouts == nil || len(w.Payouts.Batches) != 1 || len(w.Payouts.Statements) != 2+len(w.Months)-1 || len(w.Payouts.Codes) != len(w.Merchants) {
		t.Fatalf("payouts: %+v (months %+v)", w.Payouts, w.Months)
	}
	for _, id := range w.Payouts.Statements {
		if id == "" {
			t.Fatalf("a statement without its ID: %q", w.Payouts.Statements)
		}
	}
	// The demo clock began two months back: the world paid in three
	// consecutive calendar months, the last one now's.
	if len(w.Months) != 3 || w.Months[2].Period != time.Now().In(demoChina).Format("2006-01") {
		t.Fatalf("months: %+v", w.Months)
	}
	for i, m := range w.Months {
		at, err := time.Parse(time.RFC3339, m.Paid)
		if err != nil || at.In(demoChina).Format("2006-01") != m.Period || len(m.Batches) == 0 {
			t.Errorf("month %d: %+v", i, m)
		}
		if i > 0 {
			prev, _ := time.ParseInLocation("2006-01", w.Months[i-1].Period, demoChina)
			if prev.AddDate(0, 1, 0).Format("2006-01") != m.Period {
				t.Errorf("month %s does not follow %s", m.Period, w.Months[i-1].Period)
			}
		}
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
	// The months over were declared: each form written under
	// DIR/demo/filing/<period>/ in JSON and CSV, its lines summing to its
	// totals and to the declaration; the first month's tax paid; its
	// certificates — the worker's and the merchant's — verify with OpenSSL.
	fl := w.Filing
	if fl == nil || len(fl.Declarations) != len(w.Months)-1 || fl.Dir != filepath.Join(dir, "demo", "filing") {
		t.Fatalf("filing: %+v", fl)
	}
	for i, d := range fl.Declarations {
		if d.Period != w.Months[i].Period || d.Version != 1 || d.Lines == 0 || len(d.Files) != 4 {
			t.Fatalf("declaration %d: %+v", i, d)
		}
		var form struct {
			Lines []struct {
				Worker, Withheld string
			} `json:"lines"`
			Totals struct {
				Lines    int    `json:"lines"`
				Withheld string `json:"withheld"`
			} `json:"totals"`
		}
		b, err := os.ReadFile(filepath.Join(fl.Dir, d.Period, "iit-v1.json"))
		if err != nil || json.Unmarshal(b, &form) != nil {
			t.Fatalf("the IIT form of %s: %v", d.Period, err)
		}
		var sum int64 // the test's own arithmetic, in fen
		for _, l := range form.Lines {
			var y, f int64
			if n, _ := fmt.Sscanf(l.Withheld, "%d.%02d", &y, &f); n != 2 {
				t.Fatalf("withheld %q", l.Withheld)
			}
			sum += y*100 + f
		}
		if len(form.Lines) != d.Lines || form.Totals.Lines != d.Lines || form.Totals.Withheld != d.IIT || fmt.Sprintf("%d.%02d", sum/100, sum%100) != d.IIT {
			t.Fatalf("%s: %d lines summing to %d fen, totals %+v, declared %+v", d.Period, len(form.Lines), sum, form.Totals, d)
		}
		if csv, err := os.ReadFile(filepath.Join(fl.Dir, d.Period, "iit-v1.csv")); err != nil || !bytes.HasPrefix(csv, []byte("worker,method,month,income,")) {
			t.Fatalf("the IIT CSV of %s: %v %.80q", d.Period, err, csv)
		}
	}
	if len(fl.TaxPayments) == 0 || fl.TaxPayments[0].Kind != "iit" || fl.TaxPayments[0].Amount != fl.Declarations[0].IIT {
		t.Fatalf("tax payments: %+v", fl.TaxPayments)
	}
	if len(fl.Certificates) != 2 {
		t.Fatalf("certificates: %+v", fl.Certificates)
	}
	for _, a := range fl.Certificates {
		b, err := os.ReadFile(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		cdir := esigntest.Extract(t, b)
		if out, err := receiptstest.Verify(t, cdir); err != nil || !strings.HasSuffix(out, "Verified OK\n") {
			t.Fatalf("%s: %v\n%s", a.What, err, out)
		}
	}
	// The books: the operating merchant's full invoice of its paid
	// payment and the intermediary merchant's 代开 record, both issued with
	// 20-digit numbers; the sandbox bank's statement of the day the first
	// batch was paid (a day over) reconciled,
	// every payment it lists matched or a case; a merchant's file of the
	// month downloaded.
	bk := w.Books
	if bk == nil || len(bk.Invoices) != 2 {
		t.Fatalf("books: %+v", bk)
	}
	invModels := map[string]string{}
	for _, inv := range bk.Invoices {
		invModels[inv.Kind] = inv.Model
		if inv.Status != "issued" || len(inv.Number) != 20 || inv.Total == "" {
			t.Errorf("invoice %+v", inv)
		}
	}
	if invModels["full"] != "operating" || invModels["worker"] != "intermediary" {
		t.Errorf("invoice kinds: %v", invModels)
	}
	if bk.Statement == "" || bk.Expected == 0 || bk.Matched == 0 || bk.Matched+len(bk.Cases) < bk.Expected {
		t.Errorf("the statement: %+v", bk)
	}
	if b, err := os.ReadFile(bk.File); err != nil || !bytes.HasPrefix(b, []byte("ref,bank_ref,amount,status,date\n")) {
		t.Errorf("the statement file: %v", err)
	}
	if b, err := os.ReadFile(bk.Merchant); err != nil || len(b) == 0 {
		t.Errorf("the merchant's file: %v", err)
	}
	// The books of the stopped demo node hold.
	if code, out, errOut := run(t, "", "ledger", "verify", "--data", dir); code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("ledger verify: exit %d\n%s\n%s", code, out, errOut)
	}
	// The node is marked demo; a second run serves it without filling again,
	// its gateway on the address node.json kept, and the bureaus the world
	// registered pull and verify the feed with the reference client.
	checkDemoGateway(t, dir, &w, api, cl)
	// The canary: no worker's name, ID number, phone or card is anywhere on
	// the node's disk in the clear — state with the gateway's feed and what
	// it served, Raft log, documents, the bank's journal — outside DIR/demo,
	// where the demo writes what it registered for the evaluator.
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
	checkDemoDestroyed(t, dir, &w)
	// A node that is not a demo node is refused.
	other := filepath.Join(t.TempDir(), "plain")
	if code, _, errOut := run(t, "", "init", "--data", other, "--listen", loopback.FreeAddr(), "--cluster", loopback.FreeAddr()); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	if code, _, errOut := run(t, "", "demo", "--data", other, "--fill-only"); code != 2 || !strings.Contains(errOut, "not a demo node") {
		t.Fatalf("demo on a plain node: exit %d %s", code, errOut)
	}
}

// checkDemoGateway serves the demo node dir again (no second fill) and has
// the world's two bureaus pull its feed with cxt gateway pull, as the
// world's hints say: the whole feed for the platform's office, every fact
// type the demo made, each payment booked once; the merchant's office's
// chain only for the other; each folder verified by cxt gateway verify and
// docs/gateway-verify.py.
func checkDemoGateway(t *testing.T, dir string, w *demo.World, api, cl string) {
	t.Helper()
	if w.GatewayURL == "" || w.Platform == nil || len(w.Bureaus) != 2 {
		t.Fatalf("the world has no gateway: %q %+v %+v", w.GatewayURL, w.Platform, w.Bureaus)
	}
	if w.GatewayCA != filepath.Join(dir, "gateway.pem") || w.BureauKey != filepath.Join(dir, "demo", "bureau-sm2.pem") ||
		w.BureauOfficeKey != filepath.Join(dir, "demo", "bureau-office-sm2.pem") {
		t.Fatalf("gateway files: %s %s %s", w.GatewayCA, w.BureauKey, w.BureauOfficeKey)
	}
	office := w.Merchants[0].TaxOffice // the paying merchant's
	if w.Bureaus[0].Offices[0] != w.Platform.Office || len(w.Bureaus[1].Offices) != 1 || w.Bureaus[1].Offices[0] != office {
		t.Fatalf("bureaus %+v: want the platform's office %s and the paying merchant's %s", w.Bureaus, w.Platform.Office, office)
	}
	for _, m := range w.Merchants {
		if m.TaxOffice == "" || m.TaxOffice == w.Platform.Office {
			t.Fatalf("merchant %s files with %q, the platform with %s: office scoping would not show", m.ID, m.TaxOffice, w.Platform.Office)
		}
	}
	hints := strings.Join(w.Try, "\n")
	for _, want := range []string{"cxt gateway pull --client-key " + w.BureauKey + " --url " + w.GatewayURL + " --ca " + w.GatewayCA + " --after 0 --out ", "cxt gateway verify ", "--client-key " + w.BureauOfficeKey} {
		if !strings.Contains(hints, want) {
			t.Fatalf("the world's hints lack %q:\n%s", want, hints)
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	served := make(chan int, 1)
	go func() {
		served <- MainContext(ctx, []string{"demo", "--data", dir, "--listen", api, "--cluster", cl}, strings.NewReader(""), &out, &errOut)
	}()
	stopped := false
	halt := func() {
		if stopped {
			return
		}
		stopped = true
		stop()
		select {
		case code := <-served:
			if code != 0 {
				t.Errorf("serving the demo again: exit %d\n%s\n%s", code, out.String(), errOut.String())
			}
		case <-time.After(time.Minute):
			t.Errorf("the demo node did not stop")
		}
	}
	defer halt()
	gw := strings.TrimPrefix(w.GatewayURL, "https://")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", gw); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo's gateway %s never listened", gw)
		}
	}

	pull := func(key, into string) []feed.WireEntry {
		t.Helper()
		if code, out, errOut := run(t, "", "gateway", "pull", "--client-key", key, "--url", w.GatewayURL, "--ca", w.GatewayCA, "--after", "0", "--out", into); code != 0 {
			t.Fatalf("pull with %s: exit %d\n%s\n%s", key, code, out, errOut)
		}
		if code, out, errOut := run(t, "", "gateway", "verify", into); code != 0 {
			t.Fatalf("verify %s: exit %d\n%s\n%s", into, code, out, errOut)
		}
		py, err := exec.Command("python3", filepath.Join("..", "..", "docs", "gateway-verify.py"), into).CombinedOutput()
		if err != nil || strings.TrimSpace(string(py)) != "whole" {
			t.Fatalf("docs/gateway-verify.py %s: %v\n%s", into, err, py)
		}
		var entries []feed.WireEntry
		for n := 1; ; n++ {
			b, err := os.ReadFile(filepath.Join(into, fmt.Sprintf("page-%d.json", n)))
			if os.IsNotExist(err) {
				break
			}
			var p feed.Page
			if err != nil || json.Unmarshal(b, &p) != nil {
				t.Fatalf("page %d of %s: %v", n, into, err)
			}
			entries = append(entries, p.Entries...)
		}
		return entries
	}
	pulled := t.TempDir()
	all := pull(w.BureauKey, filepath.Join(pulled, "platform"))
	mine := pull(w.BureauOfficeKey, filepath.Join(pulled, "office"))
	halt()
	if strings.Contains(out.String(), "filling") || !strings.Contains(out.String(), "cxt gateway pull --client-key "+w.BureauKey) {
		t.Fatalf("the demo served again:\n%s", out.String())
	}

	// The whole feed: every fact type the demo made, as many as it made.
	types := map[string]int{}
	inOffice := 0
	for _, e := range all {
		types[e.Type]++
		if e.Office == office {
			inOffice++
		}
	}
	pb := w.Payouts.Batches[0]
	workers := len(w.Workers)
	for typ, want := range map[string]int{
		"merchant.registered": len(w.Merchants), "merchant.status": -1, "worker.registered": workers + len(w.Destroyed), "archive.destroyed": len(w.Destroyed), "worker.linked": -1,
		"worker.checked": -1, "agreement.signed": len(w.Merchants) + workers, "task.published": len(w.Tasks),
		"task.work_accepted": workers, "topup.credited": -1, "payments.booked": -1, "payments.paid": -1,
		"payments.failed": -1, "payments.returned": -1,
	} {
		if types[typ] == 0 || want > 0 && types[typ] != want {
			t.Errorf("the feed holds %d %s entries, want %d (types: %v)", types[typ], typ, want, types)
		}
	}
	// Each payment of the batch is booked in exactly one entry; each
	// outcome is reported as the batch ended.
	later := map[string]bool{} // the batches of the months after the first (demo.Month)
	for _, m := range w.Months[1:] {
		for _, b := range m.Batches {
			later[b] = true
		}
	}
	laterBooked := map[string]int{}
	moved := func(entries []feed.WireEntry, typ string) map[string]int {
		t.Helper()
		got := map[string]int{}
		for _, e := range entries {
			if e.Type != typ {
				continue
			}
			var p struct {
				Payments []struct{ Payment, Batch string } `json:"payments"`
			}
			if err := json.Unmarshal([]byte(e.Payload), &p); err != nil {
				t.Fatalf("%s payload: %v", typ, err)
			}
			for _, x := range p.Payments {
				if w.Risk != nil && x.Batch == w.Risk.Batch || w.Books != nil && slices.Contains(w.Books.Batches, x.Batch) {
					continue // the risk plants' batch (demo.Risk), a batch paid to invoice (demo.Books)
				}
				if later[x.Batch] {
					if typ == "payments.booked" {
						laterBooked[x.Payment]++
					}
					continue
				}
				if x.Batch != pb.ID {
					t.Errorf("%s entry %d moves payment %s of batch %s", typ, e.Seq, x.Payment, x.Batch)
				}
				got[x.Payment]++
			}
		}
		return got
	}
	booked := moved(all, "payments.booked")
	if len(booked) != pb.Rows-pb.Counts["rejected"] {
		t.Errorf("%d payments booked in the feed, the batch booked %d of %d rows (%v)", len(booked), pb.Rows-pb.Counts["rejected"], pb.Rows, pb.Counts)
	}
	for id, n := range booked {
		if n != 1 {
			t.Errorf("payment %s is in %d payments.booked entries", id, n)
		}
	}
	// Each later month paid every worker of the first merchant once.
	if perMerchant := len(w.Workers) / len(w.Merchants); len(laterBooked) != perMerchant*len(later) {
		t.Errorf("%d payments of the later months booked in the feed, want %d workers × %d months", len(laterBooked), perMerchant, len(later))
	}
	for id, n := range laterBooked {
		if n != 1 {
			t.Errorf("payment %s is in %d payments.booked entries", id, n)
		}
	}
	returned := moved(all, "payments.returned")
	for _, id := range pb.Returned {
		if returned[id] != 1 || booked[id] != 1 {
			t.Errorf("returned payment %s: %d returned, %d booked entries", id, returned[id], booked[id])
		}
	}
	if len(returned) != len(pb.Returned) || len(moved(all, "payments.failed")) != pb.Counts["failed"] {
		t.Errorf("returned %d (batch %d), failed %d (batch %d)", len(returned), len(pb.Returned), len(moved(all, "payments.failed")), pb.Counts["failed"])
	}

	// The merchant's office's bureau holds that office's chain, whole, and
	// nothing else: no worker's registration (the platform's only), no
	// other merchant.
	if len(mine) == 0 || len(mine) != inOffice {
		t.Fatalf("office %s: the bureau pulled %d entries, the whole feed has %d of its office", office, len(mine), inOffice)
	}
	mineTypes := map[string]int{}
	for _, e := range mine {
		mineTypes[e.Type]++
		if e.Office != office {
			t.Errorf("office %s's bureau got entry %d of office %q (%s)", office, e.Seq, e.Office, e.Type)
		}
	}
	if mineTypes["merchant.registered"] != 1 || mineTypes["worker.registered"] != 0 || len(moved(mine, "payments.booked")) != len(booked) {
		t.Errorf("office %s's entries: %v", office, mineTypes)
	}
}

var demoChina = time.FixedZone("CST", 8*3600)

// checkDemoDestroyed checks the archive the demo destroyed: the person who
// cancelled is listed under destroyed with their internal ID and resident
// ID number; the deletion their cancellation filed ended with the
// certificate's number; the certificate under DIR/demo/destruction/<worker>/
// verifies with OpenSSL and its manifest names them by internal ID only;
// and nothing they registered is in the clear anywhere in the data folder —
// the demo's own folder included, but for world.json, which lists it for
// the evaluator, and the SMS sink, their phone's inbox.
func checkDemoDestroyed(t *testing.T, dir string, w *demo.World) {
	t.Helper()
	if len(w.Destroyed) != 1 {
		t.Fatalf("destroyed: %+v", w.Destroyed)
	}
	d := w.Destroyed[0]
	if !strings.HasPrefix(d.Worker, "w_") || d.IDNumber == "" || d.IDNumber != d.Registered["id_number"] || d.Request == "" ||
		!strings.HasPrefix(d.Certificate, "DC-") || d.Dir != filepath.Join(dir, "demo", "destruction", d.Worker) {
		t.Fatalf("destroyed: %+v", d)
	}
	if _, err := ident.ParseResidentID(d.IDNumber, time.Now()); err != nil {
		t.Fatalf("the destroyed worker registered an invalid ID: %v", err)
	}
	for _, name := range []string{archives.FilePDF, archives.FileJSON, archives.FileJSONSig, archives.FileSigner} {
		if _, err := os.Stat(filepath.Join(d.Dir, name)); err != nil {
			t.Fatalf("the certificate's %s: %v", name, err)
		}
	}
	archivestest.VerifyOK(t, d.Dir)
	raw, _ := os.ReadFile(filepath.Join(d.Dir, archives.FileJSON))
	var m archives.Manifest
	if err := json.Unmarshal(raw, &m); err != nil || m.Subject != d.Worker || m.Certificate != d.Certificate || m.ProposedBy == m.ApprovedBy {
		t.Fatalf("manifest: %v %+v", err, m)
	}
	for _, a := range w.Accounts {
		if a.Worker == d.Worker {
			t.Errorf("world.json lists the destroyed worker's account %s as one to sign in with", a.Username)
		}
	}
	files := 0
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || path == filepath.Join(dir, "demo", "world.json") || path == filepath.Join(dir, "demo", "sms.jsonl") {
			return nil
		}
		files++
		data, _ := os.ReadFile(path)
		for _, field := range []string{"name", "id_number", "phone", "bank_card"} {
			if v := d.Registered[field]; v == "" || bytes.Contains(data, []byte(v)) {
				t.Errorf("the destroyed worker's %s %q is in the clear in %s", field, v, path)
			}
		}
		return nil
	})
	if files < 10 {
		t.Fatalf("the canary read only %d files", files)
	}
}
