package clients

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"cxt/appliance/callbacks"
	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

func registerAll(reg *state.Registry) {
	identity.Register(reg)
	subjects.Register(reg, nil)
	feed.Register(reg) // merchants speak command set 6, which appends to the feed
	merchants.Register(reg)
	callbacks.Register(reg)
	Register(reg)
}

// approved puts an approved merchant in the state, as an application and
// a review would.
func approved(t *testing.T, m *statetest.Machine, id string) {
	t.Helper()
	key, fresh, err := subjects.NewKey(m.Keys, id)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := subjects.Seal(key, merchants.PrivateAAD(id), merchants.Private{USCC: "x"})
	app := merchants.Application{ID: id, Name: "商户 " + id, Model: merchants.Intermediary, USCCIndex: "idx-" + id, Private: priv, Key: fresh, Applicant: "acct-" + id}
	if res := m.Send(merchants.CmdApply, app); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := m.Send(merchants.CmdReview, merchants.DirectApproval(id, "reviewer", "a test world")); res.Err != nil {
		t.Fatal(res.Err)
	}
}

func newClient(t *testing.T, id, merchant string) Client {
	t.Helper()
	k, _ := sm.GenerateKey()
	pem, _ := k.Public().MarshalPEM()
	_, fp, err := CheckKey(string(pem))
	if err != nil {
		t.Fatal(err)
	}
	return Client{ID: id, Merchant: merchant, Name: "ERP", PublicKey: string(pem), Fingerprint: fp, Actions: []string{"merchants.read"}, CreatedBy: "acct-admin"}
}

func TestAClientIsRegisteredOnceForAnApprovedMerchantAndRevokedForGood(t *testing.T) {
	m := statetest.New(t, registerAll)
	approved(t, m, "m_1")
	c := newClient(t, "cl_0000000000000001", "m_1")
	c.CallbackURL = "https://erp.example.cn/cb"
	if res := m.Send(CmdRegister, c); res.Err != nil {
		t.Fatal(res.Err)
	}
	var url string
	m.State.View(func(tx *state.ReadTx) error { url, _ = callbacks.Endpoint(tx, "m_1", c.ID); return nil })
	if url != c.CallbackURL {
		t.Fatalf("the callback endpoint: %q", url)
	}
	fresh := func(id string, change func(*Client)) Client {
		x := newClient(t, id, "m_1")
		change(&x)
		return x
	}
	sameKey := func(id string) Client { x := c; x.ID = id; return x }
	for name, c2 := range map[string]Client{
		"the same key again":        sameKey("cl_0000000000000002"),
		"an unknown merchant":       fresh("cl_0000000000000003", func(x *Client) { x.Merchant = "m_nope" }),
		"the same ID again":         fresh(c.ID, func(*Client) {}),
		"a fingerprint of another":  fresh("cl_0000000000000004", func(x *Client) { x.Fingerprint = c.Fingerprint }),
		"an http callback URL":      fresh("cl_0000000000000005", func(x *Client) { x.CallbackURL = "http://x.example/cb" }),
		"a non-canonical allowlist": fresh("cl_0000000000000006", func(x *Client) { x.AllowIPs = []string{"10.0.0.1/8"} }),
	} {
		if res := m.Send(CmdRegister, c2); res.Err == nil {
			t.Errorf("%s was registered", name)
		}
	}
	if res := m.Send(CmdRegister, sameKey("cl_0000000000000002")); res.Err == nil || res.Err.Code != CodeKeyTaken.String() {
		t.Errorf("the same key: %v", res.Err)
	}

	rv := Revocation{ID: c.ID, Merchant: "m_2", By: "acct-admin", Reason: "lost"}
	if res := m.Send(CmdRevoke, rv); res.Err == nil || res.Err.Kind != state.KindNotFound {
		t.Fatalf("revoked through another merchant: %v", res.Err)
	}
	rv.Merchant = "m_1"
	if res := m.Send(CmdRevoke, rv); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := m.Send(CmdRevoke, rv); res.Err == nil {
		t.Fatal("revoked twice")
	}
	m.State.View(func(tx *state.ReadTx) error { url, _ = callbacks.Endpoint(tx, "m_1", c.ID); return nil })
	if url != "" {
		t.Fatal("a revoked client's callback URL stayed")
	}
	// Its key stays taken.
	if res := m.Send(CmdRegister, sameKey("cl_0000000000000007")); res.Err == nil || res.Err.Code != CodeKeyTaken.String() {
		t.Errorf("a revoked client's key was registered again: %v", res.Err)
	}
	var list []*Client
	m.State.View(func(tx *state.ReadTx) error { list, _ = OfMerchant(tx, "m_1"); return nil })
	if len(list) != 1 || list[0].Live() || list[0].RevokedBy != "acct-admin" {
		t.Fatalf("the merchant's clients: %+v", list)
	}
}

