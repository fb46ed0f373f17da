package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"cxt/appliance/node"
	"cxt/storage/auditlog"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

func TestAuditVerifyFindsEntriesRemovedBehindAnOlderFrontier(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := node.Init(ctx, dir, node.InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr()}); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	record := func(from, to int) {
		t.Helper()
		n, err := node.Open(ctx, node.Options{Dir: dir, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		for i := from; i < to; i++ {
			c := auditlog.Context{Subject: fmt.Sprintf("user-%d", i), Event: "login.failure", Result: "invalid_credentials"}
			if _, err := n.Cluster().ProposeOK(ctx, auditlog.RecordCommand(c, time.Now())); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join(dir, "state.db")
	edit := func(fn func(entries, leaves *bolt.Bucket) error) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			return fn(tx.Bucket([]byte(auditlog.EntriesBucket)), tx.Bucket([]byte(auditlog.LeavesBucket)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	seq := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

	record(0, 3)
	var older []byte
	var size uint64
	edit(func(_, leaves *bolt.Bucket) error {
		older = bytes.Clone(leaves.Get([]byte("~frontier")))
		c := leaves.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if len(k) == 8 {
				size = binary.BigEndian.Uint64(k)
				break
			}
		}
		return nil
	})
	record(3, 7)
	code, out, _ := run(t, "", "audit", "verify", "--data", dir)
	var rep struct {
		OK       bool   `json:"ok"`
		Size     uint64 `json:"size"`
		FirstBad uint64 `json:"first_bad"`
		Problem  string `json:"problem"`
	}
	if json.Unmarshal([]byte(out), &rep); code != 0 || !rep.OK {
		t.Fatalf("intact log: exit %d\n%s", code, out)
	}
	full := rep.Size

	// Cut the entries after the older size and put its frontier back.
	edit(func(entries, leaves *bolt.Bucket) error {
		for s := size + 1; s <= full; s++ {
			entries.Delete(seq(s))
			leaves.Delete(seq(s))
		}
		return leaves.Put([]byte("~frontier"), older)
	})
	code, out, _ = run(t, "", "audit", "verify", "--data", dir)
	rep = struct {
		OK       bool   `json:"ok"`
		Size     uint64 `json:"size"`
		FirstBad uint64 `json:"first_bad"`
		Problem  string `json:"problem"`
	}{}
	json.Unmarshal([]byte(out), &rep)
	want := fmt.Sprintf("entries %d to %d were removed and an older frontier put back", size+1, full)
	if code != 1 || rep.OK || rep.Size != size || rep.FirstBad != size+1 || !strings.Contains(rep.Problem, want) {
		t.Fatalf("truncated log: exit %d\n%s\nwant first_bad %d and %q", code, out, size+1, want)
	}
	// The node refuses to start on it.
	if _, err := node.Open(ctx, node.Options{Dir: dir, Logger: quiet}); !errors.Is(err, state.ErrTampered) {
		t.Fatalf("a node started on a truncated audit log: %v", err)
	}
	// And adoption is not a way around it.
	if code, _, errOut := run(t, "", "audit", "adopt", "--data", dir); code != 1 || !strings.Contains(errOut, "only for files written before state heads") {
		t.Fatalf("adopt on a tampered file: exit %d, %s", code, errOut)
	}
}

func TestAFileFromBeforeStateHeadsIsAdoptedOnceAndTheNodeStarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := node.Init(ctx, dir, node.InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr()}); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// What an upgrade finds: a schema-1 file without a head.
	db, err := bolt.Open(filepath.Join(dir, "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		meta.Delete([]byte("head"))
		return meta.Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 1))
	})
	db.Close()
	if _, err := node.Open(ctx, node.Options{Dir: dir, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "cxt audit adopt") {
		t.Fatalf("a file without a head: %v", err)
	}
	if code, out, errOut := run(t, "", "audit", "adopt", "--data", dir); code != 0 || !strings.Contains(out, `"adopted": true`) {
		t.Fatalf("adopt: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := run(t, "", "audit", "adopt", "--data", dir); code != 1 || !strings.Contains(errOut, "nothing to adopt") {
		t.Fatalf("a second adopt: exit %d\n%s%s", code, out, errOut)
	}
	n, err := node.Open(ctx, node.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("the adopted file: %v", err)
	}
	defer n.Close()
	if _, err := n.Cluster().ProposeOK(ctx, auditlog.RecordCommand(auditlog.Context{Event: "x"}, time.Now())); err != nil {
		t.Fatal(err)
	}
}
