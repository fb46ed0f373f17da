package insurance

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/appliance/tasks"
)

// Rules are the recommendation rules in force: a numbered version, each
// rule tried in order.
type Rules struct {
	Version int       `json:"version"`
	Rules   []Rule    `json:"rules"`
	By      string    `json:"by,omitempty"`
	Set     time.Time `json:"set,omitzero"`
}

// Rule recommends a product — the one it names, or every active product
// of its kind — to a worker who takes tasks of one of its categories (any
// work, if none), whose age is within its range (0: no bound), and whose
// real name is verified if it requires it.
type Rule struct {
	ID              string   `json:"id"`
	Product         string   `json:"product,omitempty"`
	Kind            string   `json:"kind,omitempty"`
	Categories      []string `json:"categories,omitempty"`
	MinAge          int      `json:"min_age,omitempty"`
	MaxAge          int      `json:"max_age,omitempty"`
	RequireVerified bool     `json:"require_verified,omitempty"`
	Why             string   `json:"why"`
}

//go:embed default_rules.json
var defaultRules []byte

// DefaultRules are the rules in force until an operator sets a version:
// version 0.
func DefaultRules() Rules {
	var r Rules
	if err := json.Unmarshal(defaultRules, &r); err != nil {
		panic("insurance: default_rules.json: " + err.Error())
	}
	return r
}

// MaxRules bounds a version.
const MaxRules = 200

// Check refuses rules that break a rule of their own.
func (rs *Rules) Check() error {
	if len(rs.Rules) > MaxRules {
		return fmt.Errorf("rules: at most %d", MaxRules)
	}
	seen := map[string]bool{}
	for i, r := range rs.Rules {
		where := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.ID == "" || len(r.ID) > 64 || strings.ContainsAny(r.ID, " /\r\n") || seen[r.ID]:
			return fmt.Errorf("%s.id: 1 to 64 characters without spaces or slashes, each once", where)
		case (r.Product == "") == (r.Kind == ""):
			return fmt.Errorf("%s: names a product or a kind, not both", where)
		case r.Kind != "" && !slices.Contains(Kinds, r.Kind):
			return fmt.Errorf("%s.kind: one of %s", where, strings.Join(Kinds, ", "))
		case r.MinAge < 0 || r.MaxAge < 0 || r.MinAge > 150 || r.MaxAge > 150 || (r.MaxAge != 0 && r.MinAge > r.MaxAge):
			return fmt.Errorf("%s: min_age and max_age 0 to 150, min_age not above max_age", where)
		case strings.TrimSpace(r.Why) == "" || utf8.RuneCountInString(r.Why) > 500:
			return fmt.Errorf("%s.why: the explanation shown, 1 to 500 characters", where)
		}
		for _, c := range r.Categories {
			if !slices.Contains(tasks.Categories, c) {
				return fmt.Errorf("%s.categories: task categories (%s)", where, strings.Join(tasks.Categories, ", "))
			}
		}
		seen[r.ID] = true
	}
	return nil
}

// Attributes are what the rules look at of a worker.
type Attributes struct {
	Age        int      // whole years on the day asked about; -1 unknown
	Verified   bool     // real name verified
	Categories []string // of the tasks they take (and of the task asked about)
}

// Recommendation is a product recommended, and every rule that matched.
type Recommendation struct {
	Product Product `json:"product"`
	Rules   []Match `json:"rules"`
}

// Match is a rule that recommended the product, and why.
type Match struct {
	Rule string `json:"rule"`
	Why  string `json:"why"`
}

// Skip is a rule that recommended nothing, or a product a matching rule
// named that the worker is not eligible for, and the reason.
type Skip struct {
	Rule    string `json:"rule"`
	Product string `json:"product,omitempty"`
	Reason  string `json:"reason"`
}

// Recommend applies the rules to a worker's attributes: the products
// recommended, in the order of the first rule that matched each, and the
// rules and products that did not apply, with the reason. Retired
// products are never recommended.
func Recommend(rs Rules, products []Product, a Attributes) ([]Recommendation, []Skip) {
	out := []Recommendation{}
	skips := []Skip{}
	at := map[string]int{}
	for _, r := range rs.Rules {
		if reason := r.misses(a); reason != "" {
			skips = append(skips, Skip{Rule: r.ID, Reason: reason})
			continue
		}
		named := false
		for _, p := range products {
			if p.Status != Active || (r.Product != "" && p.ID != r.Product) || (r.Kind != "" && p.Kind != r.Kind) {
				continue
			}
			named = true
			if reason := eligible(&p, a); reason != "" {
				skips = append(skips, Skip{Rule: r.ID, Product: p.ID, Reason: reason})
				continue
			}
			i, ok := at[p.ID]
			if !ok {
				i = len(out)
				at[p.ID] = i
				out = append(out, Recommendation{Product: p})
			}
			out[i].Rules = append(out[i].Rules, Match{Rule: r.ID, Why: r.Why})
		}
		if !named {
			skips = append(skips, Skip{Rule: r.ID, Reason: "no active product " + or(r.Product, "of kind "+r.Kind)})
		}
	}
	return out, skips
}

// misses says why the rule does not apply to a, or "".
func (r *Rule) misses(a Attributes) string {
	if len(r.Categories) > 0 && !slices.ContainsFunc(r.Categories, func(c string) bool { return slices.Contains(a.Categories, c) }) {
		return fmt.Sprintf("takes no task of %s", strings.Join(r.Categories, ", "))
	}
	if !ageFits(a.Age, r.MinAge, r.MaxAge) {
		return ageReason(a.Age, r.MinAge, r.MaxAge)
	}
	if r.RequireVerified && !a.Verified {
		return "real name not verified"
	}
	return ""
}

// eligible says why a worker may not take the product, or "".
func eligible(p *Product, a Attributes) string {
	if !ageFits(a.Age, p.MinAge, p.MaxAge) {
		return "product: " + ageReason(a.Age, p.MinAge, p.MaxAge)
	}
	if p.RealNameRequired && !a.Verified {
		return "product: requires a verified real name"
	}
	return ""
}

// ageReason says why an age is outside a range without saying the age:
// the explanation reaches a merchant's users, who are not told it.
func ageReason(age, minAge, maxAge int) string {
	switch {
	case age < 0:
		return "age unknown"
	case minAge != 0 && age < minAge:
		return fmt.Sprintf("younger than %d", minAge)
	}
	return fmt.Sprintf("older than %d", maxAge)
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
