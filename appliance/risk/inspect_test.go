package risk_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/risk"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

func day(month time.Month, d, hour int) time.Time {
	return time.Date(2026, month, d, hour, 0, 0, 0, payouts.China)
}

// even splits fen over the workers named prefix0..prefix(n-1).
func even(prefix string, n int, fen int64) map[string]int64 {
	out := map[string]int64{}
	for i := range n {
		out[fmt.Sprintf("%s%d", prefix, i)] = fen / int64(n)
	}
	return out
}

// seededApril is a world with three months of history and an April in
// which six anomalies are planted beside near misses of each:
//
//   - mB pays 200,000.00 in April after 20,000.00 a month: a volume spike;
//     mF pays 119,999.99 after 40,000.00 a month: just under 3× the average.
//   - mC's worker c0 gets 60% of its 100,000.00 April: income concentration;
//     mE's biggest worker gets 49.99999%, and mD's only worker 100% of a
//     month under the floor: neither.
//   - one card is on three workers (an anomaly), another on two (not).
//   - device D1 registers 3 workers within 24 hours in April; D2 registers
//     3 over 26 hours, D3 three within an hour but in March; address
//     10.1.1.1 registers 10 workers in an April afternoon, 10.2.2.2 nine.
func seededApril(t *testing.T) *world {
	w := newWorld(t)
	var all []string
	for _, p := range []struct {
		prefix string
		n      int
	}{{"a", 5}, {"b", 10}, {"c", 5}, {"d", 1}, {"e", 3}, {"f", 4}} {
		for i := range p.n {
			all = append(all, fmt.Sprintf("%s%d", p.prefix, i))
		}
	}
	w.Now = day(1, 2, 9)
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"mA", "mB", "mC", "mD", "mE", "mF"}, Workers: all})
	for _, m := range []string{"mA", "mB", "mC", "mD", "mE", "mF"} {
		w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: m, Fen: 10_000_000_00, Ref: "top-" + m})
	}
	for _, month := range []time.Month{1, 2, 3} {
		w.pay("mA", day(month, 15, 10), even("a", 5, 100_000_00))
		w.pay("mB", day(month, 15, 10), even("b", 4, 20_000_00))
		w.pay("mC", day(month, 15, 10), even("c", 5, 100_000_00))
		w.pay("mF", day(month, 15, 10), even("f", 4, 40_000_00))
	}
	w.pay("mA", day(4, 3, 10), even("a", 5, 120_000_00))
	w.pay("mB", day(4, 3, 10), even("b", 10, 200_000_00))
	w.pay("mC", day(4, 3, 10), map[string]int64{"c0": 60_000_00, "c1": 10_000_00, "c2": 10_000_00, "c3": 10_000_00, "c4": 10_000_00})
	w.pay("mD", day(4, 3, 10), map[string]int64{"d0": 30_000_00})
	w.pay("mE", day(4, 3, 10), map[string]int64{"e0": 49_999_99, "e1": 25_000_00, "e2": 25_000_01})
	w.pay("mF", day(4, 3, 10), map[string]int64{"f0": 30_000_00, "f1": 30_000_00, "f2": 30_000_00, "f3": 29_999_99})
	// A payment of May is not April's.
	w.pay("mD", day(5, 2, 10), map[string]int64{"d0": 900_000_00})

	n := 0
	reg := func(card, ip, device string, when time.Time) {
		n++
		w.register(fmt.Sprintf("w_r%02d", n), card, ip, device, when)
	}
	for i := range 3 {
		reg("6222000000000000001", fmt.Sprintf("10.9.0.%d", i), "", day(2, 1+i, 9)) // one card, three workers
	}
	for i := range 2 {
		reg("6222000000000000002", fmt.Sprintf("10.9.1.%d", i), "", day(2, 1+i, 9)) // one card, two workers
	}
	for i := range 3 {
		reg("", fmt.Sprintf("10.8.0.%d", i), "D1", day(4, 6, 9+i*11)) // 9:00, 20:00, next day 7:00
	}
	for i := range 3 {
		reg("", fmt.Sprintf("10.8.1.%d", i), "D2", day(4, 6, 9+i*13)) // 9:00, 22:00, next day 11:00
	}
	for i := range 3 {
		reg("", fmt.Sprintf("10.8.2.%d", i), "D3", day(3, 20, 9).Add(time.Duration(i)*time.Minute))
	}
	for range 10 {
		reg("", "10.1.1.1", "", day(4, 20, 14))
	}
	for range 9 {
		reg("", "10.2.2.2", "", day(4, 21, 14))
	}
	w.Now = day(4, 30, 23)
	return w
}

