package certificates

import (
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/api"
	"cxt/appliance/contracts"
	"cxt/appliance/esign"
	"cxt/appliance/filing"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
)

// The files of a certificate's zip.
const (
	FilePDF      = "certificate.pdf"
	FileSig      = "certificate.sig"
	FilePlatform = "platform.cert.pem"
	FileCA       = "ca.pem"
	FileReadme   = "README.txt"
)

// Verify is how a certificate is checked with OpenSSL 3 in the folder its
// zip was unpacked in (%d: the time of signing, Unix seconds).
const Verify = `openssl verify -vfyopt distid:1234567812345678 -attime %d -CAfile ca.pem platform.cert.pem
openssl x509 -in platform.cert.pem -pubkey -noout > platform.pub.pem
openssl dgst -sm3 -sigopt distid:1234567812345678 -verify platform.pub.pem -signature certificate.sig certificate.pdf
`

// Backend serves certificates over the API. It has no commands or buckets
// of its own: a certificate is made from the records.
type Backend struct {
	// Fonts are the PDF's fonts; the zero value is Debian's defaults.
	Fonts contracts.FontPaths

	once     sync.Once
	renderer *contracts.Renderer
	fontErr  error
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

// Renderer returns the PDF renderer, loading the fonts once.
func (b *Backend) Renderer() (*contracts.Renderer, error) {
	b.once.Do(func() {
		fonts := b.Fonts
		if fonts == (contracts.FontPaths{}) {
			fonts = contracts.DefaultFonts
		}
		b.renderer, b.fontErr = contracts.NewRenderer(fonts)
	})
	return b.renderer, b.fontErr
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
			if r.Subject.Merchant != "" { // a merchant sees its own part only: the amounts are in its certificate
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
	sig, err := platform.Key.Sign(pdf)
	if err != nil {
		return nil, fmt.Errorf("certificates: sign: %w", err)
	}
	now = now.UTC().Truncate(time.Second)
	sum := sm.Sum(pdf)
	var readme strings.Builder
	fmt.Fprintf(&readme, "Tax-payment certificate (完税证明) %s: worker %s, %s\n\n", c.ID(), c.Worker, c.Period)
	fmt.Fprintf(&readme, "certificate.pdf    the certificate; SM3 %s\n", hex.EncodeToString(sum[:]))
	fmt.Fprintf(&readme, "certificate.sig    %s's SM2 signature over certificate.pdf, made %s\n", c.PlatformName, now.Format(time.RFC3339))
	readme.WriteString("platform.cert.pem, ca.pem    the platform's certificate and the e-signing CA that issued it\n\n")
	fmt.Fprintf(&readme, "The CA's SM3 fingerprint is %s: compare it with the one the platform\n", ca.Fingerprint())
	readme.WriteString("publishes (GET /api/v1/esign/authority). Then, in this folder, with OpenSSL 3:\n\n")
	fmt.Fprintf(&readme, Verify, now.Unix())
	readme.WriteString("\nThe last line prints \"Verified OK\" for this certificate.pdf, and fails for any other bytes.\n")
	return esign.Zip(map[string][]byte{
		FilePDF: pdf, FileSig: sig, FilePlatform: platform.Cert.PEM(), FileCA: ca.PEM(), FileReadme: []byte(readme.String()),
	}, now)
}
