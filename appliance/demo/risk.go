package demo

import (
	"context"
	"fmt"
	"time"
)

// Risk is what the demo plants for the risk rules to catch (docs/risk.md)
// and what they did: each planted payment with the decision the payout
// rules must give it, and the inspection the demo ran with the cases it
// opened — the shared bank card among them.
type Risk struct {
	Batch      string        `json:"batch"`
	Planted    []PlantedRisk `json:"planted"`
	Inspection string        `json:"inspection"`
	Cases      []RiskCase    `json:"cases"`
	SharedCard []string      `json:"shared_card"` // the workers registered with one bank card
}

// PlantedRisk is one planted payment and what the rules must decide.
type PlantedRisk struct {
	What    string `json:"what"`
	Payment string `json:"payment"`
	Status  string `json:"status"` // rejected or on_hold
	Code    string `json:"code"`
	Rule    string `json:"rule"`
}

// RiskCase is a case the demo's inspection opened.
type RiskCase struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
}

// sharedCardWorkers is how many of the first demo workers register with
// one bank card (one of each merchant): the inspection's threshold.
const sharedCardWorkers = 3

// risk plants what the rules must catch: a merchant names one of its own
// workers as a supervisor (董监高) and pays them; another of its workers is
// paid 45,000.00 and then 42,000.00 the same day, just under the
// 50,000.00 limit twice (structuring); and the first workers registered
// with one bank card. The payout rules decide the batch; an inspection of
// the month opens a case for the card.
func (f *filler) risk(ctx context.Context) error {
	if len(f.w.Merchants) < 2 {
		return nil
	}
	m := f.w.Merchants[1]
	mine, task := f.w.paying(m.ID)
	if len(mine) < 2 || task == "" {
		return fmt.Errorf("demo: merchant %s needs two workers and a task for the risk plants", m.ID)
	}
	officer, payee := mine[0], mine[1]
	f.w.say("%s names its worker %s a supervisor (董监高) and pays them; it pays %s twice just under the per-payment limit the same day — the payout rules refuse the one and hold the other", m.ID, officer.Username, payee.Username)
	admin := f.session(m.Admin)
	rep, _ := m.Registered["legal_rep"].(map[string]string)
	officers := []map[string]string{{"name": officer.Registered["name"], "id_number": officer.Registered["id_number"], "role": "supervisor"}}
	if rep != nil {
		officers = append(officers, map[string]string{"name": rep["name"], "id_number": rep["id_number"], "role": "director"})
	}
	if _, err := f.c.call(ctx, "PUT", "/api/v1/merchants/"+m.ID+"/officers", admin.Token, map[string]any{"officers": officers}, nil); err != nil {
		return fmt.Errorf("officers of %s: %w", m.ID, err)
	}
	csv := "worker,task,amount,memo\n" +
		fmt.Sprintf("%s,%s,5000.00,监事的劳务费\n", officer.ID, task) +
		fmt.Sprintf("%s,%s,45000.00,第一笔\n", payee.ID, task) +
		fmt.Sprintf("%s,%s,42000.00,第二笔\n", payee.ID, task)
	var up struct {
		Batch string `json:"batch"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/merchants/"+m.ID+"/payout-batches?ref=demo-risk-2026-12", admin.Token, csvBody(csv), &up); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := f.c.stepUp(ctx, admin); err != nil {
		return err
	}
	if err := f.c.important(ctx, "POST", "/api/v1/payout-batches/"+up.Batch+"/confirm", admin.Token, "demo-confirm-"+up.Batch, nil, nil); err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	for {
		var b struct {
			Status string `json:"status"`
		}
		if _, err := f.c.call(ctx, "GET", "/api/v1/payout-batches/"+up.Batch, admin.Token, nil, &b); err != nil {
			return err
		}
		if b.Status == "executed" {
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	r := &Risk{Batch: up.Batch, Planted: []PlantedRisk{
		{What: "a payment to the merchant's own supervisor (董监高)", Payment: up.Batch + "-000001", Status: "rejected", Code: "risk_officer", Rule: "identity.officer"},
		{What: "a second payment just under the per-payment limit the same day (structuring)", Payment: up.Batch + "-000003", Status: "on_hold", Code: "risk_structuring", Rule: "velocity.structuring"},
	}}
	for _, w := range f.w.Workers[:min(sharedCardWorkers, len(f.w.Workers))] {
		r.SharedCard = append(r.SharedCard, w.ID)
	}
	for _, p := range r.Planted {
		var got struct {
			Status string `json:"status"`
			Code   string `json:"code"`
		}
		if _, err := f.c.call(ctx, "GET", "/api/v1/payments/"+p.Payment, admin.Token, nil, &got); err != nil {
			return err
		}
		if got.Status != p.Status || got.Code != p.Code {
			return fmt.Errorf("demo: %s: %s %s, want %s %s", p.What, got.Status, got.Code, p.Status, p.Code)
		}
	}

	f.w.say("a platform operator runs the post-hoc inspection (事后巡检) of the month: it opens a case for the bank card %d workers registered with", len(r.SharedCard))
	var job struct {
		ID string `json:"id"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/risk/inspections", f.operator.Token, nil, &job); err != nil {
		return fmt.Errorf("inspection: %w", err)
	}
	r.Inspection = job.ID
	for {
		var j struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if _, err := f.c.call(ctx, "GET", "/api/v1/risk/inspections/"+job.ID, f.operator.Token, nil, &j); err != nil {
			return err
		}
		if j.Error != "" {
			return fmt.Errorf("demo: inspection %s: %s", job.ID, j.Error)
		}
		if j.Status == "done" {
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	var cases struct {
		Cases []RiskCase `json:"cases"`
	}
	if _, err := f.c.call(ctx, "GET", "/api/v1/risk/cases", f.operator.Token, nil, &cases); err != nil {
		return err
	}
	r.Cases = cases.Cases
	f.w.Risk = r
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
