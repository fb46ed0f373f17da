package node_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"cxt/appliance/identity"
	"cxt/appliance/node"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// A node whose hashes are made at a higher count than the stored ones (the
// admin's one-time password was hashed at init with sm.PasswordIterations)
// re-derives the stored hash inside the login that verifies it.
func TestALoginReDerivesAnOlderPasswordHashAtTheCurrentCount(t *testing.T) {
	const raised = 700_000
	dir := filepath.Join(t.TempDir(), "data")
	res, err := node.Init(ctx(t), dir, node.InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr()})
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet(), PasswordIterations: raised})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	waitLeader(t, n)
	var password string
	for _, a := range res.Admins {
		if a.Username == "auditadmin" {
			password = a.Password
		}
	}
	stored := func() identity.PasswordHash {
		c := n.Cluster()
		idx, _ := c.Keys().IndexKey()
		var acct *identity.Account
		c.State().View(func(r *state.ReadTx) error {
			acct, err = identity.AccountByName(r, identity.NameIndex(idx, "auditadmin"))
			return err
		})
		if acct == nil {
			t.Fatal("no auditadmin account")
		}
		return acct.Password
	}
	before := stored()
	if before.Iter >= raised {
		t.Fatalf("the admin's hash already has %d iterations", before.Iter)
	}
	cl := newClient(t, dir, n)
	login := fmt.Sprintf(`{"username":"auditadmin","password":%q}`, password)
	if code, body := cl.do("POST", "/api/v1/sessions", login); code != 201 {
		t.Fatalf("login: %d %v", code, body)
	}
	after := stored()
	if after.Iter != raised || !after.Verify(password) || string(after.Salt) == string(before.Salt) {
		t.Fatalf("after the login the hash has %d iterations (want %d), verifies %v", after.Iter, raised, after.Verify(password))
	}
	if code, body := cl.do("POST", "/api/v1/sessions", login); code != 201 {
		t.Fatalf("a second login with the same password: %d %v", code, body)
	}
	if again := stored(); string(again.Salt) != string(after.Salt) {
		t.Fatal("a login re-derived a hash that was already at the current count")
	}
}
