package node

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"cxt/appliance/agreements"
	"cxt/appliance/api"
	"cxt/appliance/archives"
	"cxt/appliance/billing"
	"cxt/appliance/callbacks"
	"cxt/appliance/certificates"
	"cxt/appliance/clients"
	"cxt/appliance/filing"
	"cxt/appliance/identity"
	"cxt/appliance/important"
	"cxt/appliance/insurance"
	"cxt/appliance/invoices"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/privacy"
	"cxt/appliance/receipts"
	"cxt/appliance/reconcile"
	"cxt/appliance/risk"
	"cxt/appliance/subjects"
	"cxt/appliance/tasks"
	"cxt/appliance/tax"
	"cxt/appliance/tax/quotes"
	"cxt/appliance/topups"
	"cxt/appliance/training"
	"cxt/appliance/workers"
	"cxt/gateway/bureaus"
	"cxt/gateway/platform"
	"cxt/gateway/queries"
	gwreceipts "cxt/gateway/receipts"
	"cxt/gateway/reports"
	"cxt/gateway/server"
	"cxt/policy"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// backends are the domains the API serves. The node composes them here,
// and only here: the API pipeline imports none of them.
type backends struct {
	identity   *identity.Backend
	keys       *keys
	approvals  *important.Backend
	quotes     *quotes.Backend
	subjects   *subjectKeys
	merchants  *merchants.Backend
	workers    *workers.Backend
	agreements *agreements.Backend
	tasks      *tasks.Backend
	payouts    *payouts.Backend
	receipts   *receipts.Backend
	billing    *billing.Backend
	topups     *topups.Backend
	clients    *clients.Backend
	callbacks  *callbacks.Backend
	risk       *risk.Backend
	filing     *filing.Backend
	certs      *certificates.Backend
	reconcile  *reconcile.Backend
	invoices   *invoices.Backend
	archives   *archives.Backend
	training   *training.Backend
	insurance  *insurance.Backend
	privacy    *privacy.Backend
	// the tax bureaus' gateway (see gateway.go)
	bureaus    *bureaus.Backend
	platform   *platform.Backend
	gwFeed     *server.Feed
	gwReceipts *gwreceipts.Backend
	gwReports  *reports.Backend
	gwQueries  *queries.Backend
}

// compose builds the backends; authz is the policy in force (nil where no
// request is served, as for an offline state), hashing the password hashes'
// count, login the login policy.
func compose(authz *policy.Authorizer, hashing identity.Hashing, login identity.Policy) *backends {
	id := &identity.Backend{Policy: login, Hashing: hashing, Authz: authz, RiskReplay: replayPayoutRules}
	wk := &workers.Backend{Hashing: hashing, Risk: authz}
	// A deletion request is decided by the archive's retention, and the
	// archive's destruction completes it.
	ar := &archives.Backend{Sources: archiveSources, Complete: privacy.Complete}
	return &backends{
		identity:   id,
		keys:       &keys{},
		approvals:  &important.Backend{Authz: authz, Hashing: hashing},
		quotes:     &quotes.Backend{Tax: tax.Default()},
		subjects:   &subjectKeys{},
		merchants:  &merchants.Backend{Hashing: hashing, Risk: authz, Documents: func() *blob.Store { return nil }},
		workers:    wk, // the sandbox verifies real names unless node.json names a service
		agreements: &agreements.Backend{Factors: id, Workers: agreementParty, Documents: func() *blob.Store { return nil }},
		tasks:      &tasks.Backend{Risk: authz, Documents: func() *blob.Store { return nil }},
		payouts:    &payouts.Backend{Rules: PayoutRules()},
		receipts:   &receipts.Backend{}, // workers.Payee opens the payee; the platform's key signs
		billing:    &billing.Backend{},
		topups:     &topups.Backend{FeeAtTopUp: topUpFee},
		clients:    &clients.Backend{Authz: authz},
		callbacks:  &callbacks.Backend{},
		risk:       &risk.Backend{},
		filing:     &filing.Backend{Rules: FilingRules()},
		certs:      &certificates.Backend{}, // made from the declarations and tax payments; the platform's key signs
		reconcile:  &reconcile.Backend{},
		invoices:   &invoices.Backend{},
		archives:   ar, // the node sets OnDestroyed
		// training's materials are in the blob store; the platform's key signs its certificates
		training:   &training.Backend{Documents: func() *blob.Store { return nil }},
		insurance:  &insurance.Backend{},
		privacy:    &privacy.Backend{Retention: ar.Retention},
		bureaus:    &bureaus.Backend{},
		platform:   &platform.Backend{},
		gwFeed:     &server.Feed{},
		gwReceipts: &gwreceipts.Backend{},
		gwReports:  &reports.Backend{Documents: func() *blob.Store { return nil }},
		gwQueries:  &queries.Backend{Documents: func() *blob.Store { return nil }},
	}
}

