package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cxt/appliance/datadir"
	"cxt/appliance/documents"
	"cxt/appliance/identity"
	"cxt/appliance/node"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/blob/miniotest"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func initNode(t *testing.T, o node.InitOptions) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if o.API == "" {
		o.API = loopback.FreeAddr()
	}
	if o.Cluster == "" {
		o.Cluster = loopback.FreeAddr()
	}
	if _, err := node.Init(ctx(t), dir, o); err != nil {
		t.Fatal(err)
	}
	return dir
}

func open(t *testing.T, dir string) *node.Node {
	t.Helper()
	n, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

type client struct {
	t    *testing.T
	http *http.Client
	base string
}

func newClient(t *testing.T, dir string, n *node.Node) *client {
	pemCert, err := os.ReadFile(filepath.Join(dir, datadir.APICertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCert)
	return &client{t: t, base: "https://" + n.APIAddr(), http: &http.Client{
		Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}}
}

// do sends a request and decodes the JSON answer into a map.
func (c *client) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatalf("%s %s: answer is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, out
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func waitLeader(t *testing.T, n *node.Node) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n.Status().Leader == "" {
		if time.Now().After(deadline) {
			t.Fatal("no leader within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAnEmbeddedNodeStartsUnsealedAndReportsItsHealth(t *testing.T) {
	dir := initNode(t, node.InitOptions{NodeID: "solo"})
	n := open(t, dir)
	waitLeader(t, n)
	c := newClient(t, dir, n)
	code, body := c.do("GET", "/healthz", "")
	if code != 200 {
		t.Fatalf("healthz %d %v", code, body)
	}
	for _, field := range []string{"node", "role", "leader", "applied_index", "sealed"} {
		if _, ok := body[field]; !ok {
			t.Errorf("healthz lacks %q: %v", field, body)
		}
	}
	if body["node"] != "solo" || body["role"] != "leader" || body["leader"] != "solo" || body["sealed"] != false {
		t.Fatalf("healthz %v", body)
	}
	if code, body := c.do("GET", "/readyz", ""); code != 200 {
		t.Fatalf("readyz %d %v", code, body)
	}
	if code, body := c.do("GET", "/api/v1/nothing-here", ""); code != 404 || errorCode(body) != "not_found" {
		t.Fatalf("unknown route: %d %v", code, body)
	}
	if code, body := c.do("POST", "/api/v1/sys/unseal", "{not json"); code != 400 || errorCode(body) != "invalid_request" {
		t.Fatalf("malformed JSON: %d %v", code, body)
	}
}

func TestASharesNodeAnswersOnlyHealthAndUnsealUntilTheThreshold(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	res, err := node.Init(ctx(t), dir, node.InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr(), Shares: 3, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, datadir.MasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("shares mode left the master key on disk")
	}
	n := open(t, dir)
	c := newClient(t, dir, n)
	if code, body := c.do("GET", "/healthz", ""); code != 200 || body["sealed"] != true {
		t.Fatalf("sealed healthz: %d %v", code, body)
	}
	if code, _ := c.do("GET", "/readyz", ""); code != 503 {
		t.Fatalf("sealed readyz answered %d", code)
	}
	if code, body := c.do("GET", "/api/v1/anything", ""); code != 503 || errorCode(body) != "sealed" {
		t.Fatalf("sealed API: %d %v", code, body)
	}
	share := func(i int) string { return fmt.Sprintf(`{"share":%q}`, res.Shares[i]) }
	if code, body := c.do("POST", "/api/v1/sys/unseal", share(0)); code != 200 || body["progress"] != 1.0 || body["sealed"] != true {
		t.Fatalf("first share: %d %v", code, body)
	}
	if code, body := c.do("POST", "/api/v1/sys/unseal", share(0)); code != 400 {
		t.Fatalf("repeated share: %d %v", code, body)
	}
	// A share of another key makes the set wrong: refused, progress reset.
	other, _ := keyring.NewMasterKey().Split(3, 2)
	code, body := c.do("POST", "/api/v1/sys/unseal", fmt.Sprintf(`{"share":"%x"}`, other[1]))
	if code != 400 || errorCode(body) != "wrong_shares" || !n.Sealed() {
		t.Fatalf("foreign share: %d %v", code, body)
	}
	c.do("POST", "/api/v1/sys/unseal", share(2))
	if code, body := c.do("POST", "/api/v1/sys/unseal", share(1)); code != 200 || body["sealed"] != false {
		t.Fatalf("threshold reached: %d %v", code, body)
	}
	waitLeader(t, n)
	if code, _ := c.do("GET", "/readyz", ""); code != 200 {
		t.Fatalf("unsealed readyz answered %d", code)
	}
}

func TestInitRefusesAnUsedFolderAndLeavesNothingWhenItFails(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	before, _ := os.ReadFile(filepath.Join(dir, datadir.NodeFile))
	if _, err := node.Init(ctx(t), dir, node.InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr()}); err == nil {
		t.Fatal("init over an initialised folder succeeded")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, datadir.NodeFile)); !bytes.Equal(before, after) {
		t.Fatal("a refused init changed node.json")
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	fresh := filepath.Join(t.TempDir(), "fresh")
	if _, err := node.Init(ctx(t), fresh, node.InitOptions{API: loopback.FreeAddr(), Cluster: busy.Addr().String()}); err == nil {
		t.Fatal("init on a busy cluster port succeeded")
	}
	if entries, _ := os.ReadDir(fresh); len(entries) != 0 {
		t.Fatalf("a failed init left %d files", len(entries))
	}
}

func TestAWrongKeyOrACorruptStateFileStopsTheNodeAndChangesNothing(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	keyPath := filepath.Join(dir, datadir.MasterKeyFile)
	good, _ := os.ReadFile(keyPath)
	os.WriteFile(keyPath, keyring.NewMasterKey().Bytes(), 0o600)
	if _, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()}); !errors.Is(err, keyring.ErrWrongMasterKey) {
		t.Fatalf("wrong key file: %v", err)
	}
	os.WriteFile(keyPath, good[:10], 0o600)
	if _, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()}); err == nil {
		t.Fatal("a truncated key file was accepted")
	}
	os.WriteFile(keyPath, good, 0o600)

	statePath := filepath.Join(dir, "state.db")
	raw, _ := os.ReadFile(statePath)
	bad := bytes.Clone(raw)
	for i := 0; i < 8192; i++ { // both meta pages
		bad[i] ^= 0x5a
	}
	os.WriteFile(statePath, bad, 0o600)
	_, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()})
	if !errors.Is(err, state.ErrCorruptFile) {
		t.Fatalf("corrupt state file: %v", err)
	}
	if now, _ := os.ReadFile(statePath); !bytes.Equal(now, bad) {
		t.Fatal("the corrupt file was overwritten")
	}
}

