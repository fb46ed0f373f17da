package node_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"cxt/appliance/datadir"
	"cxt/appliance/documents"
	"cxt/appliance/errs"
	"cxt/appliance/identity"
	"cxt/appliance/node"
	"cxt/crypto/keyring"
	"cxt/storage/auditlog"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// fromShares rebuilds a master key from hex shares.
func fromShares(t *testing.T, shares []string) *keyring.MasterKey {
	t.Helper()
	var raw [][]byte
	for _, s := range shares {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	m, err := keyring.MasterKeyFromShares(raw)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// seedData writes what a rekey must keep readable: a second key term, a
// sealed document with its record, and an audit entry.
func seedData(t *testing.T, n *node.Node, master *keyring.MasterKey) {
	t.Helper()
	c := n.Cluster()
	install, err := state.InstallTermCommand(master, c.Keys().Active()+1, keyring.NewSecret(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProposeOK(ctx(t), install); err != nil {
		t.Fatal(err)
	}
	info, err := n.Documents().Put(ctx(t), "payslip-1", strings.NewReader("wage 8000 yuan"), 14)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProposeOK(ctx(t), documents.RegisterCommand(info, "March payslip", time.Now())); err != nil {
		t.Fatal(err)
	}
}

// checkData reads everything seedData wrote, and the accounts init made.
func checkData(t *testing.T, n *node.Node) {
	t.Helper()
	c := n.Cluster()
	if err := c.ReadBarrier(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if c.Keys().Active() < 2 {
		t.Fatalf("key term %d: the rotated term is gone", c.Keys().Active())
	}
	idx, err := c.Keys().IndexKey()
	if err != nil {
		t.Fatal(err)
	}
	var rec *documents.Record
	if err := c.State().View(func(r *state.ReadTx) error {
		acct, err := identity.AccountByName(r, identity.NameIndex(idx, "secadmin"))
		if err != nil || acct == nil {
			t.Fatalf("the security admin's account does not read: %v", err)
		}
		if rec, err = documents.Get(r, "payslip-1"); err != nil || rec == nil {
			t.Fatalf("the document record does not read: %v", err)
		}
		rep, err := auditlog.Verify(r)
		if err != nil || !rep.OK || rep.Size == 0 {
			t.Fatalf("audit log after the rekey: %+v %v", rep, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d, _ := rec.Digest()
	rc, err := n.Documents().Get(ctx(t), "payslip-1", d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != "wage 8000 yuan" {
		t.Fatalf("the document reads %q, %v", b, err)
	}
}

func hexKey(m *keyring.MasterKey) string {
	b := m.Bytes()
	defer clear(b)
	return hex.EncodeToString(b)
}

func writeNotifications(t *testing.T, dir string, notifications map[string]any) {
	t.Helper()
	path := filepath.Join(dir, datadir.NodeFile)
	b, _ := os.ReadFile(path)
	var cfg map[string]any
	json.Unmarshal(b, &cfg)
	cfg["notifications"] = notifications
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRekeyToANewKeyFileRetiresTheOldKeyAndKeepsEveryRecord(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	writeNotifications(t, dir, map[string]any{"smtp_addr": "127.0.0.1:25", "smtp_password": "smtp-Secret-42", "sms_webhook": "https://sms.example/send?key=sms-Secret-43"})
	node.WriteSection(t, dir, "real_name", map[string]any{"url": "https://realname.example/v1/verify", "app": "cxt", "secret": "rn-Secret-45"})
	n := open(t, dir)
	waitLeader(t, n)
	old, err := datadir.ReadKeyFile(filepath.Join(dir, datadir.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	seedData(t, n, old)

	res, err := n.Rekey(ctx(t), node.RekeyRequest{MasterKey: hexKey(old), Reason: "yearly key rotation"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Done || res.KeyFile != filepath.Join(dir, datadir.MasterKeyFile) {
		t.Fatalf("rekey result %+v", res)
	}
	next, err := datadir.ReadKeyFile(filepath.Join(dir, datadir.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := datadir.Load(dir)
	if old.Check(cfg.Seal.Verifier) == nil || next.Check(cfg.Seal.Verifier) != nil {
		t.Fatal("node.json does not name the new key alone")
	}
	if st := n.Status(); st.Sealed {
		t.Fatal("the node is sealed after the rekey")
	}
	checkData(t, n) // the running node, reopened on the new key
	seedMore := auditlog.RecordCommand(auditlog.Context{Event: "audit.export", Subject: "test"}, time.Now())
	if _, err := n.Cluster().ProposeOK(ctx(t), seedMore); err != nil {
		t.Fatalf("a write after the rekey: %v", err)
	}
	// The keyring holds the new key's wrappings only, and the Raft log from
	// before the rekey (term-0 entries under the old key) is compacted away.
	if cur, pending, err := n.Cluster().State().MasterKeys(); err != nil || pending != nil || string(cur) != string(next.Verifier()) {
		t.Fatalf("keyring after the rekey: current %x pending %x %v", cur, pending, err)
	}
	snapIndex := n.Status().AppliedIndex
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	store, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft", "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := store.FirstIndex()
	store.Close()
	if first <= 3 || first > snapIndex {
		t.Errorf("the Raft log still starts at %d (applied %d): the entries sealed under the old term 0 are still there", first, snapIndex)
	}

	// Every secret of the folder moved to the new key.
	cfg, _ = datadir.Load(dir)
	nc, err := cfg.NotifyConfig(next)
	if err != nil || nc.SMTPPassword != "smtp-Secret-42" || !strings.Contains(nc.SMSWebhook, "sms-Secret-43") {
		t.Fatalf("notification secrets under the new key: %+v %v", nc, err)
	}
	if _, err := cfg.NotifyConfig(old); err == nil {
		t.Error("the old key still opens the notification secrets")
	}
	if rn, err := cfg.RealNameConfig(next); err != nil || rn.Secret != "rn-Secret-45" {
		t.Fatalf("the real-name secret under the new key: %+v %v", rn, err)
	}
	if _, err := cfg.RealNameConfig(old); err == nil {
		t.Error("the old key still opens the real-name secret")
	}
	if _, _, _, err := cfg.Identity(old); err == nil {
		t.Error("the old key still opens the node key")
	}
	// The old key opens nothing: not node.json's check, not the state file.
	if _, _, err := node.VerifyAudit(dir, old); !errors.Is(err, keyring.ErrWrongMasterKey) {
		t.Errorf("offline audit with the old key: %v", err)
	}
	keys, _ := keyring.New(old)
	reg := state.NewRegistry()
	node.Register(reg)
	if st, err := state.OpenWith(filepath.Join(dir, "state.db"), reg, keys, old, state.Options{ReadOnly: true}); !errors.Is(err, keyring.ErrWrongMasterKey) {
		if st != nil {
			st.Close()
		}
		t.Errorf("the old key still unwraps the state's key terms: %v", err)
	}

	// A restart unseals from the new key file and reads everything.
	n2 := open(t, dir)
	waitLeader(t, n2)
	checkData(t, n2)
	n2.Close()

	// The old key file put back is refused, and nothing changes.
	ob := old.Bytes()
	os.WriteFile(filepath.Join(dir, datadir.MasterKeyFile), ob, 0o600)
	clear(ob)
	if _, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()}); !errors.Is(err, keyring.ErrWrongMasterKey) {
		t.Fatalf("the old key file unsealed the node: %v", err)
	}
}

func TestRekeyToSharesSwitchesOnlyWhenTheNewSharesComeBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	res, err := node.Init(ctx(t), dir, node.InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr(), Shares: 3, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	n := open(t, dir)
	for _, s := range res.Shares[:2] {
		if _, err := n.Unseal(ctx(t), s); err != nil {
			t.Fatal(err)
		}
	}
	waitLeader(t, n)
	old := fromShares(t, res.Shares[1:3])
	seedData(t, n, old)

	start, err := n.Rekey(ctx(t), node.RekeyRequest{MasterKey: hexKey(old), Reason: "custodian left", Shares: 5, Threshold: 3})
	if err != nil {
		t.Fatal(err)
	}
	if start.Done || len(start.Shares) != 5 || start.Threshold != 3 || start.Nonce == "" {
		t.Fatalf("rekey start %+v", start)
	}
	cfg, _ := datadir.Load(dir)
	if old.Check(cfg.Seal.Verifier) != nil {
		t.Fatal("the old key left force before the new shares were verified")
	}
	// Too few, someone else's, or a wrong nonce: refused, the rekey waits.
	if _, err := n.RekeyVerify(ctx(t), node.RekeyVerifyRequest{Nonce: start.Nonce, Shares: start.Shares[:2]}); err == nil {
		t.Fatal("two of five shares with threshold 3 were accepted")
	}
	other, _ := keyring.NewMasterKey().Split(5, 3)
	var foreign []string
	for _, s := range other[:3] {
		foreign = append(foreign, hex.EncodeToString(s))
	}
	if _, err := n.RekeyVerify(ctx(t), node.RekeyVerifyRequest{Nonce: start.Nonce, Shares: foreign}); errs.Of(err).Code != "wrong_shares" {
		t.Fatalf("another key's shares: %v", err)
	}
	if _, err := n.RekeyVerify(ctx(t), node.RekeyVerifyRequest{Nonce: "00", Shares: start.Shares[:3]}); errs.Of(err).Code != "no_rekey" {
		t.Fatalf("a wrong nonce: %v", err)
	}
	done, err := n.RekeyVerify(ctx(t), node.RekeyVerifyRequest{Nonce: start.Nonce, Shares: start.Shares[2:5]})
	if err != nil || !done.Done {
		t.Fatalf("verify: %+v %v", done, err)
	}
	checkData(t, n)
	n.Close()
	if _, err := os.Stat(filepath.Join(dir, datadir.MasterKeyFile)); !os.IsNotExist(err) {
		t.Fatal("a shares node has a key file")
	}

	// Restarted, it is sealed; the old shares are refused, three new ones unseal.
	n2 := open(t, dir)
	for _, s := range res.Shares { // the new threshold is 3: all three old ones
		n2.Unseal(ctx(t), s)
	}
	if !n2.Sealed() || n2.Status().Unseal.Progress != 0 {
		t.Fatalf("the old shares after the rekey: %+v", n2.Status())
	}
	for _, s := range start.Shares[:3] {
		if _, err := n2.Unseal(ctx(t), s); err != nil {
			t.Fatal(err)
		}
	}
	if n2.Sealed() {
		t.Fatal("the new shares did not unseal the node")
	}
	waitLeader(t, n2)
	checkData(t, n2)
}

func TestRekeyRefusesAWrongKeyAndAuditsTheAttempt(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	n := open(t, dir)
	waitLeader(t, n)
	before, _ := os.ReadFile(filepath.Join(dir, datadir.NodeFile))
	_, err := n.Rekey(ctx(t), node.RekeyRequest{MasterKey: hexKey(keyring.NewMasterKey()), Reason: "I found a key"})
	if errs.Of(err).Code != "wrong_key" {
		t.Fatalf("a wrong key: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, datadir.NodeFile))
	if string(before) != string(after) {
		t.Fatal("a refused rekey changed node.json")
	}
	var found []auditlog.Entry
	n.Cluster().State().View(func(r *state.ReadTx) error {
		var err error
		found, err = auditlog.Search(r, auditlog.Query{Type: "keyring.rekey_refused", Result: "wrong_key"})
		return err
	})
	if len(found) != 1 || !strings.HasPrefix(found[0].Subject, "operator:") || found[0].Reason != "I found a key" {
		t.Fatalf("the refused rekey in the audit log: %+v", found)
	}
}

// interruptedRekey runs a rekey of an embedded node up to the keyring's new
// wrappings and the staged files, as a crash would leave it; commit says
// whether node.json.new was renamed (the commit point) before the crash.
func interruptedRekey(t *testing.T, commit bool) (dir string, old, next *keyring.MasterKey) {
	t.Helper()
	dir = initNode(t, node.InitOptions{})
	n := open(t, dir)
	waitLeader(t, n)
	old, err := datadir.ReadKeyFile(filepath.Join(dir, datadir.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	seedData(t, n, old)
	next = keyring.NewMasterKey()
	cfg, _ := datadir.Load(dir)
	if err := cfg.StageRekey(old, next, datadir.Seal{Mode: datadir.SealKeyFile}); err != nil {
		t.Fatal(err)
	}
	c := n.Cluster()
	cmd, err := state.RekeyCommand(c.Keys(), old, next, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProposeOK(ctx(t), cmd); err != nil {
		t.Fatal(err)
	}
	if err := c.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if commit {
		if err := os.Rename(filepath.Join(dir, datadir.NodeFile+".new"), filepath.Join(dir, datadir.NodeFile)); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()
	return dir, old, next
}

// waitSettled waits for the node to settle its keyring on want.
func waitSettled(t *testing.T, n *node.Node, want *keyring.MasterKey) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur, pending, err := n.Cluster().State().MasterKeys()
		if err == nil && pending == nil && string(cur) == string(want.Verifier()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the keyring did not settle: current %x pending %x %v", cur, pending, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestARekeyInterruptedBeforeItsCommitPointLeavesTheOldKeyInForce(t *testing.T) {
	dir, old, next := interruptedRekey(t, false)
	n := open(t, dir) // unseals from master.key: still the old key
	waitLeader(t, n)
	for _, name := range []string{datadir.NodeFile, datadir.MasterKeyFile, datadir.NodeKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, name+".new")); !os.IsNotExist(err) {
			t.Errorf("%s.new was left behind", name)
		}
	}
	waitSettled(t, n, old)
	checkData(t, n)
	n.Close()
	keys, _ := keyring.New(next)
	reg := state.NewRegistry()
	node.Register(reg)
	if _, err := state.OpenWith(filepath.Join(dir, "state.db"), reg, keys, next, state.Options{ReadOnly: true}); !errors.Is(err, keyring.ErrWrongMasterKey) {
		t.Fatalf("the abandoned key opens the state: %v", err)
	}
}

func TestARekeyInterruptedAfterItsCommitPointIsCompletedAtTheNextStart(t *testing.T) {
	dir, old, next := interruptedRekey(t, true)
	n := open(t, dir) // finishes the rekey: master.key.new becomes master.key
	waitLeader(t, n)
	key, err := datadir.ReadKeyFile(filepath.Join(dir, datadir.MasterKeyFile))
	if err != nil || key.Check(next.Verifier()) != nil {
		t.Fatalf("master.key after recovery is not the new key: %v", err)
	}
	waitSettled(t, n, next)
	checkData(t, n)
	n.Close()
	if _, _, err := node.VerifyAudit(dir, old); !errors.Is(err, keyring.ErrWrongMasterKey) {
		t.Fatalf("the old key still passes after the completed rekey: %v", err)
	}
	if rep, head, err := node.VerifyAudit(dir, next); err != nil || !rep.OK || !head.OK {
		t.Fatalf("offline audit with the new key: %+v %+v %v", rep, head, err)
	}
}

func TestRekeyOfAClusterOfSeveralIsRefusedWithAMessage(t *testing.T) {
	a, first, second, master := twoNodes(t)
	open(t, second)
	deadline := time.Now().Add(30 * time.Second)
	for len(a.Status().Cluster.Servers) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("b did not join")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err := a.Rekey(ctx(t), node.RekeyRequest{MasterKey: hexKey(master), Reason: "yearly key rotation"})
	if e := errs.Of(err); e.Code != "cluster_rekey_unsupported" || !strings.Contains(err.Error(), "cxt cluster remove") {
		t.Fatalf("rekey of a two-node cluster: %v", err)
	}
	if after, _ := datadir.Load(first); master.Check(after.Seal.Verifier) != nil {
		t.Fatal("the refused rekey changed the key")
	}
	if _, err := os.Stat(filepath.Join(first, datadir.NodeFile+".new")); !os.IsNotExist(err) {
		t.Fatal("the refused rekey staged files")
	}
}

func TestAnEmbeddedNodeRekeyedToSharesLosesItsKeyFile(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	n := open(t, dir)
	waitLeader(t, n)
	old, err := datadir.ReadKeyFile(filepath.Join(dir, datadir.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	seedData(t, n, old)
	start, err := n.Rekey(ctx(t), node.RekeyRequest{MasterKey: hexKey(old), Reason: "moving to production", Mode: datadir.SealShares, Shares: 3, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, datadir.MasterKeyFile)); err != nil {
		t.Fatal("the key file went before the new shares were verified")
	}
	if _, err := n.RekeyVerify(ctx(t), node.RekeyVerifyRequest{Nonce: start.Nonce, Shares: start.Shares[1:]}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, datadir.MasterKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("the old key file is still there: %v", err)
	}
	n.Close()
	n2 := open(t, dir)
	if !n2.Sealed() {
		t.Fatal("a node moved to shares started unsealed")
	}
	for _, s := range start.Shares[:2] {
		if _, err := n2.Unseal(ctx(t), s); err != nil {
			t.Fatal(err)
		}
	}
	waitLeader(t, n2)
	checkData(t, n2)
}
