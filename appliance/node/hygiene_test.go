package node_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/appliance/datadir"
	"cxt/appliance/node"
	"cxt/storage/cluster/loopback"
)

func TestAFailedInitLeavesNoFolderBehind(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	parent := filepath.Join(t.TempDir(), "srv")
	dir := filepath.Join(parent, "cxt", "data")
	if _, err := node.Init(ctx(t), dir, node.InitOptions{API: loopback.FreeAddr(), Cluster: busy.Addr().String()}); err == nil {
		t.Fatal("init on a busy cluster port succeeded")
	}
	if _, err := os.Stat(parent); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed init left %s behind (%v)", parent, err)
	}
	// A folder that was there before stays, empty as it was.
	kept := t.TempDir()
	if _, err := node.Init(ctx(t), kept, node.InitOptions{API: loopback.FreeAddr(), Cluster: busy.Addr().String()}); err == nil {
		t.Fatal("init on a busy cluster port succeeded")
	}
	if entries, err := os.ReadDir(kept); err != nil || len(entries) != 0 {
		t.Fatalf("the existing folder: %v, %d entries", err, len(entries))
	}
}

func TestASecondNodeOnTheFolderNamesTheProcessHoldingIt(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	first := open(t, dir)
	waitLeader(t, first)
	_, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()})
	want := fmt.Sprintf("the folder is in use by process %d", os.Getpid())
	if err == nil || !errors.Is(err, datadir.ErrInUse) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second node on the folder: %v, want %q", err, want)
	}
	if pid, _ := os.ReadFile(filepath.Join(dir, datadir.LockFile)); strings.TrimSpace(string(pid)) != fmt.Sprint(os.Getpid()) {
		t.Fatalf("the lock file holds %q", pid)
	}
	// The refused node touched nothing: the first still serves.
	if code, _ := newClient(t, dir, first).do("GET", "/readyz", ""); code != 200 {
		t.Fatalf("the first node after the refusal: %d", code)
	}
	first.Close()
	again, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatalf("after the first node stopped: %v", err)
	}
	again.Close()
}

func TestUnsealingAnEmbeddedNodeWithAShareIsAnError(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	n := open(t, dir)
	waitLeader(t, n)
	c := newClient(t, dir, n)
	for _, share := range []string{"garbage", strings.Repeat("ab", 33)} {
		code, body := c.do("POST", "/api/v1/sys/unseal", fmt.Sprintf(`{"share":%q}`, share))
		if code != 400 || errorCode(body) != "invalid_request" || !strings.Contains(body["error"].(map[string]any)["message"].(string), "not waiting for key shares") ||
			strings.Contains(fmt.Sprint(body), "key file") || strings.Contains(fmt.Sprint(body), "master.key") {
			t.Fatalf("share %q on a key-file node: %d %v", share, code, body)
		}
	}
}

func TestTheAPISpeaksOnlyAEADSuitesWithForwardSecrecy(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	n := open(t, dir)
	pemCert, _ := os.ReadFile(filepath.Join(dir, datadir.APICertFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCert)
	dial := func(cfg *tls.Config) (*tls.ConnectionState, error) {
		cfg.RootCAs = pool
		conn, err := tls.Dial("tcp", n.APIAddr(), cfg)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		st := conn.ConnectionState()
		return &st, nil
	}
	for name, suite := range map[string]uint16{
		"ECDHE-ECDSA-AES128-SHA (CBC, SHA-1)":    tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		"ECDHE-ECDSA-AES256-SHA (CBC, SHA-1)":    tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		"ECDHE-ECDSA-AES128-SHA256 (CBC)":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		"AES128-GCM-SHA256 (no forward secrecy)": tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	} {
		if st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}); err == nil {
			t.Errorf("a client offering only %s got %s", name, tls.CipherSuiteName(st.CipherSuite))
		}
	}
	if _, err := dial(&tls.Config{MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("TLS 1.1 was accepted")
	}
	st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}})
	if err != nil || st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256: %v", err)
	}
	if st, err := dial(&tls.Config{MinVersion: tls.VersionTLS13}); err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("TLS 1.3: %v", err)
	}
	c := newClient(t, dir, n)
	resp, err := c.http.Get(c.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(h, "max-age=31536000") || !strings.Contains(h, "includeSubDomains") {
		t.Fatalf("Strict-Transport-Security: %q", h)
	}
}

func TestPasswordAgesComeFromNodeJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	res, err := node.Init(ctx(t), dir, node.InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr()})
	if err != nil {
		t.Fatal(err)
	}
	node.WriteSection(t, dir, "security", map[string]any{"password_max_age": map[string]any{"wizard": "90d"}})
	if _, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "wizard") {
		t.Fatalf("an unknown role: %v", err)
	}
	node.WriteSection(t, dir, "security", map[string]any{"password_max_age": map[string]any{"system_admin": "ninety days"}})
	if _, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "system_admin") {
		t.Fatalf("a malformed age: %v", err)
	}
	node.WriteSection(t, dir, "security", map[string]any{"password_max_age": map[string]any{"system_admin": "2d"}})
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	n, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet(), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	waitLeader(t, n)
	c := newClient(t, dir, n)
	var otp string
	for _, a := range res.Admins {
		if a.Username == "sysadmin" {
			otp = a.Password
		}
	}
	_, body := c.do("POST", "/api/v1/sessions", fmt.Sprintf(`{"username":"sysadmin","password":%q}`, otp))
	token, _ := body["token"].(string)
	req, _ := http.NewRequest("POST", c.base+"/api/v1/me/password", strings.NewReader(fmt.Sprintf(`{"current_password":%q,"new_password":"Two-Day-Orbit-2026!"}`, otp)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("password change: %d", resp.StatusCode)
	}
	if code, body := c.do("POST", "/api/v1/sessions", `{"username":"sysadmin","password":"Two-Day-Orbit-2026!"}`); code != 201 || body["password_expired"] != false {
		t.Fatalf("right after the change: %d %v", code, body)
	}
	mu.Lock()
	now = now.Add(49 * time.Hour)
	mu.Unlock()
	if code, body := c.do("POST", "/api/v1/sessions", `{"username":"sysadmin","password":"Two-Day-Orbit-2026!"}`); code != 201 || body["password_expired"] != true {
		t.Fatalf("two days and an hour after the change with a 2d age: %d %v", code, body)
	}
}
