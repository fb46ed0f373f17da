package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"cxt/appliance/node"
	"cxt/storage/auditlog"
	"cxt/storage/cluster/loopback"
)

func TestAuditVerifyNamesTheEntryWhoseByteWasFlipped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := node.Init(ctx, dir, node.InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr()}); err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(ctx, node.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		c := auditlog.Context{Subject: fmt.Sprintf("user-%d", i), Event: "login.failure", Result: "invalid_credentials"}
		if _, err := n.Cluster().ProposeOK(ctx, auditlog.RecordCommand(c, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()

	if code, out, _ := run(t, "", "audit", "verify", "--data", dir); code != 0 {
		t.Fatalf("intact log: exit %d\n%s", code, out)
	}

	// Flip one byte of entry 7's sealed value in the file.
	path := filepath.Join(dir, "state.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	db.View(func(tx *bolt.Tx) error {
		sealed = bytes.Clone(tx.Bucket([]byte(auditlog.EntriesBucket)).Get(binary.BigEndian.AppendUint64(nil, 7)))
		return nil
	})
	db.Close()
	raw, _ := os.ReadFile(path)
	// bbolt copies pages on write, so stale copies of the entry may sit in
	// free pages too: flip the byte in every copy.
	found := 0
	for at := 0; len(sealed) > 0; {
		i := bytes.Index(raw[at:], sealed)
		if i < 0 {
			break
		}
		raw[at+i+len(sealed)-3] ^= 0x80
		at += i + len(sealed)
		found++
	}
	if found == 0 {
		t.Fatal("entry 7 not found in the file")
	}
	os.WriteFile(path, raw, 0o600)

	code, out, _ := run(t, "", "audit", "verify", "--data", dir)
	var rep struct {
		OK       bool   `json:"ok"`
		FirstBad uint64 `json:"first_bad"`
	}
	json.Unmarshal([]byte(out), &rep)
	if code != 1 || rep.OK || rep.FirstBad != 7 {
		t.Fatalf("tampered log: exit %d, %s", code, out)
	}
}
