package certificates

import (
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/api"
	"cxt/appliance/contracts"
	"cxt/appliance/esign"
	"cxt/appliance/filing"
	"cxt/appliance/payouts"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
)

// Doc is a certificate as a signed PDF: the files of its zip and the
// OpenSSL lines its README.txt prints (esign.SignedPDF).
var Doc = esign.SignedPDF{Base: "certificate"}

// The PDF and the signature in a certificate's zip.
const (
	FilePDF = "certificate.pdf"
	FileSig = "certificate.sig"
)

// Backend serves certificates over the API. It has no commands or buckets
// of its own: a certificate is made from the records.
type Backend struct {
	contracts.Lazy // the PDF's renderer, its fonts loaded on first use
}

// Register adds nothing: certificates keep no state.
func (b *Backend) Register(*state.Registry) {}

// Routes lists the endpoints: the months a worker has certificates for,
// and one month's certificate. The worker, platform staff and the
// merchants linked to the worker may ask; a merchant's is scoped to its
// own payments.
func (b *Backend) Routes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/workers/{id}/tax-certificates", Action: "tax_certificates.read", Kind: api.Read, Resource: resource, Handle: b.list},
		{Method: "GET", Path: "/api/v1/workers/{id}/tax-certificates/{period}", Action: "tax_certificates.read", Kind: api.Read, Resource: resource, Handle: b.certificate},
	}
}

// resource is the worker a route names: theirs and each linked merchant's.
func resource(r *api.Request) (api.Resource, error) {
	return r.Tenancy(api.Resource{Resource: policy.Resource{Label: 1, Tenanted: true}, Noun: "worker"},
		func(tx *state.ReadTx) (policy.Resource, error) {
			w, err := workers.Get(tx, r.Var("id"))
			if err != nil {
				return policy.Resource{}, err
			}
			return w.Tenancy(), nil
		})
}

// Month is one declared month of a worker's, as the list shows it.
type Month struct {
	Period   string `json:"period"`
	Version  int    `json:"version"`
	Income   string `json:"income"`
	Withheld string `json:"withheld"`
	Paid     bool   `json:"paid"` // a certificate can be had
	Link     string `json:"certificate,omitempty"`
}

func (b *Backend) list(r *api.Request) (int, any, error) {
	worker := r.Var("id")
	out := []Month{}
	err := r.View(func(tx *state.ReadTx) error {
		declared, err := filing.Periods(tx, filing.Platform)
		if err != nil {
			return err
		}
		for _, d := range declared {
			wt, err := filing.WorkerPeriod(tx, filing.Platform, d.Period, worker)
			if state.NotFound.Is(err) || filing.CodeNotDeclared.Is(err) {
				continue
			} else if err != nil {
				return err
			}
			m := Month{Period: d.Period, Version: wt.Version, Income: wt.Line.Income, Withheld: wt.Line.Withheld, Paid: wt.Paid}
			if r.Subject.Merchant != "" {
				// A merchant sees the months it paid the worker in, and no
				// amounts (its own part is in its certificate): the
				// worker's other income is none of its business.
				mine := &Certificate{Worker: worker, Period: d.Period}
				if err := monthPayments(tx, mine, r.Subject.Merchant, func(*payouts.Payment) {}); err != nil {
					return err
				}
				if mine.Payments == 0 {
					continue
				}
				m.Income, m.Withheld = "", ""
			}
			if m.Paid {
				m.Link = "/api/v1/workers/" + worker + "/tax-certificates/" + d.Period
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return 0, nil, api.Classify(err)
	}
	return 200, map[string]any{"worker": worker, "agent": filing.Platform, "months": out}, nil
}

func (b *Backend) certificate(r *api.Request) (int, any, error) {
	var c *Certificate
	var auth *agreements.Authority
	err := r.View(func(tx *state.ReadTx) (err error) {
		c, auth, err = Gather(tx, r.Node.Keys(), filing.Platform, r.Var("period"), r.Var("id"), r.Subject.Merchant)
		return err
	})
	if err != nil {
		return 0, nil, api.Classify(err)
	}
	ren, err := b.Renderer()
	if err != nil {
		return 0, nil, err
	}
	pdf, err := Render(ren, c)
	if err != nil {
		return 0, nil, err
	}
	keys, err := auth.Open(r.Node.Keys(), r.Now)
	if err != nil {
		return 0, nil, err
	}
	zip, err := Bundle(c, pdf.PDF, keys.Platform, keys.CA.Cert, r.Now())
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: "application/zip", Name: c.ID() + ".zip", Body: zip}, nil
}

// Bundle signs a certificate's PDF with the platform's key and packs it
// with the certificate chain and a README.
func Bundle(c *Certificate, pdf []byte, platform *esign.Platform, ca *sm.Certificate, now time.Time) ([]byte, error) {
	d := Doc
	d.Title = "Tax-payment certificate (完税证明) " + c.ID() + ": worker " + c.Worker + ", " + c.Period
	return d.Pack(pdf, platform, c.PlatformName, ca, now)
}