// agreementParty is appliance/workers' answer to who a merchant may sign a
// tripartite agreement with, as appliance/agreements asks it.
func agreementParty(r *api.Request, tx *state.ReadTx, merchant, worker string) (*agreements.Worker, error) {
	p, err := workers.FindParty(tx, r.Node.Keys(), merchant, worker)
	if p == nil || err != nil {
		return nil, err
	}
	return &agreements.Worker{ID: p.ID, Name: p.Name, IDNumber: p.IDNumber}, nil
}

// PayoutRules are what every replica decides payments by (the benchmark
// measures with them too). A payment
// references its merchant's task with the worker's work accepted (验收):
// appliance/tasks answers which.
func PayoutRules() *payouts.Rules {
	return &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox", MonthlyLimitFen: payouts.DefaultMonthlyLimitFen, Fee: payoutFee, Statement: feeStatement,
		Reversed: invoices.PaymentReversed, // a payment whose money came back reverses its invoices
		Task: func(tx payouts.Getter, task, merchant, worker string) (int64, error) {
			accepted, err := tasks.AcceptedAmount(tx, task, merchant, worker)
			if err != nil {
				return 0, err
			}
			amount, err := decimal.NewFromString(accepted)
			if err != nil {
				return 0, fmt.Errorf("node: task %s: the work of %s was accepted for %q: %w", task, worker, accepted, err)
			}
			return ledger.Fen(amount)
		}}
}

// FilingRules are what every replica computes declarations by: the tax
// rules the payouts withhold by, and the platform's competent tax office
// (its gateway profile's), where it files VAT and surcharges on the
// workers' behalf.
func FilingRules() *filing.Rules {
	return &filing.Rules{Tax: PayoutRules().Tax, Office: filing.DefaultOffice,
		OfficeOf: func(tx filing.Getter) (string, error) { return platform.Office(tx) }}
}

// feeStatement is appliance/billing's answer to what a merchant charged
// after the month (后收) pays for a month's payments.
func feeStatement(tx payouts.Getter, merchant string, at time.Time) (func([]int64) int64, string, error) {
	cfg, err := billing.Current(tx, merchant, at)
	if err != nil || cfg == nil || cfg.Timing != billing.After {
		return nil, "", err
	}
	return func(fens []int64) int64 {
		amounts := make([]decimal.Decimal, len(fens))
		for i, f := range fens {
			amounts[i] = ledger.Decimal(f)
		}
		fee, _ := cfg.Statement(amounts)
		return fee.Shift(2).IntPart()
	}, fmt.Sprintf("%s/v%d", merchant, cfg.Version), nil
}

// payoutFee is appliance/billing's answer to what a merchant pays on one
// payout: its configuration in force, when it charges during the payout
// (实时); one charged before or after is no per-payment fee.
func payoutFee(tx payouts.Getter, merchant string, at time.Time) (func(int64) int64, string, error) {
	cfg, err := billing.Current(tx, merchant, at)
	if err != nil || cfg == nil || cfg.Timing != billing.During {
		return nil, "", err
	}
	return func(fen int64) int64 {
		fee, _ := cfg.Fee(ledger.Decimal(fen))
		return fee.Shift(2).IntPart()
	}, fmt.Sprintf("%s/v%d", merchant, cfg.Version), nil
}

