// Package payoutstest builds the parties a payout needs straight into a
// state machine, for the payouts' domain tests and benchmarks: approved
// merchants, verified workers linked to them with complete service
// agreements, and top-ups. The records are the parties' own types, written
// where their packages keep them; the API tests and the demo make them
// through onboarding instead.
package payoutstest

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/billing"
	"cxt/appliance/callbacks"
	"cxt/appliance/identity"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/notify"
	"cxt/appliance/payouts"
	"cxt/appliance/tasks"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// Test commands.
const (
	CmdSeed  = "test.seed"
	CmdTopUp = "test.top_up"
)

// Seed names the parties to put; Endpoints gives merchants a callback URL
// (merchant -> URL) as a registered machine client would. Every worker is
// linked to every merchant; Unverified have not passed real-name checks,
// Unsigned have no agreement.
type Seed struct {
	Merchants  []string          `json:"merchants"`
	Workers    []string          `json:"workers"`
	Unverified []string          `json:"unverified,omitempty"`
	Unsigned   []string          `json:"unsigned,omitempty"`
	Endpoints  map[string]string `json:"endpoints,omitempty"`
	// Offices gives merchants a competent tax office (merchant -> code).
	Offices map[string]string `json:"offices,omitempty"`
	// Task, if set, is a task of the first merchant on which every worker's
	// work was accepted for AcceptedFen (as appliance/tasks keeps them).
	Task        string `json:"task,omitempty"`
	AcceptedFen int64  `json:"accepted_fen,omitempty"`
	// Officers names, by merchant, workers who are its directors,
	// supervisors or senior managers (董监高). Every seeded worker's ID
	// number has the blind index IDIndex(worker).
	Officers map[string][]string `json:"officers,omitempty"`
	// Full writes workers and works as onboarding and tasks leave them —
	// a sealed private part, both checks with their sealed references, the
	// card and device indexes, a work's proof and history — so that a
	// benchmark reads and decodes records of their real size (a worker's
	// about 1 KiB of JSON, not 250 bytes).
	Full bool `json:"full,omitempty"`
}

// IDIndex is a seeded worker's ID-number blind index (hex).
func IDIndex(worker string) string {
	d := sm.Sum([]byte("seeded-id/" + worker))
	return hex.EncodeToString(d[:])
}

// TopUp credits a merchant as a recognised bank transfer would.
type TopUp struct {
	Merchant string `json:"merchant"`
	Fen      int64  `json:"fen"`
	Ref      string `json:"ref"`
}

// Register adds the parties' buckets, the ledger, the payouts under rules
// and the test commands.
func Register(reg *state.Registry, rules *payouts.Rules) {
	identity.Register(reg)
	notify.Register(reg)
	merchants.Register(reg)
	workers.Register(reg)
	agreements.Register(reg)
	ledger.Register(reg)
	callbacks.Register(reg)
	tasks.Register(reg)
	billing.Register(reg)
	payouts.Register(reg, rules)
	feed.Register(reg)
	reg.HandleFrom(state.MoneySet, CmdSeed, applySeed)
	reg.HandleFrom(state.MoneySet, CmdTopUp, applyTopUp)
}

// CmdGateway is a test command of the gateway's command set: registering
// it (RegisterGateway) makes a test cluster speak the set, so the commands
// append their facts to the bureaus' feed as a node's do.
const CmdGateway = "test.gateway"

// RegisterGateway makes the registry speak the gateway's command set.
func RegisterGateway(reg *state.Registry) {
	reg.HandleFrom(state.GatewaySet, CmdGateway, func(*state.Tx, *state.Command) ([]byte, error) { return nil, nil })
}

func applyTopUp(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in TopUp
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, err
	}
	return nil, ledger.Post(tx, &ledger.Posting{Event: CmdTopUp, Ref: in.Ref, Lines: []ledger.Line{
		{Account: ledger.Bank, Debit: true, Fen: in.Fen, Cause: ledger.CauseTopUp},
		{Account: ledger.Merchant(in.Merchant), Fen: in.Fen, Cause: ledger.CauseTopUp},
	}})
}

