package aftermonth_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/billing"
	"cxt/appliance/certificates"
	"cxt/appliance/channel"
	"cxt/appliance/contracts"
	"cxt/appliance/filing"
	"cxt/appliance/invoices"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/reconcile"
	"cxt/appliance/subjects"
	"cxt/appliance/tax"
	"cxt/appliance/workers"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// The world is one state machine speaking every domain the month after
// the payout touches, with the parties seeded as payoutstest puts them
// and two test commands: cmdModel gives merchants their operating model
// (onboarding's choice), cmdPost books any posting — what no command of
// the product would, so that the test can show the auditors catch it.
const (
	cmdModel    = "test.model"
	cmdPost     = "test.post"
	cmdIdentity = "test.identity"
)

// identity gives a seeded worker what onboarding would: a subject key and
// their name and ID number sealed under it (the certificate states them).
type identity struct {
	Worker  string          `json:"worker"`
	Fresh   subjects.Fresh  `json:"fresh"`
	Private subjects.Sealed `json:"private"`
}

func applyIdentity(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in identity
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, err
	}
	if err := subjects.Install(tx, in.Worker, in.Fresh); err != nil {
		return nil, err
	}
	wk, err := workers.Get(tx, in.Worker)
	if err != nil {
		return nil, err
	}
	wk.Private = in.Private
	v, err := json.Marshal(wk)
	if err != nil {
		return nil, err
	}
	return nil, tx.Put(workers.Bucket, []byte(in.Worker), v)
}

// giveIdentity seals a worker's name and ID number as onboarding would.
func (w *world) giveIdentity(worker, name, idNumber string) {
	w.t.Helper()
	key, fresh, err := subjects.NewKey(w.Keys, worker)
	if err != nil {
		w.t.Fatal(err)
	}
	sealed, err := subjects.Seal(key, workers.PrivateAAD(worker), workers.Private{Name: name, IDNumber: idNumber, Phone: "13800138000"})
	if err != nil {
		w.t.Fatal(err)
	}
	w.ok(cmdIdentity, identity{Worker: worker, Fresh: fresh, Private: sealed})
}

type world struct {
	*statetest.Machine
	t *testing.T
}

// feeOf is the fee the billing rules below make of a payment of fen, half
// up to the fen — computed here, not by billing: m1 1 %, m2 2 %.
func feeOf(merchant string, fen int64) int64 {
	if merchant == "m1" {
		return (fen + 50) / 100
	}
	return (fen*2 + 50) / 100
}

// slip reports whether the node books m1's fee one fen too high: the
// mistake the fee check is there to find (amounts ending in 37 fen).
func slip(merchant string, fen int64) bool { return merchant == "m1" && fen%100 == 37 }

func newWorld(t *testing.T) *world {
	rules := &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox", MonthlyLimitFen: 0, // no monthly limit: a month above 100,000.00 shows VAT
		Reversed: invoices.PaymentReversed}
	// The fee per payout as the node computes it from billing (its
	// payoutFee) — with the slip.
	rules.Fee = func(tx payouts.Getter, merchant string, at time.Time) (func(int64) int64, string, error) {
		cfg, err := billing.Current(tx, merchant, at)
		if err != nil || cfg == nil || cfg.Timing != billing.During {
			return nil, "", err
		}
		return func(fen int64) int64 {
			f, _ := cfg.Fee(ledger.Decimal(fen))
			fee := f.Shift(2).IntPart()
			if slip(merchant, fen) {
				fee++
			}
			return fee
		}, fmt.Sprintf("%s/v%d", merchant, cfg.Version), nil
	}
	m := statetest.New(t, func(reg *state.Registry) {
		payoutstest.Register(reg, rules)
		filing.Register(reg, &filing.Rules{Tax: tax.Default(), Office: "office-test"})
		invoices.Register(reg)
		reconcile.Register(reg)
		subjects.Register(reg, nil)
		reg.HandleFrom(state.MoneySet, cmdModel, applyModel)
		reg.HandleFrom(state.PartiesSet, cmdIdentity, applyIdentity)
		reg.HandleFrom(state.FilingSet, cmdPost, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			var p ledger.Posting
			if err := json.Unmarshal(cmd.Body, &p); err != nil {
				return nil, err
			}
			return nil, ledger.Post(tx, &p)
		})
	})
	m.Now = time.Date(2026, 12, 1, 9, 0, 0, 0, payouts.China)
	return &world{Machine: m, t: t}
}

