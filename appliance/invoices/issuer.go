package invoices

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Issuer is the tax-control system (税控系统 / 数电票 platform) as the
// driver uses it. Issue issues one invoice — a red-letter one when the
// request names the original's number — and answers its number. The
// request's ID is its idempotency key (开票流水号): asked again for an ID it
// issued, the Issuer answers the same number and issues nothing, so a
// driver that stops between the issue and the command recording it may
// simply ask again.
type Issuer interface {
	Name() string
	Issue(ctx context.Context, req IssueRequest) (number string, err error)
}

// IssueRequest is what the tax-control system is given: the invoice's
// fields (Export's columns), and, for a red-letter one, the original's
// number.
type IssueRequest struct {
	ID             string
	Kind           Kind
	Seller         string
	SellerTaxID    string
	Buyer          string
	BuyerTaxID     string
	Item           string
	Rate           string
	AmountFen      int64
	TaxFen         int64
	TotalFen       int64
	OriginalNumber string    // a red-letter invoice's original; "" for a blue one
	Requested      time.Time // when the invoice was asked for
}

// Sandbox is the default Issuer: it issues nothing real. Its numbers are
// 20 digits — "26" (the year the invoice was asked for, China time), "99" (no province:
// the sandbox), "0", then the invoice's sequence in 15 digits — derived
// from the request alone, so every node's sandbox gives the same request
// the same number, and never a second one.
type Sandbox struct {
	mu     sync.Mutex
	issued map[string]string
	asked  map[string]int
	// Fail, if set, is asked before each issue: an error it returns is the
	// Issuer's (a test's outage).
	Fail func(IssueRequest) error
}

// Name is "sandbox".
func (s *Sandbox) Name() string { return "sandbox" }

// Issue answers the request's number, issuing it the first time.
func (s *Sandbox) Issue(ctx context.Context, req IssueRequest) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if s.Fail != nil {
		if err := s.Fail(req); err != nil {
			return "", err
		}
	}
	seq, err := strconv.ParseUint(strings.TrimPrefix(req.ID, "inv-"), 10, 64)
	if err != nil || !strings.HasPrefix(req.ID, "inv-") {
		return "", fmt.Errorf("sandbox issuer: request %q is not an invoice ID", req.ID)
	}
	if req.TotalFen == 0 || (req.OriginalNumber != "") != (req.TotalFen < 0) {
		return "", fmt.Errorf("sandbox issuer: %s: a blue invoice is positive, a red-letter one negative and names its original", req.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.issued == nil {
		s.issued, s.asked = map[string]string{}, map[string]int{}
	}
	s.asked[req.ID]++
	if n, ok := s.issued[req.ID]; ok {
		return n, nil
	}
	n := fmt.Sprintf("%02d%s0%015d", req.Requested.In(china).Year()%100, SandboxProvince, seq)
	s.issued[req.ID] = n
	return n, nil
}

// Issued reports how many invoices the sandbox issued, and how often it
// was asked in all.
func (s *Sandbox) Issued() (issued, asked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.asked {
		asked += n
	}
	return len(s.issued), asked
}

// SandboxProvince is the province code of the sandbox's numbers: no
// province has it, so a tax office's number never does, and a number typed
// in with it is refused (it could only take one the sandbox will give).
const SandboxProvince = "99"
