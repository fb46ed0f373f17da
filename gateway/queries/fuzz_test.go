package queries_test

import (
	"testing"

	"cxt/appliance/workers/workerstest"
)

// Whatever a bureau sends as an identifier or a document reference is
// answered or refused with a 4xx and a code: never a panic, never a 500.
func FuzzIdentifiersAndReferences(f *testing.F) {
	w := newWorld(f)
	for _, s := range []string{w.wA, w.mA, w.uscc[w.mA], w.idNumber[w.wA], workerstest.ID(7), "w_", "m_", "", "11010519700101003x",
		"agreement:agr_x:pdf", "merchant:" + w.mA + ":licence-" + w.mA, "proof:task-a:" + w.wA + ":proof-a1", "proof::::", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check := func(what string, err error) {
			if c, status := code(err); status != 200 && (status < 400 || status > 499 || c == "") {
				t.Fatalf("%s %q: %d %s (%v)", what, s, status, c, err)
			}
		}
		_, err := w.worker(platform, s)
		check("worker", err)
		_, err = w.merchant(bureauA, s)
		check("merchant", err)
		_, err = w.document(platform, "worker", w.wA, s)
		check("document", err)
		_, err = w.document(bureauA, "merchant", s, "merchant:"+w.mA+":licence-"+w.mA)
		check("document of merchant", err)
	})
}
