package reports

import (
	"fmt"
	"sort"

	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/keyring"
	"cxt/storage/state"
)

// Fen is an amount in whole fen; a decimal column prints it as yuan with
// two decimals.
type Fen int64

// Row is one row's fields by key: string for text, Fen for decimal, int
// for int, time.Time for date; a field absent (a destroyed identity's
// name) prints empty in CSV and null in JSON.
type Row map[string]any

// Identity statuses.
const (
	IdentityValid     = "valid"
	IdentityDestroyed = "destroyed" // the subject was shredded: only their account ID and dates remain
)

// Income types, in the order a worker's rows come. Every payment cxt makes
// today is labour remuneration (劳务报酬), withheld by the cumulative
// method; the others are the categories 国务院令第810号 names, ready for the
// payments that will carry them.
const (
	IncomeLabor       = "labor"
	IncomeCommission  = "commission"
	IncomeBusiness    = "business"
	IncomeReward      = "reward"
	IncomeAdvertising = "advertising"
	IncomeOther       = "other"
)

var incomeOrder = map[string]int{IncomeLabor: 0, IncomeCommission: 1, IncomeBusiness: 2, IncomeReward: 3, IncomeAdvertising: 4, IncomeOther: 5}

// incomeType is the income type a payment is reported under.
func incomeType(*payouts.Payment) string { return IncomeLabor }

// Totals sums a dataset's income rows.
type Totals struct {
	Workers   int   `json:"workers"`
	Destroyed int   `json:"destroyed"` // of them, shredded
	GrossFen  int64 `json:"gross_fen"`
	RefundFen int64 `json:"refund_fen"`
	NetFen    int64 `json:"net_fen"`
	FeeFen    int64 `json:"fee_fen"` // fees booked less fees given back
	Orders    int   `json:"orders"`
	IITFen    int64 `json:"iit_fen"`
}

// Dataset is a quarter's identity and income rows for one tax office.
type Dataset struct {
	Quarter  Quarter
	Office   string // "" for the platform's own office: every merchant
	Identity []Row
	Income   []Row
	Totals   Totals
}

type sums struct {
	gross, refunds, fees, feesBack, iit, vat, sur int64
	orders, refunded                              int
}

