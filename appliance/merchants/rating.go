package merchants

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"cxt/policy"
	"cxt/storage/state"
)

// A merchant's rating (商户评级) is computed by the policy's rating rules
// (policy/risk/rating.rego) from the merchant's current facts whenever it
// is read: nothing stores a score that could go stale. The rules answer a
// score from 0 to 100, a grade and each input's value, weight and why, so
// that anyone shown a rating can redo it.

// HistoryBucket keeps each merchant's counts that its rating reads besides
// its record: merchant ID -> History (JSON). Other domains add to them
// inside their commands (AddHistory).
const HistoryBucket = "merchant-history"

// History are the counts of a merchant's past the rating reads.
type History struct {
	Payments   int64 `json:"payments"`   // payments paid
	Returns    int64 `json:"returns"`    // of those, returned (退汇)
	Findings   int64 `json:"findings"`   // inspection findings against it
	Complaints int64 `json:"complaints"` // complaints against it
}

// AddHistory adds d to the merchant's counts, inside the command that
// makes them so; counts never go below zero.
func AddHistory(tx *state.Tx, merchant string, d History) error {
	h, err := HistoryOf(tx, merchant)
	if err != nil {
		return err
	}
	h.Payments = max(0, h.Payments+d.Payments)
	h.Returns = max(0, h.Returns+d.Returns)
	h.Findings = max(0, h.Findings+d.Findings)
	h.Complaints = max(0, h.Complaints+d.Complaints)
	return tx.Put(HistoryBucket, []byte(merchant), mustJSON(h))
}

// HistoryOf reads a merchant's counts; none yet is all zero.
func HistoryOf(tx getter, merchant string) (History, error) {
	var h History
	b, err := tx.Get(HistoryBucket, []byte(merchant))
	if err != nil || b == nil {
		return h, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("merchants: history of %s: %w", merchant, err)
	}
	return h, nil
}

// RatingFacts are the rating rules' input: what a merchant's record and
// history say at a moment.
type RatingFacts struct {
	Status          Status   `json:"status"`
	DocumentKinds   []string `json:"document_kinds"` // on file and in force, each once, sorted
	AgreementSigned bool     `json:"agreement_signed"`
	MonthsApproved  int      `json:"months_approved"`
	Payments        int64    `json:"payments"`
	Returns         int64    `json:"returns"`
	Findings        int64    `json:"findings"`
	Complaints      int64    `json:"complaints"`
}

// Facts returns what the merchant's rating is computed from, at now, given
// its history.
func (m *Merchant) Facts(now time.Time, h History) RatingFacts {
	f := RatingFacts{Status: m.Status, AgreementSigned: m.Agreement != "", DocumentKinds: []string{},
		Payments: h.Payments, Returns: h.Returns, Findings: h.Findings, Complaints: h.Complaints}
	today := Day(now)
	seen := map[string]bool{}
	for _, d := range m.Documents {
		if (d.Expires == "" || d.Expires >= today) && !seen[d.Kind] {
			seen[d.Kind] = true
			f.DocumentKinds = append(f.DocumentKinds, d.Kind)
		}
	}
	slices.Sort(f.DocumentKinds)
	if !m.Approved.IsZero() && m.Status == Approved {
		y, mo, _ := now.In(China).Date()
		ay, amo, _ := m.Approved.In(China).Date()
		f.MonthsApproved = max(0, (y-ay)*12+int(mo-amo))
	}
	return f
}

// Rate computes the merchant's rating by rules from its record and
// history as tx sees them.
func Rate(ctx context.Context, rules *policy.RiskRules, tx getter, m *Merchant, now time.Time) (policy.Rating, error) {
	h, err := HistoryOf(tx, m.ID)
	if err != nil {
		return policy.Rating{}, err
	}
	return rules.Rate(ctx, m.Facts(now, h))
}

// GradeOf is the merchant's grade (A–D) at now by the rating rules of the
// policy bundle stored in the state (the embedded one when none is):
// deterministic inside the state machine, so the payouts may decide by it.
func GradeOf(tx policy.Getter, merchantID string, now time.Time) (string, error) {
	rules, err := policy.StoredRiskRules(tx)
	if err != nil {
		return "", err
	}
	m, err := Get(tx, merchantID)
	if err != nil {
		return "", err
	}
	// No deadline: the evaluation is bounded by the rules, as every
	// decision made inside the state machine.
	r, err := Rate(context.Background(), rules, tx, m, now)
	if err != nil {
		return "", fmt.Errorf("merchants: grade of %s: %w", merchantID, err)
	}
	return r.Grade, nil
}

// China is the calendar a document's expiry and a merchant's tenure are
// counted in.
var China = time.FixedZone("CST", 8*3600)

// Day is t's date in China, YYYY-MM-DD.
func Day(t time.Time) string { return t.In(China).Format(time.DateOnly) }