func TestAnInspectionOfASeededMonthFindsEveryPlantedAnomalyAndNothingElse(t *testing.T) {
	w := seededApril(t)
	job := w.inspect("2026-04")
	if job.Status != risk.JobDone || len(job.Steps) != len(risk.Detectors) || job.Error != "" {
		t.Fatalf("job: %+v", job)
	}
	want := []string{
		"income_concentration " + "mC/c0",
		"registration_burst " + w.handle("device", "D1"),
		"registration_burst " + w.handle("ip", "10.1.1.1"),
		"shared_card " + w.handle("card", "6222000000000000001"),
		"volume_spike " + "mB",
	}
	var got []string
	for _, c := range w.cases() {
		got = append(got, c.Kind+" "+c.Subject)
		f := c.Finding
		if f.Rule == "" || f.Reason == "" || f.Policy != "embedded" || len(f.InputSM3) != 64 || f.Job != job.ID || len(f.Parties) == 0 {
			t.Errorf("case %s: its finding does not say where it came from: %+v", c.ID, f)
		}
		if c.Status != risk.CaseOpen || c.ID != risk.CaseID(c.Key) {
			t.Errorf("case %s: %+v", c.ID, c)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("cases:\n got  %v\n want %v", got, want)
	}
	if job.Findings != len(want) || job.Opened != len(want) {
		t.Fatalf("job counts: %d findings, %d opened", job.Findings, job.Opened)
	}
	// The facts behind a finding are the aggregate the policy saw.
	for _, c := range w.cases() {
		var facts risk.Aggregate
		if err := json.Unmarshal(c.Finding.Facts, &facts); err != nil {
			t.Fatal(err)
		}
		switch c.Kind {
		case risk.IncomeConcentration:
			if facts.WorkerFen != 60_000_00 || facts.MerchantFen != 100_000_00 || !slices.Equal(c.Parties, []string{"merchant/mC", "worker/c0"}) {
				t.Errorf("concentration facts %+v, parties %v", facts, c.Parties)
			}
		case risk.VolumeSpike:
			if facts.MonthFen != 200_000_00 || facts.PreviousFen != 60_000_00 || c.Period != "2026-04" {
				t.Errorf("spike facts %+v", facts)
			}
		case risk.SharedCard:
			if facts.Workers != 3 || c.Period != "" || len(c.Parties) != 3 {
				t.Errorf("card facts %+v, period %q", facts, c.Period)
			}
		case risk.RegistrationBurst:
			if facts.Source == "device" && (facts.Workers != 3 || !strings.HasPrefix(c.Subject, "device:")) {
				t.Errorf("device facts %+v", facts)
			}
			if facts.Source == "ip" && facts.Workers != 10 {
				t.Errorf("address facts %+v", facts)
			}
		}
	}
	// No card number, address or device ID is stored by the risk records.
	w.view(func(tx *state.ReadTx) error {
		for _, b := range []string{risk.CasesBucket, risk.JobsBucket} {
			if err := tx.ForEach(b, func(_, v []byte) error {
				for _, pi := range []string{"6222000000000000001", "10.1.1.1", "\"D1\""} {
					if strings.Contains(string(v), pi) {
						t.Errorf("%s holds %s", b, pi)
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestTheSameAnomalyNeverOpensASecondCase(t *testing.T) {
	w := seededApril(t)
	first := w.inspect("2026-04")
	second := w.inspect("2026-04")
	if second.Status != risk.JobDone || second.Findings != first.Findings || second.Opened != 0 {
		t.Fatalf("second job: %d findings, %d opened (first %d)", second.Findings, second.Opened, first.Findings)
	}
	if n := len(w.cases()); n != first.Opened {
		t.Fatalf("%d cases after two jobs, want %d", n, first.Opened)
	}
	// March is another period: the card is the same standing fact (no new
	// case); D3's burst is March's own.
	march := w.inspect("2026-03")
	var opened []string
	for _, c := range w.cases() {
		if c.Finding.Job == march.ID {
			opened = append(opened, c.Kind+" "+c.Subject)
		}
	}
	if !slices.Equal(opened, []string{"registration_burst " + w.handle("device", "D3")}) {
		t.Fatalf("March opened %v", opened)
	}
}

func TestOneJobRunsAtATimeAndAStepIsRecordedOnce(t *testing.T) {
	w := newWorld(t)
	w.ok(risk.CmdJobStart, risk.JobStart{ID: "j1", Period: "2026-04", Trigger: risk.TriggerDemand, By: "acct-op"})
	if res := w.Send(risk.CmdJobStart, risk.JobStart{ID: "j2", Period: "2026-04", Trigger: risk.TriggerDemand, By: "acct-op"}); statetest.Code(res.Err) != "inspection_running" {
		t.Fatalf("a second job while one runs: %v", res.Err)
	}
	step := risk.JobStep{Job: "j1", Step: risk.Step{Detector: risk.SharedCard, Policy: "p", InputSM3: "x"}}
	w.ok(risk.CmdJobStep, step)
	if res := w.Send(risk.CmdJobStep, step); statetest.Code(res.Err) != "inspection_status" {
		t.Fatalf("a step run twice (two leaders): %v", res.Err)
	}
	// A leader that stopped after the first step: the next one finishes
	// the job from the second.
	if err := w.inspector().RunJob(t.Context(), "j1"); err != nil {
		t.Fatal(err)
	}
	if j := w.job("j1"); j.Status != risk.JobDone || len(j.Steps) != 4 || j.Steps[0].Policy != "p" {
		t.Fatalf("job: %+v", j)
	}
	if res := w.Send(risk.CmdJobEnd, risk.JobEnd{Job: "j1"}); statetest.Code(res.Err) != "inspection_status" {
		t.Fatalf("ending an ended job: %v", res.Err)
	}
	w.ok(risk.CmdJobStart, risk.JobStart{ID: "j2", Period: "2026-04", Trigger: risk.TriggerDemand, By: "acct-op"})
}

func TestTheScheduleStartsOneJobPerSlot(t *testing.T) {
	w := newWorld(t)
	in := w.inspector()
	in.Every = 24 * time.Hour
	w.Now = day(5, 1, 10)
	for range 2 {
		if err := in.Round(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	var jobs []*risk.Job
	w.view(func(tx *state.ReadTx) (err error) { jobs, err = risk.Jobs(tx); return })
	if len(jobs) != 1 || jobs[0].Trigger != risk.TriggerSchedule || jobs[0].Period != "2026-04" || jobs[0].Status != risk.JobDone {
		t.Fatalf("scheduled jobs: %+v", jobs)
	}
	if jobs[0].ID != risk.ScheduledID(w.Now, in.Every) {
		t.Fatalf("scheduled job %s", jobs[0].ID)
	}
}
