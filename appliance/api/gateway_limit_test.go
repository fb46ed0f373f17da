package api_test

import (
	"testing"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/node"
	"cxt/gateway/pull"
	"cxt/storage/cluster/loopback"
)

// A bureau's signed requests are limited by its own rate, not by its
// address's anonymous one: its own bad requests (a malformed parameter)
// do not make its next good ones anonymous.
func TestABureausOwnBadRequestsDoNotSpendTheAnonymousRate(t *testing.T) {
	tight := api.Limits{Anonymous: 0.01, AnonymousBurst: 5, Logins: 1e6, LoginBurst: 1e6}
	e := startOpts(t, nil, func(o *node.Options) {
		o.GatewayAddr = loopback.FreeAddr()
		o.GatewayKeyInterval = 20 * time.Millisecond
		o.Limits = &tight
	})
	e.gatewayKey()
	sec, _ := e.signInMFA("secadmin")
	b := e.registerBureau(sec, []string{futianOffice}, nil)
	named := *b
	named.id = pull.KeyClient(b.key.Public()) // as cxt gateway pull names itself
	for i := range 10 {
		if a := named.call("GET", "/gateway/v1/feed?after=abc", ""); a.status != 400 {
			t.Fatalf("bad request %d: %d %v", i+1, a.status, a.body)
		}
	}
	if a := named.call("GET", "/gateway/v1/feed", ""); a.status != 200 {
		t.Fatalf("a good request after ten bad ones, named by its key: %d %v", a.status, a.body)
	}
	for i := range 10 {
		if a := b.call("GET", "/gateway/v1/feed?after=abc", ""); a.status != 400 {
			t.Fatalf("bad request %d: %d %v", i+1, a.status, a.body)
		}
	}
	if a := b.call("GET", "/gateway/v1/feed", ""); a.status != 200 {
		t.Fatalf("a good request after ten bad ones: %d %v", a.status, a.body)
	}
}