func applyModel(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in map[string]merchants.OperatingModel
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, err
	}
	for id, mo := range in {
		m, err := merchants.Get(tx, id)
		if err != nil {
			return nil, err
		}
		m.Model = mo
		v, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		if err := tx.Put(merchants.Bucket, []byte(id), v); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (w *world) ok(typ string, body any) []byte {
	w.t.Helper()
	res := w.Send(typ, body)
	if res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
	return res.Value
}

// refused sends a command that must be refused with code.
func (w *world) refused(code, typ string, body any) {
	w.t.Helper()
	res := w.Send(typ, body)
	if got := statetest.Code(res.Err); got != code {
		w.t.Fatalf("%s: %v, want %s", typ, res.Err, code)
	}
}

func (w *world) into(b []byte, v any) {
	w.t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) view(fn func(*state.ReadTx) error) {
	w.t.Helper()
	if err := w.State.View(fn); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) payment(id string) *payouts.Payment {
	w.t.Helper()
	var p *payouts.Payment
	w.view(func(r *state.ReadTx) (err error) { p, err = payouts.GetPayment(r, id); return })
	return p
}

func (w *world) payments() map[string]*payouts.Payment {
	w.t.Helper()
	out := map[string]*payouts.Payment{}
	w.view(func(r *state.ReadTx) error {
		return payouts.Payments(r, func(p *payouts.Payment) error { out[p.ID] = p; return nil })
	})
	return out
}

func (w *world) balance(account string) int64 {
	w.t.Helper()
	var b int64
	w.view(func(r *state.ReadTx) (err error) { b, err = ledger.Balance(r, account); return })
	return b
}

func (w *world) invoice(id string) *invoices.Invoice {
	w.t.Helper()
	var inv *invoices.Invoice
	w.view(func(r *state.ReadTx) (err error) { inv, err = invoices.Get(r, id); return })
	return inv
}

func (w *world) allInvoices() []*invoices.Invoice {
	w.t.Helper()
	var out []*invoices.Invoice
	w.view(func(r *state.ReadTx) error {
		return r.ForEach(invoices.Bucket, func(_, v []byte) error {
			var inv invoices.Invoice
			if err := json.Unmarshal(v, &inv); err != nil {
				return err
			}
			out = append(out, &inv)
			return nil
		})
	})
	return out
}

func (w *world) cases() map[string]*reconcile.Case {
	w.t.Helper()
	out := map[string]*reconcile.Case{}
	w.view(func(r *state.ReadTx) error {
		return r.ForEach(reconcile.CasesBucket, func(_, v []byte) error {
			var c reconcile.Case
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			out[c.ID] = &c
			return nil
		})
	})
	return out
}

// declaration is the current (0) or a given version of December.
func (w *world) declaration(version int) *filing.Declaration {
	w.t.Helper()
	var d *filing.Declaration
	w.view(func(r *state.ReadTx) (err error) { d, err = filing.Get(r, filing.Platform, "2026-12", version); return })
	return d
}

func (w *world) ledgerIIT() int64 {
	w.t.Helper()
	p, err := filing.ParsePeriod("2026-12")
	if err != nil {
		w.t.Fatal(err)
	}
	var fen int64
	w.view(func(r *state.ReadTx) (err error) { fen, err = filing.LedgerIIT(r, p); return })
	return fen
}

// auditors runs the independent auditor and the tax payments' audit and
// returns what they found.
func (w *world) auditors() []string {
	w.t.Helper()
	var rep *payouts.Report
	var more []string
	w.view(func(r *state.ReadTx) (err error) {
		if rep, err = payouts.Verify(r); err != nil {
			return err
		}
		more, err = filing.Audit(r)
		return err
	})
	return append(rep.Problems, more...)
}

// results reports the channel's word on payments as the driver would,
// from the cursor the driver left, so that it reads on from there.
func (w *world) results(status payouts.Status, ids ...string) payouts.Outcome {
	w.t.Helper()
	var cursor string
	w.view(func(r *state.ReadTx) (err error) { cursor, err = payouts.Cursor(r, "sandbox"); return })
	in := payouts.Results{Channel: "sandbox", Cursor: cursor}
	for _, id := range ids {
		in.Items = append(in.Items, payouts.Result{Payment: id, Status: status, Reason: "the receiving account is closed", At: w.Now})
	}
	var out payouts.Outcome
	w.into(w.ok(payouts.CmdResults, in), &out)
	return out
}

// importFile reconciles a statement as the API does: parsed, held against
// a read of the payments, proposed as one command.
func (w *world) importFile(day reconcile.Day, data []byte) (*reconcile.Statement, *state.Rejection, error) {
	w.t.Helper()
	f, err := reconcile.ParseStatement(data)
	if err != nil {
		return nil, nil, err
	}
	var in *reconcile.Import
	w.view(func(r *state.ReadTx) (err error) {
		in, _, err = reconcile.Prepare(r, "sandbox", day, "statement.csv", data, f, "op-1")
		return
	})
	res := w.Send(reconcile.CmdImport, in)
	if res.Err != nil {
		return nil, res.Err, nil
	}
	var st reconcile.Statement
	w.into(res.Value, &st)
	return &st, nil, nil
}

// proposer is the world as the drivers propose to it.
type proposer struct{ w *world }

func (p *proposer) State() *state.State { return p.w.State }

func (p *proposer) ProposeOK(_ context.Context, cmd *state.Command) ([]byte, error) {
	res := p.w.Apply(cmd)
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Value, nil
}

// recorder is the sandbox bank as the channel's own records: what it was
// handed (reference, amount, its reference) and every event it reported.
// The channel's statement is written from these, not from the platform.
type recorder struct {
	channel.Channel
	mu     sync.Mutex
	orders map[string]order
	events []channel.Event
	seen   map[string]bool // ref/status: an event reported twice is one
}

type order struct {
	fen  int64
	bank string
}

func (r *recorder) Submit(ctx context.Context, orders []channel.Order) ([]channel.Ack, error) {
	acks, err := r.Channel.Submit(ctx, orders)
	r.mu.Lock()
	defer r.mu.Unlock()
	fen := map[string]int64{}
	for _, o := range orders {
		fen[o.Ref] = o.Fen
	}
	for _, a := range acks {
		if _, ok := r.orders[a.Ref]; !ok && a.Refused == "" {
			r.orders[a.Ref] = order{fen: fen[a.Ref], bank: a.ChannelRef}
		}
	}
	return acks, err
}

func (r *recorder) Results(ctx context.Context, cursor string, limit int) ([]channel.Event, string, error) {
	evs, next, err := r.Channel.Results(ctx, cursor, limit)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		if k := e.Ref + "/" + e.Status; !r.seen[k] {
			r.seen[k] = true
			r.events = append(r.events, e)
		}
	}
	return evs, next, err
}

