package billing

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/merchants"
	"cxt/storage/state"
)

// Backend serves the merchants' fee configurations over the API.
type Backend struct{}

// Register adds the billing buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the billing endpoints, under the merchant they price: its
// own users and platform staff read and preview (merchants.Resource keeps
// other merchants' users out), a platform operator sets a new version.
func (b *Backend) Routes() []api.Route {
	m := merchants.Resource
	return []api.Route{
		{Method: "GET", Path: "/api/v1/merchants/{id}/billing", Action: "billing.read", Kind: api.Read, Resource: m, Handle: b.list},
		{Method: "POST", Path: "/api/v1/merchants/{id}/billing", Action: "billing.set", Kind: api.Important, Resource: m, Prepare: b.set},
		{Method: "POST", Path: "/api/v1/merchants/{id}/billing/preview", Action: "billing.preview", Kind: api.Read, Resource: m, Handle: b.preview},
	}
}

// MaxPreview bounds the amounts one preview prices.
const MaxPreview = 1000

// examples are the amounts a new version's preview prices, so that whoever
// confirms it sees what it charges.
var examples = []decimal.Decimal{decimal.NewFromInt(100), decimal.NewFromInt(1000), decimal.NewFromInt(10000)}

// invalid turns a model's refusal into the API's, naming its field.
func invalid(op string, err error) error {
	e := &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Msg: err.Error(), Err: err}
	var fe *FieldError
	if errors.As(err, &fe) {
		e.Field = fe.Field
	}
	return e
}

// list answers every version of the merchant's fees, oldest first, and the
// one in force now.
func (b *Backend) list(r *api.Request) (int, any, error) {
	id, now := r.Var("id"), r.Now()
	var all []*Config
	var current *Config
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		if all, err = Versions(tx, id); err != nil {
			return err
		}
		current, err = Current(tx, id, now)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	out := map[string]any{"merchant": id, "today": Day(now), "versions": all, "current": nil}
	if current != nil {
		out["current"] = current.Version
	}
	return 200, out, nil
}

// previewIn asks what amounts would be charged on a day.
type previewIn struct {
	Amount  Money   `json:"amount"`
	Amounts []Money `json:"amounts"`
	Date    string  `json:"date"`
}

// preview prices one amount or a list under the version in force on a day
// (today by default): each fee and the rule that produced it.
func (b *Backend) preview(r *api.Request) (int, any, error) {
	const op = "preview fees"
	var in previewIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	amounts := in.Amounts
	switch {
	case in.Amount.IsZero() == (in.Amounts == nil):
		return 0, nil, errs.E(op, errs.Invalid, "send either amount (one payment) or amounts (a list), as decimal strings such as \"1000.00\"")
	case !in.Amount.IsZero():
		amounts = []Money{in.Amount}
	case len(in.Amounts) == 0 || len(in.Amounts) > MaxPreview:
		return 0, nil, &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: "amounts", Msg: "amounts: 1 to 1000 amounts"}
	}
	day := Day(r.Now())
	if in.Date != "" {
		d, err := ParseDate(in.Date)
		if err != nil {
			return 0, nil, invalid(op, fieldErr("date", "%v", err))
		}
		day = d
	}
	values := make([]decimal.Decimal, len(amounts))
	for i, a := range amounts {
		if a.IsZero() {
			return 0, nil, invalid(op, fieldErr("amounts", "amounts[%d] is null: every amount is a decimal string", i))
		}
		values[i] = a.Decimal()
	}
	id := r.Var("id")
	var c *Config
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		c, err = Current(tx, id, day.Start())
		return err
	}); err != nil {
		return 0, nil, err
	}
	out := quote(c, values)
	out["merchant"], out["date"] = id, day
	if c == nil {
		out["note"] = "no fee configuration is in force on " + string(day) + ": nothing is charged"
	}
	return 200, out, nil
}

