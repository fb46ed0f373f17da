package api_test

import (
	"testing"
)

// A payment's receipt is served where the payment is: its merchant's users
// and the platform see the route, another tenant finds no payment, and a
// payment that was never paid has no receipt (payment_status). The batch
// is uploaded and confirmed over the API; its one row names a worker the
// node does not know, so the driver rejects it.
func TestAReceiptIsOnlyForAPaidPaymentAndOnlyInItsTenant(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	idA, bossA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	_, bossB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")
	up := e.call("POST", "/api/v1/merchants/"+idA+"/payout-batches", bossA, `{"ref":"r-1","rows":[{"worker":"w_0000000000000000","task":"t-1","amount":"100.00"}]}`)
	if up.status != 201 {
		t.Fatalf("upload: %d %v", up.status, up.body)
	}
	batch := up.body["batch"].(string)
	e.stepUp(bossA, "boss-a")
	if r := e.confirmed("POST", "/api/v1/payout-batches/"+batch+"/confirm", bossA, "", "confirm-"+batch); r.status != 202 {
		t.Fatalf("confirm: %d %v", r.status, r.body)
	}
	eventually(t, "the batch is executed", func() bool {
		return e.call("GET", "/api/v1/payout-batches/"+batch, bossA, "").body["status"] == "executed"
	})
	payment := batch + "-000001"
	if r := e.call("GET", "/api/v1/payments/"+payment, bossA, ""); r.status != 200 || r.body["status"] != "rejected" {
		t.Fatalf("the payment: %d %v", r.status, r.body)
	}
	for who, token := range map[string]string{"its merchant": bossA, "the platform": reviewer} {
		if r := e.call("GET", "/api/v1/payments/"+payment+"/receipt", token, ""); r.status != 409 || r.code() != "payment_status" {
			t.Errorf("%s asking for a rejected payment's receipt: %d %v", who, r.status, r.body)
		}
	}
	if r := e.call("GET", "/api/v1/payments/"+payment+"/receipt", bossB, ""); r.status != 404 || r.code() != "not_found" {
		t.Fatalf("another tenant asking for the receipt: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/payments/"+batch+"-000002/receipt", bossA, ""); r.status != 404 || r.code() != "not_found" {
		t.Fatalf("no such payment: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/payments/"+payment+"/receipt", "", ""); r.status != 401 {
		t.Fatalf("no session: %d %v", r.status, r.body)
	}
}
