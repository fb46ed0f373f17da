package api_test

import (
	"testing"
	"time"

	"cxt/crypto/sm"
)

// Refusals do not tell which gateway clients exist: a real client's ID
// signed with another key, and an ID no client has, answer alike — fresh
// or stale.
func TestGatewayRefusalsDoNotTellWhichClientsExist(t *testing.T) {
	e := startGateway(t)
	e.gatewayKey()
	sec, _ := e.signInMFA("secadmin")
	real := e.registerBureau(sec, []string{futianOffice}, nil)
	forger, _ := sm.GenerateKey()
	asReal := &bureau{e: e, id: real.id, key: forger, conn: real.conn}
	asNobody := &bureau{e: e, id: "bu_0123456789abcdef", key: forger, conn: real.conn}
	for _, skew := range []time.Duration{0, -10 * time.Minute} {
		a := asReal.do(asReal.signed("GET", "/gateway/v1/feed", "", skew))
		b := asNobody.do(asNobody.signed("GET", "/gateway/v1/feed", "", skew))
		ea, _ := a.body["error"].(map[string]any)
		eb, _ := b.body["error"].(map[string]any)
		if a.status != 401 || a.status != b.status || ea["code"] != eb["code"] || ea["message"] != eb["message"] {
			t.Errorf("skew %s: a real client's ID answers %d %v, an unknown one %d %v", skew, a.status, ea, b.status, eb)
		}
	}
}