func TestANonceIsTakenOnceAndForgottenWhenItsTimestampCouldNoLongerPass(t *testing.T) {
	m := statetest.New(t, registerAll)
	approved(t, m, "m_1")
	c := newClient(t, "cl_0000000000000001", "m_1")
	m.Send(CmdRegister, c)
	now := time.Now()
	m.Now = now
	n := Nonce{Client: c.ID, Nonce: "0123456789abcdef", Expires: now.Add(NonceTTL)}
	if res := m.Send(CmdNonce, n); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := m.Send(CmdNonce, n); res.Err == nil || res.Err.Code != CodeReplayed.String() || res.Err.Kind != state.KindUnauthenticated {
		t.Fatalf("the nonce again: %v", res.Err)
	}
	other := n
	other.Client = "cl_0000000000000002"
	if res := m.Send(CmdNonce, other); res.Err == nil || res.Err.Code != CodeSignature.String() {
		t.Fatalf("a nonce of an unknown client: %v", res.Err)
	}
	// A sweep before the expiry keeps it; one after forgets it.
	m.Now = now.Add(NonceTTL - time.Second)
	m.Apply(state.SweepCommand(100, m.Now))
	if res := m.Send(CmdNonce, n); res.Err == nil {
		t.Fatal("a sweep forgot a nonce before its time")
	}
	m.Now = now.Add(NonceTTL + time.Second)
	m.Apply(state.SweepCommand(100, m.Now))
	if res := m.Send(CmdNonce, n); res.Err != nil {
		t.Fatalf("the nonce after its expiry: %v", res.Err)
	}
	m.Send(CmdRevoke, Revocation{ID: c.ID, Merchant: "m_1", By: "acct-admin", Reason: "lost"})
	n.Nonce = "fedcba9876543210"
	if res := m.Send(CmdNonce, n); res.Err == nil || res.Err.Code != CodeSignature.String() {
		t.Fatalf("a nonce of a revoked client: %v", res.Err)
	}
}

func TestAllowListsAreCanonicalAndCompareTheSourceAddress(t *testing.T) {
	ips, err := CheckAllowIPs([]string{"203.0.113.7/24", "198.51.100.9", "2001:db8::1/32", "203.0.113.0/24"})
	if err != nil || !slices.Equal(ips, []string{"203.0.113.0/24", "198.51.100.9/32", "2001:db8::/32"}) {
		t.Fatalf("canonical: %v %v", ips, err)
	}
	for _, bad := range []string{"example.cn", "::ffff:1.2.3.4/120", "fe80::1%eth0", "1.2.3.4/33"} {
		if _, err := CheckAllowIPs([]string{bad}); err == nil {
			t.Errorf("%q was taken", bad)
		}
	}
	c := Client{AllowIPs: ips}
	for addr, ok := range map[string]bool{"203.0.113.200": true, "198.51.100.9": true, "198.51.100.10": false, "2001:db8:1::5": true,
		"::ffff:203.0.113.5": true, "127.0.0.1": false, "": false, "203.0.113.1:443": false} {
		if c.Allows(addr) != ok {
			t.Errorf("%q allowed: %v, want %v", addr, !ok, ok)
		}
	}
	if !(&Client{}).Allows("192.0.2.1") {
		t.Error("a client without an allow-list refused an address")
	}
}

func TestNamesAndActionListsAreChecked(t *testing.T) {
	if n, err := CheckName("  ERP 薪资系统 "); err != nil || n != "ERP 薪资系统" {
		t.Errorf("a good name: %q %v", n, err)
	}
	for _, bad := range []string{"", "   ", "a\nb", string(make([]rune, MaxName+1))} {
		if _, err := CheckName(bad); err == nil {
			t.Errorf("name %q was taken", bad)
		}
	}
	if err := CheckActionNames([]string{"a.b", "a.b"}); err == nil {
		t.Error("an action named twice was taken")
	}
	if err := CheckActionNames(nil); err == nil {
		t.Error("no actions were taken")
	}
	b, _ := json.Marshal(Client{})
	if json.Valid(b) == false {
		t.Fatal("a client does not encode")
	}
}
