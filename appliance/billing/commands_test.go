package billing

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/notify"
	"cxt/appliance/subjects"
	"cxt/gateway/feed"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

type world struct{ *statetest.Machine }

func newWorld(t *testing.T, now time.Time) *world {
	w := &world{statetest.New(t, func(reg *state.Registry) {
		identity.Register(reg)
		notify.Register(reg)
		subjects.Register(reg, nil)
		feed.Register(reg) // merchants speak command set 6, which appends to the feed
		merchants.Register(reg)
		Register(reg)
	})}
	w.Now = now
	return w
}

// merchant has a merchant apply; it stays applied (fees may be agreed
// during onboarding).
func (w *world) merchant(id string) {
	w.TB.Helper()
	k, fresh, err := subjects.NewKey(w.Keys, id)
	if err != nil {
		w.TB.Fatal(err)
	}
	priv, _ := subjects.Seal(k, merchants.PrivateAAD(id), merchants.Private{USCC: "uscc-" + id})
	res := w.Send(merchants.CmdApply, merchants.Application{ID: id, Name: "某某科技有限公司", Model: merchants.Intermediary,
		USCCIndex: "idx-" + id, Private: priv, Key: fresh, Applicant: "acct-" + id})
	if res.Err != nil {
		w.TB.Fatalf("apply %s: %v", id, res.Err)
	}
}

// version is a configuration of one percentage rule at rate.
func version(merchant string, v int, effective Date, rate string) Config {
	return Config{Merchant: merchant, Version: v, Effective: effective, Timing: During, By: "acct-operator",
		Rules: []Rule{{Name: "服务费", Kind: Percentage, Rate: MustRate(rate)}}}
}

func (w *world) view(fn func(tx *state.ReadTx) error) {
	w.TB.Helper()
	if err := w.State.View(fn); err != nil {
		w.TB.Fatal(err)
	}
}

func TestVersionsAreAppendOnlyAndNeverBackdated(t *testing.T) {
	now := time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC) // 18:00 on the 27th in China
	w := newWorld(t, now)
	w.merchant("m_1")
	w.merchant("m_2")
	closed := func() {
		w.Send(merchants.CmdClose, merchants.Review{ID: "m_2", Action: merchants.ActClose, By: "ops", Reason: "x"})
	}
	w.Send(merchants.CmdReview, merchants.DirectApproval("m_2", "reviewer", "a test world"))
	closed()

	noBy := version("m_1", 1, "2026-03-01", "0.06")
	noBy.By = ""
	noRate := version("m_1", 1, "2026-03-01", "0.06")
	noRate.Rules[0].Rate = Rate{}
	steps := []struct {
		name string
		cfg  Config
		code string
	}{
		{"a version that names no one who set it", noBy, "invalid_request"},
		{"a version that would charge nonsense", noRate, "invalid_request"},
		{"a version for no merchant", version("m_none", 1, "2026-03-01", "0.06"), "not_found"},
		{"a version for a closed merchant", version("m_2", 1, "2026-03-01", "0.06"), "merchant_status"},
		{"a first version numbered 2", version("m_1", 2, "2026-03-01", "0.06"), "billing_version"},
		{"a first version from yesterday", version("m_1", 1, "2026-02-26", "0.06"), "billing_backdated"},
		{"a first version from today", version("m_1", 1, "2026-02-27", "0.06"), ""},
		{"a second version on the first's day", version("m_1", 2, "2026-02-27", "0.05"), "billing_version"},
		{"a second version numbered as the first", version("m_1", 1, "2026-03-01", "0.05"), "billing_version"},
		{"a second version numbered 3", version("m_1", 3, "2026-03-01", "0.05"), "billing_version"},
		{"a second version from tomorrow", version("m_1", 2, "2026-02-28", "0.05"), ""},
		{"a third version before the second's day", version("m_1", 3, "2026-02-27", "0.04"), "billing_version"},
		{"a third version a month later", version("m_1", 3, "2026-03-28", "0.04"), ""},
	}
	for _, s := range steps {
		res := w.Send(CmdSet, s.cfg)
		if statetest.Code(res.Err) != s.code {
			t.Fatalf("%s: %v, want %q", s.name, res.Err, s.code)
		}
		if s.code == "" {
			var got Config
			if err := json.Unmarshal(res.Value, &got); err != nil || got.Version != s.cfg.Version || !got.Created.Equal(now) {
				t.Fatalf("%s: answered %s (%v)", s.name, res.Value, err)
			}
		}
	}
	w.view(func(tx *state.ReadTx) error {
		all, err := Versions(tx, "m_1")
		if err != nil || len(all) != 3 {
			t.Fatalf("versions: %d, %v", len(all), err)
		}
		for i, want := range []string{"0.0600", "0.0500", "0.0400"} {
			if c := all[i]; c.Version != i+1 || c.Rules[0].Rate.String() != want || c.By != "acct-operator" {
				t.Errorf("version %d as read: %+v", i+1, c)
			}
		}
		if none, err := Versions(tx, "m_2"); err != nil || len(none) != 0 {
			t.Errorf("the closed merchant's versions: %v, %v", none, err)
		}
		return nil
	})
}