func applySeed(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Seed
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, err
	}
	put := func(bucket, key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return tx.Put(bucket, []byte(key), b)
	}
	for _, m := range in.Merchants {
		var officers []string
		for _, w := range in.Officers[m] {
			officers = append(officers, IDIndex(w))
		}
		slices.Sort(officers)
		if err := put(merchants.Bucket, m, merchants.Merchant{ID: m, Name: "商户 " + m, Status: merchants.Approved, Agreement: "coop-" + m, TaxOffice: in.Offices[m], OfficerIndex: officers}); err != nil {
			return nil, err
		}
	}
	for m, url := range in.Endpoints {
		if err := callbacks.SetEndpoint(tx, m, "cl-test", url); err != nil {
			return nil, err
		}
	}
	if in.Task != "" {
		if err := put(tasks.Bucket, in.Task, tasks.Task{ID: in.Task, Merchant: in.Merchants[0], Title: "seeded", Status: tasks.Open,
			Headcount: len(in.Workers), Created: tx.Time()}); err != nil {
			return nil, err
		}
		for _, w := range in.Workers {
			work := tasks.Work{Task: in.Task, Worker: w, Merchant: in.Merchants[0], Status: tasks.Accepted,
				Amount: ledger.Yuan(in.AcceptedFen), Accepted: tx.Time()}
			if in.Full {
				fullWork(&work, in.Merchants[0])
			}
			if err := put(tasks.WorkBucket, string(tasks.WorkKey(in.Task, w)), work); err != nil {
				return nil, err
			}
		}
	}
	unverified, unsigned := set(in.Unverified), set(in.Unsigned)
	all := append(append(append([]string{}, in.Workers...), in.Unverified...), in.Unsigned...)
	for _, w := range all {
		rec := workers.Worker{ID: w, Merchants: in.Merchants, Origin: workers.OriginSelf, Created: tx.Time(), IDIndex: IDIndex(w)}
		if !unverified[w] {
			rec.RealName = &workers.Check{Status: workers.Verified, Provider: "sandbox", At: tx.Time()}
		}
		if in.Full {
			full(&rec, tx.Time())
		}
		if err := put(workers.Bucket, w, rec); err != nil {
			return nil, err
		}
		for _, m := range in.Merchants {
			if err := put(workers.LinkBucket, string(workers.LinkKey(m, w)), workers.Link{Merchant: m, Worker: w, Status: workers.Active}); err != nil {
				return nil, err
			}
			if !unsigned[w] {
				id := "agr-" + m + "-" + w
				if err := tx.Put(agreements.IndexBucket, []byte("tripartite/"+m+"/"+w), []byte(id)); err != nil {
					return nil, err
				}
				if err := put(agreements.Bucket, id, agreements.Agreement{ID: id, Kind: agreements.Tripartite, Merchant: m, Worker: w,
					Status: agreements.Complete, Created: tx.Time()}); err != nil {
					return nil, err
				}
			}
		}
	}
	return nil, nil
}

func set(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// opaque stands for n bytes of ciphertext (deterministic: a state machine
// writes it).
func opaque(label string, n int) []byte {
	var b []byte
	for i := 0; len(b) < n; i++ {
		d := sm.Sum([]byte(label + "/" + string(rune('a'+i))))
		b = append(b, d[:]...)
	}
	return b[:n]
}

// full makes w the size onboarding leaves a worker: its private fields
// sealed under its own key (a name, an ID number, a phone, a card and its
// bank: about 240 bytes sealed), an account, the real-name and liveness
// checks with their sealed provider references, and the card and device
// blind indexes.
func full(w *workers.Worker, at time.Time) {
	w.KeyID, w.Private, w.Account = 1, opaque("private/"+w.ID, 240), "acct-"+w.ID
	if w.RealName != nil {
		w.RealName.Reference, w.RealName.Score, w.RealName.By = opaque("realname/"+w.ID, 72), 1, "system"
	}
	w.Liveness = &workers.Check{Status: workers.Verified, Provider: "sandbox", Reference: opaque("liveness/"+w.ID, 72), Score: 0.97, At: at, By: "system"}
	card, device := sm.Sum([]byte("seeded-card/"+w.ID)), sm.Sum([]byte("seeded-device/"+w.ID))
	w.CardIndex, w.DeviceIndex = hex.EncodeToString(card[:]), hex.EncodeToString(device[:])
}

// fullWork gives a work what doing and accepting it leaves: the worker's
// application, the merchant's assignment, one proof, and their history.
func fullWork(w *tasks.Work, merchant string) {
	at := w.Accepted
	d := sm.Sum([]byte("proof/" + w.Worker))
	w.Note, w.Applied, w.Assigned, w.AssignedBy = "可以按时完成", at, at, "acct-"+merchant
	w.Proof = []tasks.ProofRef{{ID: "doc-" + w.Worker, Type: "application/pdf", Size: 48_213, SM3: hex.EncodeToString(d[:]), Uploaded: at, By: "acct-" + w.Worker}}
	w.Submitted, w.AcceptedBy = at, "acct-"+merchant
	for _, e := range []struct{ action, from, to string }{{"apply", "", "applied"}, {"assign", "applied", "assigned"}, {"submit", "assigned", "submitted"}, {"accept", "submitted", "accepted"}} {
		w.History = append(w.History, tasks.Event{At: at, By: "acct-" + merchant, Action: e.action, From: e.from, To: e.to})
	}
}
