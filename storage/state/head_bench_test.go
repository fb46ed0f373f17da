package state

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"cxt/crypto/keyring"
)

// BenchmarkStateHead measures what flushing a batch costs — sealing its
// writes, folding them into the digest (one lookup and one HMAC-SM3 per
// write, one more per value replaced), putting them and sealing the head —
// against applying the whole batch. A batch is one log entry of 1024 kv.put
// commands with 256-byte values replacing records that exist; each also
// writes its command result.
func BenchmarkStateHead(b *testing.B) {
	const commands = 1024
	master := keyring.NewMasterKey()
	keys, _ := keyring.New(master)
	st, err := Open(filepath.Join(b.TempDir(), "state.db"), testRegistry(), keys, master)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	f := &fixture{master: master, keys: keys, st: st}
	value := bytes.Repeat([]byte("v"), 256)
	entry := func() Entry {
		sealed := make([][]byte, commands)
		for i := range sealed {
			cmd := NewCommand("kv.put", append(fmt.Appendf(nil, "key-%04d=", i), value...), time.Now())
			if sealed[i], err = SealCommand(keys, cmd); err != nil {
				b.Fatal(err)
			}
		}
		f.index++
		return Entry{Index: f.index, Commands: sealed}
	}
	install, _ := InstallTermCommand(master, 1, keyring.NewSecret(), time.Now())
	first, _ := SealCommand(keys, install)
	f.index++
	if _, err := st.ApplyBatch([]Entry{{Index: f.index, Commands: [][]byte{first}}}); err != nil {
		b.Fatal(err)
	}
	if _, err := st.ApplyBatch([]Entry{entry()}); err != nil {
		b.Fatal(err)
	}

	b.Run("apply", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			e := entry()
			b.StartTimer()
			if _, err := st.ApplyBatch([]Entry{e}); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("flush", func(b *testing.B) {
		// The writes of one such batch: 1024 kv records replacing older
		// ones, and 1024 new command results, sealed, folded into the
		// digest and put — then the head sealed.
		batchOf := func() *overlay {
			batch := newOverlay()
			for i := range commands {
				cmd := NewCommand("kv.put", nil, time.Now())
				batch.put("kv", fmt.Appendf(nil, "key-%04d", i), write{value: value, cmd: cmd, index: f.index + 1})
				batch.put(bucketCommands, cmd.dedupeKey(), write{value: Result{}.marshal(), cmd: cmd, index: f.index + 1})
			}
			return batch
		}
		e := entry()
		applied := st.AppliedIndex()
		for range b.N {
			b.StopTimer()
			batch := batchOf()
			b.StartTimer()
			btx, err := st.db.Begin(true)
			if err != nil {
				b.Fatal(err)
			}
			if err := st.flush(btx, batch); err != nil {
				b.Fatal(err)
			}
			if err := st.sealHead(btx, batch, []Entry{e}, applied, e.Index); err != nil {
				b.Fatal(err)
			}
			btx.Rollback()
			st.head.reset()
		}
	})
}
