package bureaus

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"cxt/appliance/errs"
	"cxt/appliance/signedreq"
	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/gateway/pull"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

func newKey(t *testing.T) Key {
	t.Helper()
	k, _ := sm.GenerateKey()
	pub, _ := k.Public().MarshalPEM()
	key, err := CheckKey(string(pub), "")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func bureau(t *testing.T, id string) Client {
	return Client{ID: id, Name: "深圳税务 gateway", Offices: []string{"14403000000"}, Key: newKey(t), CreatedBy: "acct-sec"}
}

func code(res state.Result) string { return statetest.Code(res.Err) }

func TestAClientKeyIsItsOwnForeverAndAStatusMovesOnlyForward(t *testing.T) {
	m := statetest.New(t, Register)
	c := bureau(t, "bu_0123456789abcdef")
	if res := m.Send(CmdRegister, c); res.Err != nil {
		t.Fatal(res.Err)
	}
	other := bureau(t, "bu_1123456789abcdef")
	other.Key = c.Key
	if res := m.Send(CmdRegister, other); code(res) != "client_key_taken" {
		t.Fatalf("a second client with the first one's key: %v", res.Err)
	}
	bad := bureau(t, "bu_2123456789abcdef")
	bad.Offices = []string{"24403000000"}
	if res := m.Send(CmdRegister, bad); code(res) != "invalid_request" {
		t.Fatalf("an office code outside the tax system: %v", res.Err)
	}
	forged := bureau(t, "bu_3123456789abcdef")
	forged.Fingerprint = c.Fingerprint
	if res := m.Send(CmdRegister, forged); code(res) != "invalid_request" {
		t.Fatalf("a key whose fingerprint is another's: %v", res.Err)
	}

	for _, step := range []struct {
		action, want, code string
	}{
		{ActResume, "", "client_status"}, // live: nothing to resume
		{ActSuspend, Suspended, ""},
		{ActSuspend, "", "client_status"},
		{ActResume, Live, ""},
		{ActRevoke, Revoked, ""},
		{ActResume, "", "client_status"}, // never restored
		{ActRevoke, "", "client_status"},
	} {
		res := m.Send(CmdChange, Change{ID: c.ID, Action: step.action, By: "acct-sec", Reason: "the test says so"})
		if code(res) != step.code {
			t.Fatalf("%s: %v, want %q", step.action, res.Err, step.code)
		}
		if step.want != "" {
			got, _ := viewClient(m, c.ID)
			if got.Status != step.want {
				t.Fatalf("%s: status %s, want %s", step.action, got.Status, step.want)
			}
		}
	}
	if res := m.Send(CmdRotate, Rotation{ID: c.ID, Key: newKey(t), By: "acct-sec", Reason: "too late"}); code(res) != "client_status" {
		t.Fatalf("a revoked client's key rotated: %v", res.Err)
	}
}

func viewClient(m *statetest.Machine, id string) (*Client, error) {
	var c *Client
	err := m.State.View(func(tx *state.ReadTx) error {
		var err error
		c, err = Get(tx, id)
		return err
	})
	return c, err
}

func TestARotatedKeyIsRetiredForEveryClientAndTheNonceFollowsTheStatus(t *testing.T) {
	m := statetest.New(t, Register)
	c := bureau(t, "bu_0123456789abcdef")
	if res := m.Send(CmdRegister, c); res.Err != nil {
		t.Fatal(res.Err)
	}
	fresh := newKey(t)
	if res := m.Send(CmdRotate, Rotation{ID: c.ID, Key: fresh, By: "acct-sec", Reason: "yearly rotation"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	got, _ := viewClient(m, c.ID)
	if got.Fingerprint != fresh.Fingerprint || len(got.Retired) != 1 || got.Retired[0].Fingerprint != c.Fingerprint {
		t.Fatalf("after the rotation: %+v", got)
	}
	// The old key goes back to nobody: not this client, not a new one.
	if res := m.Send(CmdRotate, Rotation{ID: c.ID, Key: c.Key, By: "acct-sec", Reason: "go back"}); code(res) != "client_key_taken" {
		t.Fatalf("the retired key rotated back in: %v", res.Err)
	}
	again := bureau(t, "bu_1123456789abcdef")
	again.Key = c.Key
	if res := m.Send(CmdRegister, again); code(res) != "client_key_taken" {
		t.Fatalf("the retired key registered for another client: %v", res.Err)
	}

	now := time.Now()
	m.Now = now
	n := signedreq.Nonce{Client: c.ID, Nonce: "0123456789abcdef", Expires: now.Add(signedreq.TTL)}
	if res := m.Send(CmdNonce, n); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := m.Send(CmdNonce, n); code(res) != "request_replayed" || res.Err.Kind != state.KindUnauthenticated {
		t.Fatalf("a nonce taken twice: %v", res.Err)
	}
	m.Send(CmdChange, Change{ID: c.ID, Action: ActSuspend, By: "acct-sec", Reason: "investigation"})
	n.Nonce = "1123456789abcdef"
	if res := m.Send(CmdNonce, n); code(res) != "client_suspended" || res.Err.Kind != state.KindPermission {
		t.Fatalf("a suspended client's nonce: %v", res.Err)
	}
	m.Send(CmdChange, Change{ID: c.ID, Action: ActRevoke, By: "acct-sec", Reason: "investigation over"})
	if res := m.Send(CmdNonce, n); code(res) != "client_revoked" || res.Err.Kind != state.KindUnauthenticated {
		t.Fatalf("a revoked client's nonce: %v", res.Err)
	}
	n.Client = "bu_ffffffffffffffff"
	if res := m.Send(CmdNonce, n); code(res) != "request_signature_invalid" {
		t.Fatalf("an unknown client's nonce: %v", res.Err)
	}
}

// tlsCert makes an ECDSA certificate for client authentication.
func tlsCert(t *testing.T, usage x509.ExtKeyUsage) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bureau"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestKeysAndCertificatesAreReadForWhatTheyAre(t *testing.T) {
	k, _ := sm.GenerateKey()
	pub, _ := k.Public().MarshalPEM()
	caKey, _ := sm.GenerateKey()
	ca, _ := sm.NewCA(caKey, "bureau CA", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	cert, _ := sm.Issue(ca, caKey, k.Public(), "bureau", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	fromKey, err := CheckKey(string(pub), "")
	if err != nil {
		t.Fatal(err)
	}
	fromCert, err := CheckKey("", string(cert.PEM()))
	if err != nil || fromCert.Fingerprint != fromKey.Fingerprint || fromCert.Certificate == "" {
		t.Fatalf("the certificate's key: %+v %v", fromCert, err)
	}
	if _, err := CheckKey(string(pub), string(cert.PEM())); err == nil {
		t.Error("a key and a certificate both taken")
	}
	if _, err := CheckKey("", ""); err == nil {
		t.Error("neither key nor certificate taken")
	}
	if _, err := CheckKey("", string(pub)); err == nil {
		t.Error("a public key taken as a certificate")
	}
	if c, err := CheckTLS(tlsCert(t, x509.ExtKeyUsageClientAuth)); err != nil || c.Fingerprint == "" {
		t.Fatalf("an ECDSA client certificate: %v", err)
	}
	if _, err := CheckTLS(tlsCert(t, x509.ExtKeyUsageServerAuth)); err == nil {
		t.Error("a server-only certificate pinned for a client")
	}
	if _, err := CheckTLS(string(cert.PEM())); err == nil {
		t.Error("an SM2 certificate pinned for TLS, which cannot present it")
	}
	if _, err := CheckOffices([]string{"14403000000", "14403000000"}); err == nil {
		t.Error("an office named twice")
	}
	if got, err := CheckOffices([]string{"14403000000", "13101050000"}); err != nil || got[0] != "13101050000" {
		t.Errorf("offices not sorted: %v %v", got, err)
	}
}

func TestAClientReadsTheWholeFeedOnlyThroughThePlatformsOfficeAndOtherwiseItsOwn(t *testing.T) {
	const platform, shenzhen, huangpu = "14403000000", "14403050000", "13101050000"
	one := &Client{ID: "bu_1", Offices: []string{shenzhen}}
	two := &Client{ID: "bu_2", Offices: []string{huangpu, shenzhen}}
	top := &Client{ID: "bu_3", Offices: []string{platform, shenzhen}}
	for _, c := range []struct {
		name           string
		client         *Client
		platform, asks string
		want, code     string
	}{
		{"its only office by default", one, platform, "", shenzhen, ""},
		{"its office named", one, platform, shenzhen, shenzhen, ""},
		{"another office", one, platform, huangpu, "", "out_of_scope"},
		{"the platform's office it does not hold", one, platform, platform, "", "out_of_scope"},
		{"a malformed office", one, platform, "1440305000", "", "tax_office_format"},
		{"an office of no area", one, platform, "19999990000", "", "tax_office_region"},
		{"several offices and none named", two, platform, "", "", "office_required"},
		{"one of several", two, platform, huangpu, huangpu, ""},
		{"the platform's office: the whole feed", top, platform, "", feed.Platform, ""},
		{"the platform's office named: the whole feed", top, platform, platform, feed.Platform, ""},
		{"the platform's client asking one office", top, platform, shenzhen, shenzhen, ""},
		{"no profile yet: nobody reads the whole feed", top, "", "", "", "office_required"},
		{"the whole feed named as page heads name it", top, platform, "platform", feed.Platform, ""},
		{"the whole feed named by a client that does not read it", one, platform, "platform", "", "out_of_scope"},
		{"the platform's client reads any office's chain", top, platform, huangpu, huangpu, ""},
	} {
		got, err := Scope(c.client, c.platform, c.asks)
		if code := errs.Of(err).Code; (err == nil) != (c.code == "") || (err != nil && code != c.code) || got != c.want {
			t.Errorf("%s: %q %v, want %q %s", c.name, got, err, c.want, c.code)
		}
	}
}

func TestAClientIsFoundByTheNameOfEachKeyItHoldsOrHeld(t *testing.T) {
	m := statetest.New(t, Register)
	priv, _ := sm.GenerateKey()
	pub, _ := priv.Public().MarshalPEM()
	first, err := CheckKey(string(pub), "")
	if err != nil {
		t.Fatal(err)
	}
	c := bureau(t, "bu_0123456789abcdef")
	c.Key = first
	other := bureau(t, "bu_1123456789abcdef")
	for _, x := range []Client{c, other} {
		if res := m.Send(CmdRegister, x); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	find := func(name string) *Client {
		t.Helper()
		var got *Client
		if err := m.State.View(func(tx *state.ReadTx) error {
			var err error
			got, err = FindByName(tx, name)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return got
	}
	// The reference client's name for a key is the one the gateway reads.
	if KeyName(first.Fingerprint) != pull.KeyClient(priv.Public()) {
		t.Fatalf("KeyName %s, the reference client signs as %s", KeyName(first.Fingerprint), pull.KeyClient(priv.Public()))
	}
	for _, x := range []struct{ name, want string }{
		{c.ID, c.ID},
		{KeyName(c.Fingerprint), c.ID},
		{KeyName(other.Fingerprint), other.ID},
		{other.ID, other.ID},
	} {
		if got := find(x.name); got == nil || got.ID != x.want {
			t.Errorf("%s found %+v, want %s", x.name, got, x.want)
		}
	}
	unknown := newKey(t)
	upper := KeyNamePrefix + strings.ToUpper(c.Fingerprint[:32])
	for _, name := range []string{KeyName(unknown.Fingerprint), KeyNamePrefix + c.Fingerprint[:31], KeyNamePrefix + c.Fingerprint, upper, "key-", c.Fingerprint[:32], "bu_ffffffffffffffff"} {
		if got := find(name); got != nil {
			t.Errorf("%q found client %s", name, got.ID)
		}
	}
	// Rotated: both names find the client; only the new one is its key in
	// force (Authenticate refuses the old one by that).
	fresh := newKey(t)
	if res := m.Send(CmdRotate, Rotation{ID: c.ID, Key: fresh, By: "acct-sec", Reason: "yearly rotation"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := find(KeyName(fresh.Fingerprint)); got == nil || got.ID != c.ID || got.Fingerprint != fresh.Fingerprint {
		t.Fatalf("the new key's name found %+v", got)
	}
	if got := find(KeyName(first.Fingerprint)); got == nil || got.ID != c.ID || strings.HasPrefix(got.Fingerprint, first.Fingerprint[:32]) {
		t.Fatalf("the retired key's name found %+v", got)
	}
}
