package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"cxt/appliance/node"
	"cxt/storage/auditlog"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// lockedBuffer is a log sink the test reads while the node writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// localRecords returns the audit records in a node's log, by request ID.
func localRecords(t *testing.T, log string) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line struct {
			Msg     string         `json:"msg"`
			Audit   map[string]any `json:"audit"`
			Because string         `json:"because"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if line.Audit != nil {
			line.Audit["because"] = line.Because
			id, _ := line.Audit["request"].(string)
			out[id] = append(out[id], line.Audit)
		}
	}
	return out
}

func (c *client) send(method, path, body string) (int, string, map[string]any) {
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
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header.Get("X-Request-Id"), out
}

func TestASealedNodeAuditsEveryRequestInItsLocalLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	res, err := node.Init(ctx(t), dir, node.InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr(), Shares: 3, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	n, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	c := newClient(t, dir, n)
	share := func(i int) string { return fmt.Sprintf(`{"share":%q}`, res.Shares[i]) }

	type sent struct {
		method, path, body, action, result string
		status                             int
	}
	requests := []sent{
		{"GET", "/healthz", "", "sys.health", "ok", 200},
		{"GET", "/readyz", "", "sys.health", "ok", 503},
		{"GET", "/api/v1/me", "", "sessions.current", "sealed", 503},
		{"GET", "/api/v1/nothing-here", "", "", "sealed", 503},
		{"POST", "/api/v1/sys/unseal", share(0), "sys.unseal", "ok", 200},
		{"POST", "/api/v1/sys/unseal", share(0), "sys.unseal", "invalid_request", 400},
		{"POST", "/api/v1/sys/unseal", share(1), "sys.unseal", "ok", 200}, // began sealed: recorded locally
	}
	ids := make([]string, len(requests))
	for i, r := range requests {
		status, id, body := c.send(r.method, r.path, r.body)
		if status != r.status {
			t.Fatalf("%s %s: %d %v, want %d", r.method, r.path, status, body, r.status)
		}
		if r.path == "/healthz" {
			var keys []string
			for k := range body {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, " ") != "applied_index leader node role sealed" || body["sealed"] != true {
				t.Fatalf("sealed healthz shows more than probes need: %v", body)
			}
		}
		ids[i] = id
	}
	local := localRecords(t, logs.String())
	for i, r := range requests {
		recs := local[ids[i]]
		if ids[i] == "" || len(recs) != 1 {
			t.Fatalf("%s %s: %d local records, want exactly one", r.method, r.path, len(recs))
		}
		rec := recs[0]
		if rec["type"] != "request" || rec["action"] != r.action || rec["result"] != r.result ||
			rec["subject"] != "anonymous" || rec["source"] != "127.0.0.1" || rec["because"] != "sealed" || rec["time"] == "" {
			t.Errorf("%s %s: local record %v", r.method, r.path, rec)
		}
	}
	for _, s := range res.Shares {
		if strings.Contains(logs.String(), s) {
			t.Fatal("a key share is in the log")
		}
	}

	// Unsealed, the node writes its records to the replicated log again.
	waitLeader(t, n)
	status, id, _ := c.send("GET", "/healthz", "")
	if status != 200 || len(localRecords(t, logs.String())[id]) != 0 {
		t.Fatalf("an unsealed node's health: %d, kept locally", status)
	}
	cl := n.Cluster()
	cl.ReadBarrier(context.Background())
	found := 0
	cl.State().View(func(tx *state.ReadTx) error {
		all, err := auditlog.Search(tx, auditlog.Query{Type: "request"})
		for _, e := range all {
			if e.Request == id && e.Action == "sys.health" {
				found++
			}
		}
		return err
	})
	if found != 1 {
		t.Fatalf("the unsealed node's health request has %d replicated records", found)
	}
}
