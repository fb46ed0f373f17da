package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"cxt/crypto/keyring"
)

// sweepRegistry keeps "ttl" records whose value is their expiry (Unix
// seconds) and purges them with a sweep.
func sweepRegistry() *Registry {
	r := NewRegistry()
	r.Bucket("ttl")
	r.Handle("ttl.put", func(tx *Tx, cmd *Command) ([]byte, error) {
		k, v, _ := bytes.Cut(cmd.Body, []byte("="))
		return nil, tx.Put("ttl", k, v)
	})
	r.Handle("ttl.delete", func(tx *Tx, cmd *Command) ([]byte, error) {
		return nil, tx.Delete("ttl", cmd.Body)
	})
	r.Expire("ttl", func(tx *Tx, k, v []byte, now time.Time) (bool, error) {
		var at int64
		fmt.Sscan(string(v), &at)
		if now.Unix() < at {
			return false, nil
		}
		return true, tx.Delete("ttl", k)
	})
	return r
}

func openSweepState(t *testing.T, master *keyring.MasterKey) (*State, *keyring.Keyring) {
	t.Helper()
	keys, err := keyring.New(master)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Open(filepath.Join(t.TempDir(), "state.db"), sweepRegistry(), keys, master)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, keys
}

func keysOf(t *testing.T, st *State, bucket string) []string {
	t.Helper()
	var out []string
	if err := st.View(func(r *ReadTx) error {
		return r.ForEach(bucket, func(k, v []byte) error { out = append(out, string(k)); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSweepsPurgeExpiredRecordsInBoundedStepsAndAlikeOnEveryBatching(t *testing.T) {
	master := keyring.NewMasterKey()
	base := time.Unix(1_800_000_000, 0)
	var cmds []*Command
	for i := range 20 {
		expiry := base.Unix() + int64(i%2)*3600 // the even ones expire at base
		cmds = append(cmds, NewCommand("ttl.put", fmt.Appendf(nil, "k%02d=%d", i, expiry), base.Add(-time.Minute)))
	}
	// In the same batch as the sweeps: a record written, one deleted, so the
	// sweep must see the batch's buffered writes, not the file alone.
	cmds = append(cmds, NewCommand("ttl.put", fmt.Appendf(nil, "k05b=%d", base.Unix()), base))
	cmds = append(cmds, NewCommand("ttl.delete", []byte("k03"), base))
	for range 8 {
		cmds = append(cmds, SweepCommand(4, base.Add(time.Second)))
	}
	var sealed [][]byte
	keys := func() *keyring.Keyring { k, _ := keyring.New(master); return k }()
	for _, c := range cmds {
		b, err := SealCommand(keys, c)
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, b)
	}
	entries := make([]Entry, len(sealed))
	for i, b := range sealed {
		entries[i] = Entry{Index: uint64(i + 1), Term: 1, Commands: [][]byte{b}}
	}

	oneBatch, _ := openSweepState(t, master)
	res, err := oneBatch.ApplyBatch(entries)
	if err != nil {
		t.Fatal(err)
	}
	perEntry, _ := openSweepState(t, master)
	for _, e := range entries {
		if _, err := perEntry.ApplyBatch([]Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range res[len(res)-8:] {
		var sr SweepResult
		if r[0].Err != nil || json.Unmarshal(r[0].Value, &sr) != nil {
			t.Fatalf("sweep: %+v", r[0])
		}
		if sr.Removed["ttl"] > 4 {
			t.Fatalf("a sweep with limit 4 removed %d records", sr.Removed["ttl"])
		}
	}
	got := keysOf(t, oneBatch, "ttl")
	var want []string
	for i := range 20 {
		if i%2 == 1 && i != 3 {
			want = append(want, fmt.Sprintf("k%02d", i))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the sweeps: %v, want %v", got, want)
	}
	h1, i1, _ := oneBatch.Hash()
	h2, i2, _ := perEntry.Hash()
	if h1 != h2 || i1 != i2 {
		t.Fatal("one batch and one entry per batch swept differently")
	}
}

func TestSweepsForgetCommandResultsAfterAnHour(t *testing.T) {
	master := keyring.NewMasterKey()
	st, keys := openSweepState(t, master)
	base := time.Unix(1_800_000_000, 0)
	var entries []Entry
	add := func(c *Command) {
		b, _ := SealCommand(keys, c)
		entries = append(entries, Entry{Index: uint64(len(entries) + 1), Term: 1, Commands: [][]byte{b}})
	}
	old := NewCommand("ttl.put", []byte("a=0"), base)
	add(old)
	add(NewCommand("ttl.put", []byte("b=0"), base.Add(50*time.Minute)))
	add(SweepCommand(100, base.Add(CommandTTL+time.Minute)))
	if _, err := st.ApplyBatch(entries); err != nil {
		t.Fatal(err)
	}
	var times []int64
	for _, k := range keysOf(t, st, bucketCommands) {
		times = append(times, int64(binary.BigEndian.Uint64([]byte(k)[:8])))
	}
	for _, ts := range times {
		if ts == base.UnixNano() {
			t.Fatal("a command result older than CommandTTL survived the sweep")
		}
	}
	if len(times) != 2 { // the one 50 minutes old and the sweep itself
		t.Fatalf("%d command results kept, want 2", len(times))
	}
}
