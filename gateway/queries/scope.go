package queries

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"cxt/appliance/errs"
	"cxt/appliance/ident"
	"cxt/appliance/merchants"
	"cxt/appliance/workers"
	"cxt/crypto/keyring"
	"cxt/storage/state"
)

// Scope is what a bureau client may see: the tax offices it was registered
// for, and whether it holds the platform's own office.
type Scope struct {
	Offices  []string
	Platform bool
}

// Identifier is how a bureau names a worker — the platform's worker ID
// (w_…) or their resident ID number — or a merchant — the platform's
// merchant ID (m_…) or its unified social credit code.
type Identifier string

// Error codes besides the identifier checks' own (id_*, uscc_*).
const (
	// CodeOutOfScope answers both a subject outside the bureau's scope and
	// one that does not exist: 404, the same message.
	CodeOutOfScope = "subject_not_visible"
	// CodeIdentifierFormat is an identifier of no known form: 400.
	CodeIdentifierFormat = "identifier_format"
	// CodeDocumentRef is a document reference of no known form: 400.
	CodeDocumentRef = "document_ref_format"
	// CodeDocumentNotFound answers a document the subject does not have
	// within the bureau's scope — none such, or another subject's: 404.
	CodeDocumentNotFound = "document_not_found"
)

// Codes are this package's error codes and their kinds, for the
// documentation's test.
var Codes = map[string]errs.Kind{
	CodeOutOfScope:       errs.NotExist,
	CodeIdentifierFormat: errs.Invalid,
	CodeDocumentRef:      errs.Invalid,
	CodeDocumentNotFound: errs.NotExist,
}

var (
	workerID   = regexp.MustCompile(`^w_[0-9a-f]{24}$`)
	merchantID = regexp.MustCompile(`^m_[0-9a-f]{16}$`)
	digitsX    = regexp.MustCompile(`^[0-9]+[0-9Xx]$`)
	usccShape  = regexp.MustCompile(`^[0-9A-Z]{18}$`)
)

// outOfScope is the one answer for a subject the bureau may not see or
// that is not there; it names neither which nor the subject.
func outOfScope(op, what string) error {
	return errs.Coded(op, errs.NotExist, CodeOutOfScope, "no %s answers to this identifier within your scope", what)
}

// lookup is how an identifier finds its subject: by ID, or by a blind
// index's key in a bucket.
type lookup struct {
	id     string
	bucket string
	index  []byte
}

// parseWorker reads a worker identifier; the clock only bounds an ID
// number's birth date.
func parseWorker(op string, by Identifier, keys *keyring.Keyring) (lookup, error) {
	s := strings.TrimSpace(string(by))
	switch {
	case strings.HasPrefix(s, "w_"):
		if !workerID.MatchString(s) {
			return lookup{}, errs.Coded(op, errs.Invalid, CodeIdentifierFormat, "a worker ID is w_ and 24 lower-case hex digits")
		}
		return lookup{id: s}, nil
	case digitsX.MatchString(s):
		id, err := ident.ParseResidentID(s, time.Now())
		if err != nil {
			return lookup{}, err
		}
		k, err := keys.IndexKey()
		if err != nil {
			return lookup{}, err
		}
		idx, _ := workers.Indexes(k, id.Number, "")
		return lookup{bucket: workers.IDIndexBucket, index: idx}, nil
	}
	return lookup{}, errs.Coded(op, errs.Invalid, CodeIdentifierFormat, "a worker is named by their worker ID (w_…) or their resident ID number")
}

// parseMerchant reads a merchant identifier.
func parseMerchant(op string, by Identifier, keys *keyring.Keyring) (lookup, error) {
	s := strings.TrimSpace(string(by))
	switch {
	case strings.HasPrefix(s, "m_"):
		if !merchantID.MatchString(s) {
			return lookup{}, errs.Coded(op, errs.Invalid, CodeIdentifierFormat, "a merchant ID is m_ and 16 lower-case hex digits")
		}
		return lookup{id: s}, nil
	case usccShape.MatchString(s):
		if _, err := ident.ParseUSCC(s); err != nil {
			return lookup{}, err
		}
		k, err := keys.IndexKey()
		if err != nil {
			return lookup{}, err
		}
		return lookup{bucket: merchants.USCCBucket, index: []byte(merchants.USCCIndex(k, s))}, nil
	}
	return lookup{}, errs.Coded(op, errs.Invalid, CodeIdentifierFormat, "a merchant is named by its merchant ID (m_…) or its unified social credit code")
}

// resolve finds the subject's ID, "" when there is none.
func (l lookup) resolve(r *state.ReadTx) (string, error) {
	if l.index == nil {
		return l.id, nil
	}
	v, err := r.Get(l.bucket, l.index)
	return string(v), err
}

// view is a bureau's view of the records: which merchants it may see,
// each read once.
type view struct {
	r     *state.ReadTx
	scope Scope
	seen  map[string]*merchants.Merchant // nil value: none such
}

func newView(r *state.ReadTx, scope Scope) *view {
	return &view{r: r, scope: scope, seen: map[string]*merchants.Merchant{}}
}

// merchant reads a merchant once; nil if there is none.
func (v *view) merchant(id string) (*merchants.Merchant, error) {
	if m, ok := v.seen[id]; ok {
		return m, nil
	}
	m, err := merchants.Get(v.r, id)
	if state.NotFound.Is(err) {
		m, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	v.seen[id] = m
	return m, nil
}

// sees reports whether the bureau may see merchant id's facts.
func (v *view) sees(id string) (bool, error) {
	if v.scope.Platform {
		return true, nil
	}
	m, err := v.merchant(id)
	if err != nil || m == nil {
		return false, err
	}
	return m.TaxOffice != "" && slices.Contains(v.scope.Offices, m.TaxOffice), nil
}