// The day a version takes effect is a day in China (UTC+8): it begins at
// 16:00 UTC the day before, and a version due on the 1st is in force at
// 07:00 in China although UTC still says the 28th.
func TestAVersionTakesEffectAtMidnightInChina(t *testing.T) {
	w := newWorld(t, time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC)) // 20:00 on the 28th in China
	w.merchant("m_1")
	for _, c := range []Config{version("m_1", 1, "2026-02-28", "0.06"), version("m_1", 2, "2026-03-01", "0.05")} {
		if res := w.Send(CmdSet, c); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	for _, c := range []struct {
		at   time.Time
		want int // 0: none
	}{
		{time.Date(2026, 2, 27, 15, 59, 59, 0, time.UTC), 0},         // 23:59:59 on the 27th in China
		{time.Date(2026, 2, 27, 16, 0, 0, 0, time.UTC), 1},           // midnight starting the 28th in China
		{time.Date(2026, 2, 28, 15, 59, 59, 999999999, time.UTC), 1}, // the last instant of the 28th in China
		{time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC), 2},           // midnight starting the 1st in China
		{time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC), 2},           // UTC's 28th, China's 1st
		{time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600)), 2},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 2},
	} {
		w.view(func(tx *state.ReadTx) error {
			cfg, err := Current(tx, "m_1", c.at)
			got := 0
			if cfg != nil {
				got = cfg.Version
			}
			if err != nil || got != c.want {
				t.Errorf("at %s: version %d (%v), want %d", c.at, got, err, c.want)
			}
			return nil
		})
	}
	w.view(func(tx *state.ReadTx) error {
		if cfg, err := Current(tx, "m_nobody", time.Now()); cfg != nil || err != nil {
			t.Errorf("a merchant without configurations: %v, %v", cfg, err)
		}
		return nil
	})

	// Backdating is judged in China's calendar too: at 01:00 on the 2nd in
	// China it is still the 1st in UTC, and the 1st is yesterday.
	w.Now = time.Date(2026, 3, 1, 17, 0, 0, 0, time.UTC)
	w.merchant("m_2")
	if res := w.Send(CmdSet, version("m_2", 1, "2026-03-01", "0.04")); statetest.Code(res.Err) != "billing_backdated" {
		t.Fatalf("a version for UTC's today, China's yesterday: %v", res.Err)
	}
	if res := w.Send(CmdSet, version("m_2", 1, "2026-03-02", "0.04")); res.Err != nil {
		t.Fatalf("a version for China's today: %v", res.Err)
	}
}

// Current is what payouts call inside their own commands and reads: both
// kinds of transaction offer its Get.
var (
	_ Getter = (*state.Tx)(nil)
	_ Getter = (*state.ReadTx)(nil)
)

func TestAStoredVersionChargesAsItWasSet(t *testing.T) {
	w := newWorld(t, time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC))
	w.merchant("m_1")
	cfg := version("m_1", 1, "2026-03-01", "0.0060")
	cfg.Rules[0].Min, cfg.Rules[0].Max = MustMoney("2"), MustMoney("50")
	cfg.Rules = append(cfg.Rules, Rule{Name: "阶梯费", Kind: Tiered, Mode: Marginal,
		Tiers: []Tier{{UpTo: MustMoney("1000"), Rate: MustRate("0.05")}, {Rate: MustRate("0.01")}}})
	if res := w.Send(CmdSet, cfg); res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, a := range []string{"0.01", "100.00", "1000.00", "1000.01", "123456.78"} {
		want, wantCharges := cfg.Fee(dec(a))
		w.view(func(r *state.ReadTx) error {
			stored, err := Current(r, "m_1", w.Now)
			if err != nil || stored == nil {
				t.Fatalf("current: %v %v", stored, err)
			}
			fee, charges := stored.Fee(dec(a))
			if !fee.Equal(want) || fmt.Sprint(charges) != fmt.Sprint(wantCharges) {
				t.Errorf("%s: the stored version charges %s %v, as set %s %v", a, fee, charges, want, wantCharges)
			}
			return nil
		})
	}
}
