package insurance

import (
	"slices"
	"time"

	"cxt/storage/state"
)

// Buckets.
const (
	ProductBucket = "insurance-products" // product ID -> Product
	RulesBucket   = "insurance-rules"    // "current" -> Rules; "v/<version>" -> each version set
	RecordBucket  = "insurance-records"  // worker ID -> Record: the worker's enrolments and social-insurance payments
)

// Command types (command set state.ArchivesSet).
const (
	CmdProduct = "insurance.product" // a platform operator defines a product
	CmdRetire  = "insurance.retire"  // a product retired: no new enrolments
	CmdRules   = "insurance.rules"   // a new version of the recommendation rules
	CmdEnrol   = "insurance.enrol"   // a worker enrolled in a product for a period
	CmdSocial  = "insurance.social"  // social-insurance payments recorded, whole or not at all
)

// Refusals.
var (
	CodeNotYours   = state.NewCode(state.KindNotFound, "insurance_worker_not_yours")
	CodeIneligible = state.NewCode(state.KindConflict, "insurance_ineligible")
	CodeEnrolled   = state.NewCode(state.KindConflict, "insurance_enrolled")
	CodeRetired    = state.NewCode(state.KindConflict, "insurance_product_retired")
	CodeVersion    = state.NewCode(state.KindConflict, "insurance_rules_version")
	CodeDuplicate  = state.NewCode(state.KindConflict, "insurance_social_duplicate")
	CodeCSV        = state.NewCode(state.KindInvalid, "insurance_csv_invalid")
)

// Kinds of product.
const (
	Accident           = "accident"            // 意外险
	Liability          = "liability"           // 责任险 (雇主责任、第三者责任)
	OccupationalInjury = "occupational_injury" // 新就业形态人员职业伤害保障 (pilot)
	Medical            = "medical"             // 补充医疗
	Other              = "other"
)

// Kinds lists the kinds of product.
var Kinds = []string{Accident, Liability, OccupationalInjury, Medical, Other}

// Terms a premium is per.
const (
	Day   = "day"
	Month = "month"
	Year  = "year"
)

// maxUnits bounds an enrolment's length per term.
var maxUnits = map[string]int{Day: 366, Month: 24, Year: 5}

// Product statuses.
const (
	Active  = "active"
	Retired = "retired"
)

// Product is an insurance product the platform offers.
type Product struct {
	ID         string `json:"id"`
	Insurer    string `json:"insurer"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	PremiumFen int64  `json:"premium_fen"` // per Term
	Term       string `json:"term"`
	Coverage   string `json:"coverage"` // what it covers, as the insurer words it
	// Eligibility: an age range (0: no bound) on the first day covered,
	// and whether a verified real name is required.
	MinAge           int       `json:"min_age,omitempty"`
	MaxAge           int       `json:"max_age,omitempty"`
	RealNameRequired bool      `json:"real_name_required"`
	Status           string    `json:"status"`
	By               string    `json:"by"`
	Created          time.Time `json:"created"`
	Retired          time.Time `json:"retired,omitzero"`
}

// ageFits reports whether age is within [min, max], either bound 0 for
// none; an unknown age (-1) fits only where there are no bounds.
func ageFits(age, minAge, maxAge int) bool {
	if minAge == 0 && maxAge == 0 {
		return true
	}
	return age >= 0 && (minAge == 0 || age >= minAge) && (maxAge == 0 || age <= maxAge)
}

// Enrolment is a worker insured by a product for a period.
type Enrolment struct {
	ID         string    `json:"id"`
	Product    string    `json:"product"`
	Kind       string    `json:"kind"`
	Worker     string    `json:"worker"`
	Merchant   string    `json:"merchant,omitempty"` // the enrolling merchant; "" when the worker enrolled themself
	Start      string    `json:"start"`              // first day covered, YYYY-MM-DD
	End        string    `json:"end"`                // last day covered
	Units      int       `json:"units"`              // terms covered
	PremiumFen int64     `json:"premium_fen"`        // the product's premium × units
	By         string    `json:"by"`
	Enrolled   time.Time `json:"enrolled"`
}

// SocialPayment is one month's social-insurance payment of a worker: the
// contribution base and what was paid, in fen.
type SocialPayment struct {
	Worker          string    `json:"worker"`
	Month           string    `json:"month"` // YYYY-MM
	Place           string    `json:"place"` // insured place: a GB/T 2260 region code
	BaseFen         int64     `json:"base_fen"`
	PensionFen      int64     `json:"pension_fen"`
	MedicalFen      int64     `json:"medical_fen"`
	UnemploymentFen int64     `json:"unemployment_fen"`
	InjuryFen       int64     `json:"injury_fen"`
	TotalFen        int64     `json:"total_fen"` // the four amounts added
	Batch           string    `json:"batch"`     // the request that recorded it
	By              string    `json:"by"`
	Recorded        time.Time `json:"recorded"`
}

// Record is all of a worker's enrolments and payments, in the order they
// were recorded.
type Record struct {
	Worker     string          `json:"worker"`
	Enrolments []Enrolment     `json:"enrolments"`
	Social     []SocialPayment `json:"social"`
}

func (r *Record) hasMonth(month string) bool {
	return slices.ContainsFunc(r.Social, func(p SocialPayment) bool { return p.Month == month })
}