// quote prices amounts under c as c's timing charges them: each payment's
// fee (before, during; and with no configuration: nothing), or the
// period's statement (after).
func quote(c *Config, amounts []decimal.Decimal) map[string]any {
	out := map[string]any{"config": nil}
	if c != nil {
		out["config"] = map[string]any{"version": c.Version, "effective": c.Effective, "timing": c.Timing}
	}
	if c != nil && c.Timing == After {
		fee, charges := c.Statement(amounts)
		base := decimal.Zero
		for _, a := range amounts {
			base = base.Add(a)
		}
		out["statement"] = map[string]any{"payments": len(amounts), "base": yuan(base), "fee": yuan(fee), "charges": orEmpty(charges)}
		out["total"] = yuan(fee)
		return out
	}
	payments := make([]map[string]any, len(amounts))
	total := decimal.Zero
	for i, a := range amounts {
		fee, charges := c.Fee(a)
		total = total.Add(fee)
		payments[i] = map[string]any{"amount": yuan(a), "fee": yuan(fee), "charges": orEmpty(charges)}
	}
	out["payments"], out["total"] = payments, yuan(total)
	return out
}

func orEmpty(c []Charge) []Charge {
	if c == nil {
		return []Charge{}
	}
	return c
}

// configIn is a new version as a platform operator sends it.
type configIn struct {
	Effective string `json:"effective"`
	Timing    Timing `json:"timing"`
	Rules     []Rule `json:"rules"`
	Note      string `json:"note"`
}

// set records a new version of the merchant's fees (an important
// operation): the preview shows the version, the one it follows and what
// it charges on example amounts; the confirm records it, once.
func (b *Backend) set(r *api.Request) (*api.Op, error) {
	const op = "set fees"
	var in configIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	c := &Config{Merchant: r.Var("id"), Effective: Date(in.Effective), Timing: in.Timing, Rules: in.Rules, Note: in.Note, By: r.Subject.ID}
	if err := c.Validate(); err != nil {
		return nil, invalid(op, err)
	}
	if today := Day(r.Now()); c.Effective < today {
		return nil, &errs.Error{Op: op, Kind: errs.Invalid, Code: CodeBackdated.String(), Field: "effective",
			Msg: "a version takes effect today (" + string(today) + ", China's calendar) or later: fees already charged are never re-priced"}
	}
	var m *merchants.Merchant
	var prev *Config
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		if m, err = merchants.Get(tx, c.Merchant); err != nil {
			return err
		}
		index, err := Index(tx, c.Merchant)
		if err != nil || len(index) == 0 {
			return err
		}
		prev, err = Version(tx, c.Merchant, index[len(index)-1].Version)
		return err
	})
	if err != nil {
		return nil, err
	}
	if m.Status == merchants.Closed || m.Status == merchants.Rejected {
		return nil, errs.Coded(op, errs.Conflict, "merchant_status", "a %s merchant is charged no fees", m.Status)
	}
	c.Version = 1
	replaces := any(nil)
	if prev != nil {
		if c.Effective <= prev.Effective {
			return nil, &errs.Error{Op: op, Kind: errs.Conflict, Code: CodeVersion.String(), Field: "effective",
				Msg: "version " + strconv.Itoa(prev.Version) + " takes effect on " + string(prev.Effective) + ": a new version takes effect after it"}
		}
		c.Version = prev.Version + 1
		replaces = map[string]any{"version": prev.Version, "effective": prev.Effective, "timing": prev.Timing, "rules": prev.Rules}
	}
	r.Audit.Object = c.Merchant
	risks := []string{
		"from " + string(c.Effective) + " (00:00 in China) every " + charged[c.Timing] + " is charged under version " + strconv.Itoa(c.Version) + "; earlier charges keep the version they were made under",
		"a version is never changed or removed: a correction is another version, from a later day",
	}
	if c.Effective == Day(r.Now()) {
		risks = append(risks, "it takes effect today: what is charged from now on uses it, and today cannot be given another version")
	}
	return &api.Op{
		Impact: map[string]any{
			"merchant": c.Merchant, "name": m.Name, "version": c.Version, "effective": c.Effective,
			"in_force_from": c.Effective.Start().Format(time.RFC3339), "timing": c.Timing, "rules": c.Rules,
			"note": c.Note, "replaces": replaces, "examples": quote(c, examples),
		},
		Risks:   risks,
		Command: state.NewCommand(CmdSet, mustJSON(c), r.Now()),
		Status:  201, Response: map[string]any{"config": c, "next": "GET /api/v1/merchants/" + c.Merchant + "/billing lists every version"},
	}, nil
}

// charged says what a timing charges.
var charged = map[Timing]string{
	Before: "top-up of the merchant's account",
	During: "payout",
	After:  "period's statement",
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