// topUpFee is appliance/billing's charge at a top-up: a merchant whose
// configuration in force charges before the work is paid (预收) pays the fee
// of the amount topped up, in the command that credits it, naming the
// version. A fee above what the merchant then holds (a fixed fee on a small
// top-up) takes what it holds and no more: the ledger never goes below
// zero, and a statement's chunk is never refused for a fee.
func topUpFee(tx *state.Tx, event, merchant string, fen int64, ref string) error {
	cfg, err := billing.Current(tx, merchant, tx.Time())
	if err != nil || cfg == nil || cfg.Timing != billing.Before {
		return err
	}
	fee, _ := cfg.Fee(ledger.Decimal(fen))
	charge := fee.Shift(2).IntPart()
	held, err := ledger.Balance(tx, ledger.Merchant(merchant))
	if err != nil {
		return err
	}
	if charge = min(charge, held); charge <= 0 {
		return nil
	}
	return ledger.Post(tx, &ledger.Posting{Event: event, Ref: fmt.Sprintf("%s fee %s/v%d", ref, merchant, cfg.Version), Lines: []ledger.Line{
		{Account: ledger.Merchant(merchant), Debit: true, Fen: charge, Cause: ledger.CauseFee},
		{Account: ledger.FeeIncome, Fen: charge, Cause: ledger.CauseFee},
	}})
}

// list is the backends in the order the API lists their routes and the
// state machine registers their commands.
func (b *backends) list() []api.Backend {
	return []api.Backend{b.identity, b.keys, b.approvals, b.quotes, b.subjects, b.merchants, b.workers, b.agreements, b.tasks, b.payouts, b.receipts, b.billing, b.topups, b.clients, b.callbacks, b.risk, b.filing, b.certs, b.reconcile,
		b.invoices, b.archives, b.training, b.insurance, b.privacy, b.bureaus, b.platform, b.gwReceipts, b.gwReports}
}

// subjectKeys keeps the data subjects' keys (package subjects). After a
// subject is shredded each node compacts its Raft log, so that the entry that
// carried the subject's wrapped key leaves raft.db too.
type subjectKeys struct {
	onShred atomic.Pointer[func(subject string)]
}

func (s *subjectKeys) Register(reg *state.Registry) {
	subjects.Register(reg, func(subject string) {
		if f := s.onShred.Load(); f != nil {
			(*f)(subject)
		}
	})
}

func (s *subjectKeys) Routes() []api.Route { return nil }

// mount puts the backends on srv: their routes, identity as the sessions
// every request is authenticated with, the machine clients that sign
// requests instead, and the four-eyes rules previews show.
func (b *backends) mount(srv *api.Server) {
	srv.Sessions, srv.FourEyes, srv.Clients = b.identity, b.approvals, b.clients
	srv.Mount(b.list()...)
}

// Routes lists every route the appliance's API serves, the system routes
// and every backend's, as a node mounts them: the tests of the route ×
// role table and of the policy walk this list.
func Routes() []api.Route {
	srv := &api.Server{}
	compose(nil, identity.Hashing{}, identity.DefaultPolicy).mount(srv)
	return srv.Routes()
}

// routes is the business listener: the API's routes, its health and
// unseal routes among them, each request audited (see api.Server.Handler).
// While sealed only health, status and unseal answer; everything else is
// 503 "sealed".
func (n *Node) routes() http.Handler {
	n.api.System = system{n}
	// Anonymous callers are limited per source before anything of theirs
	// is routed (see api.Server.LimitAnonymous).
	return securityHeaders(n.api.LimitAnonymous(n.api.Handler()))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// healthz is the operator socket's full status.
func (n *Node) healthz(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, n.Status())
}

// system is the node as the API's health and unseal routes see it.
type system struct{ n *Node }

func (s system) Health() api.Health {
	st := s.n.Status()
	return api.Health{Node: st.Node, Role: st.Role, Leader: st.Leader, AppliedIndex: st.AppliedIndex, Sealed: st.Sealed}
}

func (s system) Detail() any { return s.n.Status() }

func (s system) Unseal(ctx context.Context, share string) (any, error) {
	return s.n.Unseal(ctx, share)
}
