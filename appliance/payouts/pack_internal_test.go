package payouts

import (
	"reflect"
	"testing"
	"time"
)

func TestAPaymentRecordRoundTripsAndVersionOneStillReads(t *testing.T) {
	p := &Payment{ID: "pb-1-000001", Batch: "pb-1", Row: 1, Merchant: "m", Worker: "w", Task: "t", Agreement: "a", Status: Accepted,
		AmountFen: 10_000, FeeFen: 600, IITFen: 1, NetFen: 9_999, Month: 202603, RuleSet: "cn-2026.2", Channel: "sandbox",
		Posting: 7, Outbox: 42, Created: time.Unix(0, 1_780_000_000_000_000_000).UTC(), Updated: time.Unix(0, 1_780_000_000_000_000_001).UTC()}
	got, err := unpackPayment(p.pack())
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// A version-1 record: no outbox entry at its end.
	p.Outbox = 0
	v2 := p.pack()
	v1 := append([]byte{1}, v2[1:len(v2)-1]...)
	got, err = unpackPayment(v1)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("version 1: %+v %v", got, err)
	}
	if _, err := unpackPayment(append([]byte{3}, v2[1:]...)); err == nil {
		t.Fatal("a version 3 record read")
	}
}