// Compute reads the quarter's payments for a tax office from the state:
// those of merchants whose competent tax office it is, or, for the
// platform's own office (""), every merchant's.
//
// The ledger decides when money counts. A payment's income counts in the
// quarter its booking posting (payout.execute or payout.release: merchant →
// worker payable and the taxes) falls in — the moment its tax was
// withheld, so the income table agrees with the withholding declarations —
// with its fee, as one order. A payment that the bank then failed to pay or
// returned (退汇) counts as a refund, with its fee given back, in the
// quarter of the payout.results posting that reversed it, whichever
// quarter booked it: the net of a quarter may be negative. Quarters are cut
// at 00:00 China Standard Time. So a quarter's figures, once it has ended,
// do not change when later events arrive, and they sum to the ledger's
// postings of the quarter (the test holds them to it). Fees charged after
// the month (后收, payout.statement) or at top-up belong to no payment and
// to no worker, and are not in the table.
//
// Each worker with a row has their identity opened under their own key. A
// shredded worker is never dropped: their rows stay, with their account ID,
// dates and money, identity_status destroyed and no name, ID or phone.
func Compute(r *state.ReadTx, keys *keyring.Keyring, q Quarter, office string) (*Dataset, error) {
	inScope := map[string]bool{}
	scoped := func(merchant string) (bool, error) {
		if office == "" {
			return true, nil
		}
		if ok, seen := inScope[merchant]; seen {
			return ok, nil
		}
		m, err := merchants.Get(r, merchant)
		if err != nil {
			return false, fmt.Errorf("reports: merchant %s of a payment: %w", merchant, err)
		}
		inScope[merchant] = m.TaxOffice == office
		return inScope[merchant], nil
	}
	per := map[string]map[string]*sums{}
	at := func(p *payouts.Payment) *sums {
		w := per[p.Worker]
		if w == nil {
			w = map[string]*sums{}
			per[p.Worker] = w
		}
		typ := incomeType(p)
		if w[typ] == nil {
			w[typ] = &sums{}
		}
		return w[typ]
	}
	reversed := map[string]bool{}
	err := r.Scan(ledger.PostingsBucket, func(k, v []byte, openErr error) error {
		if openErr != nil {
			return openErr
		}
		post, err := ledger.Decode(v)
		if err != nil {
			return err
		}
		if len(post.Payments) == 0 || !q.Contains(post.Time) {
			return nil
		}
		booking := post.Event == payouts.CmdExecute || post.Event == payouts.CmdRelease
		if !booking && post.Event != payouts.CmdResults {
			return nil
		}
		for _, id := range post.Payments {
			p, err := payouts.GetPayment(r, id)
			if err != nil {
				return fmt.Errorf("reports: posting %d lists %s: %w", post.Seq, id, err)
			}
			if ok, err := scoped(p.Merchant); err != nil {
				return err
			} else if !ok {
				continue
			}
			switch {
			case booking:
				if p.Posting != post.Seq {
					return fmt.Errorf("reports: posting %d books %s, which names posting %d", post.Seq, id, p.Posting)
				}
				s := at(p)
				s.gross += p.AmountFen
				s.fees += p.FeeFen
				s.iit += p.IITFen
				s.vat += p.VATFen
				s.sur += p.SurFen
				s.orders++
			case (p.Status == payouts.Failed || p.Status == payouts.Returned) && q.Contains(p.Updated) && !reversed[id]:
				// Final once reversed: Updated is the reversal's time, and
				// a payment paid and returned in one quarter is listed by
				// two of its postings but reversed once.
				reversed[id] = true
				s := at(p)
				s.refunds += p.AmountFen
				s.feesBack += p.FeeFen
				s.refunded++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	ids := make([]string, 0, len(per))
	for id := range per {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	d := &Dataset{Quarter: q, Office: office}
	start, last := q.Start(), q.LastDay()
	for _, id := range ids {
		ident, err := identityOf(r, keys, id)
		if err != nil {
			return nil, err
		}
		d.Totals.Workers++
		if ident["identity_status"] == IdentityDestroyed {
			d.Totals.Destroyed++
		}
		ident["seq"] = len(d.Identity) + 1
		d.Identity = append(d.Identity, ident)
		types := make([]string, 0, len(per[id]))
		for typ := range per[id] {
			types = append(types, typ)
		}
		sort.Slice(types, func(i, j int) bool { return incomeOrder[types[i]] < incomeOrder[types[j]] })
		for _, typ := range types {
			s := per[id][typ]
			row := Row{"seq": len(d.Income) + 1, "period_start": start, "period_end": last, "income_type": typ,
				"gross": Fen(s.gross), "refunds": Fen(s.refunds), "net": Fen(s.gross - s.refunds),
				"service_fees": Fen(s.fees - s.feesBack), "orders": s.orders, "refunded_orders": s.refunded,
				"iit_withheld": Fen(s.iit), "vat_withheld": Fen(s.vat), "surcharges_withheld": Fen(s.sur)}
			for _, k := range []string{"account_id", "name", "id_type", "id_number", "identity_status"} {
				if v, ok := ident[k]; ok {
					row[k] = v
				}
			}
			d.Income = append(d.Income, row)
			d.Totals.GrossFen += s.gross
			d.Totals.RefundFen += s.refunds
			d.Totals.NetFen += s.gross - s.refunds
			d.Totals.FeeFen += s.fees - s.feesBack
			d.Totals.Orders += s.orders
			d.Totals.IITFen += s.iit
		}
	}
	return d, nil
}

// identityOf is a worker's identity row, opened under their key; a
// shredded worker's is their account ID, registration date and status.
func identityOf(r *state.ReadTx, keys *keyring.Keyring, id string) (Row, error) {
	w, err := workers.Get(r, id)
	if err != nil {
		return nil, fmt.Errorf("reports: worker %s of a payment: %w", id, err)
	}
	row := Row{"account_id": w.ID, "registered": w.Created}
	key, err := subjects.Key(r, keys, w.ID)
	if subjects.CodeShredded.Is(err) {
		row["identity_status"] = IdentityDestroyed
		return row, nil
	} else if err != nil {
		return nil, fmt.Errorf("reports: worker %s: %w", id, err)
	}
	var p workers.Private
	if err := subjects.Open(key, workers.PrivateAAD(w.ID), w.Private, &p); err != nil {
		return nil, fmt.Errorf("reports: worker %s: %w", id, err)
	}
	// The register takes resident ID numbers of the PRC only (ident.WorkerResidentID).
	row["name"], row["id_type"], row["id_number"], row["nationality"], row["phone"] = p.Name, "resident_id_card", p.IDNumber, "CHN", p.Phone
	row["identity_status"] = IdentityValid
	return row, nil
}

// PlatformInfo is what the platform reports of itself (令第810号 art. 3):
// its domains, its business type and its operating entities.
type PlatformInfo struct {
	Name         string   `json:"name"`
	Domains      []string `json:"domains"`
	BusinessType string   `json:"business_type"` // e.g. flexible_employment (灵活用工平台)
	Entities     []Entity `json:"entities"`
}

// Entity is one operating entity of the platform.
type Entity struct {
	USCC    string `json:"uscc"`
	Name    string `json:"name"`
	License string `json:"telecom_license,omitempty"` // 增值电信业务经营许可证
	ICP     string `json:"icp_filing,omitempty"`      // 互联网信息服务备案号
}

// PlatformRows are the basic-information rows: one per operating entity,
// the domains joined by ";".
func PlatformRows(info PlatformInfo) ([]Row, error) {
	if info.Name == "" || len(info.Domains) == 0 || info.BusinessType == "" || len(info.Entities) == 0 {
		return nil, reject(state.InvalidRequest, "the platform's basic information names the platform, its domains, its business type and its operating entities")
	}
	domains := ""
	for i, d := range info.Domains {
		if i > 0 {
			domains += ";"
		}
		domains += d
	}
	rows := make([]Row, 0, len(info.Entities))
	for i, e := range info.Entities {
		if e.USCC == "" || e.Name == "" {
			return nil, reject(state.InvalidRequest, "operating entity %d needs its credit code and name", i+1)
		}
		rows = append(rows, Row{"seq": i + 1, "platform_name": info.Name, "domains": domains, "business_type": info.BusinessType,
			"entity_uscc": e.USCC, "entity_name": e.Name, "telecom_license": e.License, "icp_filing": e.ICP})
	}
	return rows, nil
}
