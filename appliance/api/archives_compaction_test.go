package api_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// After a destruction nothing the node keeps holds the subject's key: the
// Raft log no longer has the entry that installed it (compacted, not just
// snapshotted past), every snapshot on disk was taken after the
// destruction, and a node restarted from them reads the subject as
// shredded.
func TestADestructionLeavesNoCopyOfTheKeyInTheLogOrTheSnapshots(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	sys := e.signIn("sysadmin")
	operator := e.staff(sec, "platform_operator", "operator-1")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	e.esignAuthority(sys)
	a := e.call("POST", "/api/v1/merchants", "", application("太原某某服务有限公司", usccB, "boss-b", "13800002222"))
	if a.status != 201 {
		t.Fatalf("apply: %d %v", a.status, a.body)
	}
	installed := e.n.Cluster().Raft().LastIndex() // the application, which installed the key, is at or before this
	gone := a.body["merchant"].(map[string]any)["id"].(string)
	if r := e.call("POST", "/api/v1/merchants/"+gone+"/review", reviewer, `{"decision":"reject","reason":"资料不全"}`); r.status != 200 {
		t.Fatalf("reject: %d %v", r.status, r.body)
	}
	// A snapshot taken before the destruction, as the node takes them.
	if err := e.n.Cluster().Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	e.stepUp(operator, "operator-1")
	e.stepUp(reviewer, "reviewer-1")
	p := e.confirmed("POST", "/api/v1/archives/"+gone+"/destruction", operator, `{"reason":"申请被驳回，无须保存"}`, "d-1")
	if p.status != 202 {
		t.Fatalf("propose: %d %v", p.status, p.body)
	}
	// The destroying command comes after every entry before the approval
	// (entries after it, such as the request's audit record, may follow it
	// into the log before the answer).
	before := e.n.Cluster().Raft().LastIndex()
	if r := e.confirmed("POST", "/api/v1/archive-destructions/"+p.body["id"].(string)+"/decision", reviewer, `{"decision":"approve"}`, "a-1"); r.status != 200 {
		t.Fatalf("approve: %d %v", r.status, r.body)
	}
	destroyed := before + 1
	snapshots := filepath.Join(e.dir, "raft", "snapshots")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if idx := snapshotIndexes(t, snapshots); len(idx) > 0 && idx[0] >= destroyed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshots at %v, the destruction at %d: the log was never compacted", snapshotIndexes(t, snapshots), destroyed)
		}
	}
	e.n.Close()
	store, err := raftboltdb.NewBoltStore(filepath.Join(e.dir, "raft", "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := store.FirstIndex()
	store.Close()
	if first != 0 && first <= installed {
		t.Fatalf("the Raft log starts at %d: the entry that installed the key (at or before %d) is still there", first, installed)
	}
	for _, i := range snapshotIndexes(t, snapshots) {
		if i < destroyed {
			t.Fatalf("a snapshot at %d, before the destruction at %d, is still on disk", i, destroyed)
		}
	}
	e.restart()
	if r := e.call("GET", "/api/v1/merchants/"+gone, reviewer, ""); r.status != 409 || r.code() != "subject_shredded" {
		t.Fatalf("the destroyed merchant after a restart from the snapshots: %d %v", r.status, r.body)
	}
}

// snapshotIndexes are the Raft indexes of the snapshots on disk, oldest
// first.
func snapshotIndexes(t *testing.T, dir string) []uint64 {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []uint64
	for _, d := range entries {
		b, err := os.ReadFile(filepath.Join(dir, d.Name(), "meta.json"))
		if err != nil {
			continue // a snapshot being written
		}
		var meta struct{ Index uint64 }
		if json.Unmarshal(b, &meta) == nil {
			out = append(out, meta.Index)
		}
	}
	slices.Sort(out)
	return out
}
