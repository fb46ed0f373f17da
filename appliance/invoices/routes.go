package invoices

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"cxt/appliance/agreements"
	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/policy"
	"cxt/storage/state"
)

// Backend serves invoices over the API.
type Backend struct {
	// Kick wakes the driver after an issue; nil: it finds the work on its
	// next round.
	Kick func()
}

// Register adds the invoices' buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the invoices' endpoints: a merchant's users read and ask for
// their own; the platform's operators also let them be issued, record 代开
// numbers, deliver, reverse and export; its reviewers read.
func (b *Backend) Routes() []api.Route {
	const read, write = api.Read, api.Write
	return []api.Route{
		{Method: "POST", Path: "/api/v1/merchants/{id}/invoices", Action: "invoices.request", Kind: write, Resource: merchants.Resource, Handle: b.request},
		{Method: "GET", Path: "/api/v1/invoices", Action: "invoices.list", Kind: read, Handle: b.list},
		{Method: "GET", Path: "/api/v1/invoices/export", Action: "invoices.export", Kind: read, Handle: b.export},
		{Method: "GET", Path: "/api/v1/invoices/{invoice}", Action: "invoices.read", Kind: read, Resource: Resource, Handle: b.read},
		{Method: "POST", Path: "/api/v1/invoices/{invoice}/issue", Action: "invoices.issue", Kind: write, Resource: Resource, Handle: b.issue},
		{Method: "POST", Path: "/api/v1/invoices/{invoice}/deliver", Action: "invoices.deliver", Kind: write, Resource: Resource, Handle: b.deliver},
		{Method: "POST", Path: "/api/v1/invoices/{invoice}/reverse", Action: "invoices.reverse", Kind: write, Resource: Resource, Handle: b.reverse},
	}
}

// Resource is an invoice: its merchant's; another tenant's is absent.
func Resource(r *api.Request) (api.Resource, error) {
	return r.Tenancy(api.Resource{Resource: policy.Resource{Label: 1, Tenanted: true}, Noun: "invoice"},
		func(tx *state.ReadTx) (policy.Resource, error) {
			inv, err := Get(tx, r.Var("invoice"))
			if err != nil {
				return policy.Resource{}, err
			}
			return inv.Tenancy(), nil
		})
}

var moneyPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$`)

// request asks for an invoice of the merchant's payments. The seller is the
// platform as the e-signing authority names it (a 代开 invoice's: the
// worker), the buyer the merchant with its credit code.
func (b *Backend) request(r *api.Request) (int, any, error) {
	const op = "request invoice"
	var in struct {
		Kind     Kind     `json:"kind"`
		Worker   string   `json:"worker"`
		Payments []string `json:"payments"`
		Total    string   `json:"total"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if !in.Kind.Valid() {
		return 0, nil, errs.Coded(op, errs.Invalid, CodeKind.String(), "kind: full (参与经营型), fee or worker (中间介绍型)")
	}
	if len(in.Payments) == 0 || len(in.Payments) > MaxPayments {
		return 0, nil, errs.Coded(op, errs.Invalid, CodeTooLarge.String(), "payments: 1 to %d payment IDs", MaxPayments)
	}
	cmd := Request{Merchant: r.Var("id"), Kind: in.Kind, Worker: in.Worker, Payments: in.Payments, By: r.Subject.ID}
	if in.Total != "" {
		if !moneyPattern.MatchString(in.Total) {
			return 0, nil, errs.Coded(op, errs.Invalid, "money_format", "total: yuan with at most 2 decimals, as a string such as \"1000.00\"")
		}
		f, err := ledger.Fen(decimal.RequireFromString(in.Total))
		if err != nil {
			return 0, nil, errs.Coded(op, errs.Invalid, "money_format", "total: %v", err)
		}
		cmd.TotalFen = &f
	}
	err := r.View(func(tx *state.ReadTx) error {
		a, err := agreements.GetAuthority(tx)
		if err != nil {
			return err
		}
		if a == nil {
			return errs.E(op, errs.Conflict, "the platform's name and credit code are not set yet: a system administrator sets up the e-signing authority (POST /api/v1/esign/authority)")
		}
		m, err := merchants.Get(tx, cmd.Merchant)
		if err != nil {
			return err
		}
		key, err := subjects.Key(tx, r.Node.Keys(), m.ID)
		if err != nil {
			return err
		}
		var priv merchants.Private
		if err := subjects.Open(key, merchants.PrivateAAD(m.ID), m.Private, &priv); err != nil {
			return errs.Wrap(op, errs.Internal, err, "merchant %s's record does not open", m.ID)
		}
		cmd.Buyer, cmd.BuyerTaxID = m.Name, priv.USCC
		cmd.Seller, cmd.SellerTaxID = a.PlatformName, a.PlatformUSCC
		if in.Kind == Worker {
			cmd.Seller, cmd.SellerTaxID = in.Worker, ""
		}
		return nil
	})
	if err != nil {
		return 0, nil, api.Classify(err)
	}
	body, _ := json.Marshal(cmd)
	v, err := r.Propose(state.NewCommand(CmdRequest, body, r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var inv Invoice
	if err := json.Unmarshal(v, &inv); err != nil {
		return 0, nil, err
	}
	r.Audit.Object = inv.ID
	return 201, inv.View(), nil
}

func (b *Backend) read(r *api.Request) (int, any, error) {
	var inv *Invoice
	if err := r.View(func(tx *state.ReadTx) (err error) { inv, err = Get(tx, r.Var("invoice")); return }); err != nil {
		return 0, nil, err
	}
	return 200, inv.View(), nil
}

// list answers invoices, newest first: a merchant's users their own.
func (b *Backend) list(r *api.Request) (int, any, error) {
	q := r.HTTP.URL.Query()
	merchant, status, kind := q.Get("merchant"), Status(q.Get("status")), Kind(q.Get("kind"))
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return 0, nil, errs.E("list invoices", errs.Invalid, "limit: 1 to 1000")
		}
		limit = n
	}
	if policy.TenantBound(r.Subject) {
		if r.Subject.Merchant == "" || (merchant != "" && merchant != r.Subject.Merchant) {
			return 200, map[string]any{"invoices": []any{}}, nil // another tenant's: none to see
		}
		merchant = r.Subject.Merchant
	}
	out := []map[string]any{}
	keep := func(inv *Invoice) bool {
		if (merchant == "" || inv.Merchant == merchant) && (status == "" || inv.Status == status) && (kind == "" || inv.Kind == kind) {
			out = append(out, inv.View())
		}
		return len(out) < limit
	}
	err := r.View(func(tx *state.ReadTx) error {
		if merchant != "" {
			// The merchant's own, newest first, from its index.
			prefix := "m/" + merchant + "/"
			return tx.Seek(IndexBucket, []byte(prefix+"\xff"), true, func(k, _ []byte) (bool, error) {
				if !strings.HasPrefix(string(k), prefix) {
					return false, nil
				}
				inv, err := Get(tx, strings.TrimPrefix(string(k), prefix))
				if err != nil {
					return false, err
				}
				return keep(inv), nil
			})
		}
		return tx.Seek(Bucket, nil, true, func(_, v []byte) (bool, error) {
			var inv Invoice
			if err := json.Unmarshal(v, &inv); err != nil {
				return false, err
			}
			return keep(&inv), nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"invoices": out}, nil
}

// export answers the invoices the tax-control system is to issue, as CSV
// or JSON (?format=, default json; ?merchant= narrows it).
func (b *Backend) export(r *api.Request) (int, any, error) {
	q := r.HTTP.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		return 0, nil, errs.E("export invoices", errs.Invalid, "format: json or csv")
	}
	var lines []Line
	if err := r.View(func(tx *state.ReadTx) (err error) { lines, err = Pending(tx, q.Get("merchant")); return }); err != nil {
		return 0, nil, err
	}
	if format == "csv" {
		body, err := CSV(lines)
		if err != nil {
			return 0, nil, err
		}
		return 200, &api.Raw{ContentType: "text/csv; charset=utf-8", Name: "invoices.csv", Body: body}, nil
	}
	body, err := JSON(lines)
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: "application/json", Body: body, Inline: true}, nil
}

func (b *Backend) issue(r *api.Request) (int, any, error) {
	var in struct {
		Number string `json:"number"`
	}
	if r.HTTP.ContentLength != 0 {
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	v, err := b.propose(r, CmdIssue, Issue{Invoice: r.Var("invoice"), Number: in.Number, By: r.Subject.ID})
	if err != nil {
		return 0, nil, err
	}
	if b.Kick != nil {
		b.Kick()
	}
	return 200, v, nil
}

func (b *Backend) deliver(r *api.Request) (int, any, error) {
	var in struct {
		To string `json:"to"`
	}
	if r.HTTP.ContentLength != 0 {
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	v, err := b.propose(r, CmdDeliver, Deliver{Invoice: r.Var("invoice"), To: in.To, By: r.Subject.ID})
	if err != nil {
		return 0, nil, err
	}
	return 200, v, nil
}

func (b *Backend) reverse(r *api.Request) (int, any, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Reason == "" {
		return 0, nil, errs.E("reverse invoice", errs.Invalid, "reason: why the invoice is reversed (红冲)")
	}
	if _, err := b.propose(r, CmdReverse, Reverse{Invoice: r.Var("invoice"), Reason: in.Reason, By: r.Subject.ID}); err != nil {
		return 0, nil, err
	}
	if b.Kick != nil {
		b.Kick()
	}
	var inv *Invoice
	if err := r.View(func(tx *state.ReadTx) (err error) { inv, err = Get(tx, r.Var("invoice")); return }); err != nil {
		return 0, nil, err
	}
	return 200, inv.View(), nil
}

// propose runs a command on the invoice the route names and answers it as
// it is after.
func (b *Backend) propose(r *api.Request, typ string, body any) (map[string]any, error) {
	r.Audit.Object = r.Var("invoice")
	raw, _ := json.Marshal(body)
	v, err := r.Propose(state.NewCommand(typ, raw, r.Now()))
	if err != nil {
		return nil, err
	}
	if typ == CmdReverse {
		return nil, nil
	}
	var inv Invoice
	if err := json.Unmarshal(v, &inv); err != nil {
		return nil, err
	}
	return inv.View(), nil
}