// twoNodes starts node a, the leader, in folder first, and joins node b
// to it with the master key file; b's folder, second, is made, not yet
// opened.
func twoNodes(t *testing.T) (a *node.Node, first, second string, master *keyring.MasterKey) {
	first = initNode(t, node.InitOptions{NodeID: "a"})
	a = open(t, first)
	waitLeader(t, a)
	cfg, _ := datadir.Load(first)
	master, err := cfg.MasterFromKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	second = filepath.Join(t.TempDir(), "b")
	if err := node.Join(ctx(t), second, node.JoinOptions{
		NodeID: "b", API: loopback.FreeAddr(), Cluster: loopback.FreeAddr(), Leader: cfg.Cluster, Master: master, KeyFile: true,
	}); err != nil {
		t.Fatal(err)
	}
	return a, first, second, master
}

func TestAJoinedNodeBecomesAVoterAndReplicates(t *testing.T) {
	a, _, second, _ := twoNodes(t)
	b := open(t, second)
	info, err := a.Documents().Put(ctx(t), "d1", strings.NewReader("hello"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Cluster().ProposeOK(ctx(t), documents.RegisterCommand(info, "first", time.Now())); err != nil {
		t.Fatalf("write through the joined node: %v", err)
	}
	if err := a.Cluster().ReadBarrier(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := len(a.Status().Cluster.Servers); got != 2 {
		t.Fatalf("%d servers after join", got)
	}
	a.Cluster().State().View(func(r *state.ReadTx) error {
		rec, err := documents.Get(r, "d1")
		if err != nil || rec == nil || rec.Title != "first" {
			t.Fatalf("record written through b missing on a: %v %v", rec, err)
		}
		return nil
	})
}

// The canary: a record and a document holding a marker, written through a
// node whose documents live in a real MinIO, then every byte under the data
// folder and MinIO's folder is searched for the marker.
func TestClusterCanaryFindsNoPlaintextOnDisk(t *testing.T) {
	srv := miniotest.Start(t)
	cfg := srv.Config
	dir := initNode(t, node.InitOptions{MinIO: &cfg})
	n := open(t, dir)
	waitLeader(t, n)
	marker := "CANARY-7f3a-张三-110101199003074514"
	for i := range 20 {
		body := strings.Repeat(marker+" ", 5000)
		id := fmt.Sprintf("doc-%02d", i)
		info, err := n.Documents().Put(ctx(t), id, strings.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Cluster().ProposeOK(ctx(t), documents.RegisterCommand(info, marker, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Cluster().Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	n.Close()
	for _, root := range []string{dir, srv.DataDir} {
		found := 0
		filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			found++
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte("110101199003074514")) {
				t.Errorf("plaintext marker in %s", path)
			}
			return nil
		})
		if found == 0 {
			t.Fatalf("nothing scanned under %s", root)
		}
	}
}

// The crash test runs a node in a child process (this test binary, re-run),
// which records documents and prints each acknowledged ID; the parent kills
// it with SIGKILL mid-stream, reopens the folder, and finds every one.
func TestANodeKilledMidBatchKeepsEveryAcknowledgedWrite(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "CXT_CRASH_CHILD="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 300 {
		if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked = append(acked, id)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d writes before it stopped", len(acked))
	}
	n := open(t, dir)
	waitLeader(t, n)
	if err := n.Cluster().ReadBarrier(ctx(t)); err != nil {
		t.Fatal(err)
	}
	n.Cluster().State().View(func(r *state.ReadTx) error {
		for _, id := range acked {
			if rec, err := documents.Get(r, id); err != nil || rec == nil {
				t.Fatalf("acknowledged %s lost after SIGKILL (%v)", id, err)
			}
		}
		return nil
	})
}

// TestCrashChild is the child half of the crash test; it does nothing unless
// started by it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("CXT_CRASH_CHILD")
	if dir == "" {
		return
	}
	n, err := node.Open(context.Background(), node.Options{Dir: dir, Logger: quiet()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	for w := range 16 { // many writers so that batches are in flight when killed
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%02d-%06d", w, i)
				cmd := documents.RegisterCommand(blobInfo(id), "crash", time.Now())
				if _, err := n.Cluster().ProposeOK(context.Background(), cmd); err == nil {
					fmt.Println("ACK " + id)
				}
			}
		}()
	}
	select {}
}

func TestSecurityLimitsComeFromNodeJSON(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	path := filepath.Join(dir, datadir.NodeFile)
	raw, _ := os.ReadFile(path)
	var doc map[string]any
	json.Unmarshal(raw, &doc)
	doc["security"] = map[string]any{"max_failures": 3, "lock_for": "ten minutes"}
	b, _ := json.Marshal(doc)
	os.WriteFile(path, b, 0o600)
	if _, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "lock_for") {
		t.Fatalf("a malformed duration: %v", err)
	}
	doc["security"] = map[string]any{"max_failures": 3, "lock_for": "10m"}
	b, _ = json.Marshal(doc)
	os.WriteFile(path, b, 0o600)
	n := open(t, dir)
	waitLeader(t, n)
	c := newClient(t, dir, n)
	for range 2 {
		c.do("POST", "/api/v1/sessions", `{"username":"sysadmin","password":"Wrong-Password-1!"}`)
	}
	// With max_failures 3 the third failure locks (the captcha starts after 2 by default).
	code, body := c.do("POST", "/api/v1/sessions", `{"username":"sysadmin","password":"Wrong-Password-1!"}`)
	if code != 403 || errorCode(body) != "account_locked" {
		t.Fatalf("third failure with max_failures 3: %d %v", code, body)
	}
}

func TestAReplicatedPolicyIsInForceAfterARestart(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	n := open(t, dir)
	waitLeader(t, n)
	// The security administrator's SM2 key, enrolled as the state machine
	// records it (the API's enrolment is tested in appliance/api).
	key, _ := sm.GenerateKey()
	pub, _ := key.Public().MarshalPEM()
	enroll := state.NewCommand(identity.CmdSetSM2Key, func() []byte {
		b, _ := json.Marshal(identity.SetSM2Key{Account: "acct-secadmin", PublicKey: string(pub)})
		return b
	}(), time.Now())
	if _, err := n.Cluster().ProposeOK(ctx(t), enroll); err != nil {
		t.Fatal(err)
	}
	f := policy.DefaultFiles()
	f["manifest.json"] = `{"version": "site-2026-11"}`
	sig, _ := policy.Sign(key, f)
	cmd, _ := policy.ActivateCommand(policy.Activate{Files: f, Signature: sig, Signer: "acct-secadmin"}, time.Now())
	if _, err := n.Cluster().ProposeOK(ctx(t), cmd); err != nil {
		t.Fatal(err)
	}
	if v := n.Status().Policy; v != "site-2026-11" {
		t.Fatalf("policy in force %q", v)
	}
	n.Close()
	again := open(t, dir)
	if v := again.Status().Policy; v != "site-2026-11" {
		t.Fatalf("after a restart the policy in force is %q", v)
	}
}
