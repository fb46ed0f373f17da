package esign

import (
	"testing"

	"cxt/appliance/errs"
)

// An uploaded evidence package is outside input: whatever its bytes, Verify
// answers evidence_invalid or a report, never a panic; and nothing it
// accepts differs from a package the appliance sealed in a way that matters
// (the seed's signers and contract are what it reports).
func FuzzVerify(f *testing.F) {
	w := newWorld(f)
	_, pkg := w.signAll(f)
	want, err := Verify(pkg, w.ca.Cert)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pkg)
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := Verify(b, w.ca.Cert)
		if err != nil {
			if errs.Of(err).Code != CodeEvidenceInvalid {
				t.Fatalf("%v: not evidence_invalid", err)
			}
			return
		}
		if rep.Contract != want.Contract || len(rep.Signers) != len(want.Signers) {
			t.Fatalf("accepted a package saying something else: %+v", rep)
		}
		for i := range rep.Signers {
			if rep.Signers[i].Subject != want.Signers[i].Subject || !rep.Signers[i].SignedAt.Equal(want.Signers[i].SignedAt) {
				t.Fatalf("accepted another signer: %+v", rep.Signers[i])
			}
		}
	})
}