// certificate makes a worker's tax-payment certificate of December as the
// API does — scoped to merchant's payments unless "" — and its signed zip.
func (w *world) certificate(worker, merchant string) (*certificates.Certificate, []byte, error) {
	w.t.Helper()
	var c *certificates.Certificate
	var auth *agreements.Authority
	err := w.State.View(func(r *state.ReadTx) (err error) {
		c, auth, err = certificates.Gather(r, w.Keys, filing.Platform, "2026-12", worker, merchant)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	ren, err := contracts.NewRenderer(contracts.DefaultFonts)
	if err != nil {
		w.t.Fatal(err)
	}
	pdf, err := certificates.Render(ren, c)
	if err != nil {
		w.t.Fatal(err)
	}
	keys, err := auth.Open(w.Keys, func() time.Time { return w.Now })
	if err != nil {
		w.t.Fatal(err)
	}
	z, err := certificates.Bundle(c, pdf.PDF, keys.Platform, keys.CA.Cert, w.Now)
	if err != nil {
		w.t.Fatal(err)
	}
	return c, z, nil
}

// openssl unpacks a certificate's zip and runs the README's commands
// (certificates.Verify) with OpenSSL; changed, one byte of the PDF is
// altered first and the verification must fail.
func openssl(t *testing.T, z []byte, at time.Time, changed bool) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("the certificates are verified with OpenSSL 3, which this machine lacks")
	}
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if changed && f.Name == certificates.FilePDF {
			b[len(b)/2] ^= 1
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", "-ec", certificates.Doc.Verify(strconv.FormatInt(at.Unix(), 10)))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	ok := err == nil && strings.Contains(string(out), "Verified OK")
	if ok == changed {
		t.Fatalf("openssl on a certificate (changed: %v): %v\n%s", changed, err, out)
	}
}
