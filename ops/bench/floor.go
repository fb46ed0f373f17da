package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"cxt/appliance/payouts"
	"cxt/crypto/keyring"
	"cxt/storage/state"
)

// The floors measure the least a row costs any design on this store: the
// records the issue asks for, sealed and in the state's digest as every
// record of the appliance is, with the reads spread over the cores
// (Tx.Parallel) and nothing decoded or validated, applied straight to one
// state — no Raft, no audit. They are ceilings of rows/s on one node;
// three nodes on one machine apply everything three times.

// floorResult is what the store's least row costs.
type floorResult struct {
	what   string
	perSec float64
	cpuUS  float64 // CPU µs per row, all cores
}

// floorStore is one state to apply a floor's commands to.
type floorStore struct {
	keys  *keyring.Keyring
	st    *state.State
	index uint64
	perTx int // commands per log entry
}

func openFloor(dir string, reg *state.Registry, perTx int) (*floorStore, error) {
	master := keyring.NewMasterKey()
	keys, err := keyring.New(master)
	if err != nil {
		return nil, err
	}
	st, err := state.Open(filepath.Join(dir, "state.db"), reg, keys, master)
	if err != nil {
		return nil, err
	}
	f := &floorStore{keys: keys, st: st, perTx: perTx}
	install, err := state.InstallTermCommand(master, 1, keyring.NewSecret(), time.Now())
	if err == nil {
		err = f.apply(install)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return f, nil
}

// apply applies cmds as one log entry.
func (f *floorStore) apply(cmds ...*state.Command) error {
	e := state.Entry{}
	for _, c := range cmds {
		sealed, err := state.SealCommand(f.keys, c)
		if err != nil {
			return err
		}
		e.Commands = append(e.Commands, sealed)
	}
	f.index++
	e.Index = f.index
	res, err := f.st.ApplyBatch([]state.Entry{e})
	if err != nil {
		return err
	}
	for _, rs := range res {
		for _, r := range rs {
			if r.Err != nil {
				return r.Err
			}
		}
	}
	return nil
}

// measure applies cmds, perTx to an entry, and says what each of rows cost.
func (f *floorStore) measure(what string, rows int, cmds []*state.Command) (floorResult, error) {
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	for i := 0; i < len(cmds); i += f.perTx {
		if err := f.apply(cmds[i:min(len(cmds), i+f.perTx)]...); err != nil {
			return floorResult{}, err
		}
	}
	took := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	return floorResult{what: what, perSec: float64(rows) / took.Seconds(), cpuUS: float64(cpu.Microseconds()) / float64(rows)}, nil
}

// best runs a floor three times and keeps the fastest: a ceiling.
func best(tempDir func() string, run func(dir string) (floorResult, error)) (floorResult, error) {
	var top floorResult
	for range 3 {
		r, err := run(tempDir())
		if err != nil {
			return r, err
		}
		if r.perSec > top.perSec {
			top = r
		}
	}
	return top, nil
}

// bestRegistrationFloor is registrationFloor's best of three.
func bestRegistrationFloor(tempDir func() string, files int) (floorResult, error) {
	return best(tempDir, func(dir string) (floorResult, error) { return registrationFloor(dir, files) })
}

// bestPaymentFloors are paymentFloor's best of three with the payee read,
// then without.
func bestPaymentFloors(tempDir func() string) ([]floorResult, error) {
	var out []floorResult
	for _, payee := range []bool{true, false} {
		f, err := best(tempDir, func(dir string) (floorResult, error) { return paymentFloor(dir, payee) })
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// paymentFloor pays payoutRows payments to payoutWorkers workers in
// commands of payouts.ChunkRows, one to a log entry: per payment it reads
// the payee's record (440 bytes, the size of a worker's checks; unless
// payee is false, as if every worker's checks were held in memory) and
// their year-to-date withholding (64 bytes), and writes the payment as one
// packed 140-byte record under a sequential key and the withholding back.
// No ledger, index, outbox or feed.
func paymentFloor(dir string, payee bool) (floorResult, error) {
	reg := state.NewRegistry()
	for _, b := range []string{"workers", "tax", "payments"} {
		reg.Bucket(b)
	}
	worker := bytes.Repeat([]byte("w"), 440)
	wkey := func(i uint32) []byte { return fmt.Appendf(nil, "wk-%016x", i) }
	reg.Handle("floor.seed", func(tx *state.Tx, _ *state.Command) ([]byte, error) {
		for i := range uint32(payoutWorkers) {
			if err := tx.Put("workers", wkey(i), worker); err != nil {
				return nil, err
			}
			if err := tx.Put("tax", wkey(i), make([]byte, 64)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	var seq uint64
	reg.Handle("floor.pay", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		n := len(cmd.Body) / 4
		who := func(i int) []byte { return wkey(binary.BigEndian.Uint32(cmd.Body[4*i:])) }
		ws, taxes := make([][]byte, n), make([][]byte, n)
		err := tx.Parallel(n, func(i int, g state.Getter) (err error) {
			if !payee {
				ws[i] = worker
			} else if ws[i], err = g.Get("workers", who(i)); err != nil {
				return err
			}
			taxes[i], err = g.Get("tax", who(i))
			return err
		})
		if err != nil {
			return nil, err
		}
		payment := make([]byte, 140)
		for i := range n {
			if len(ws[i]) != len(worker) || len(taxes[i]) != 64 {
				return nil, fmt.Errorf("row %d read %d and %d bytes", i, len(ws[i]), len(taxes[i]))
			}
			seq++
			if err := tx.Put("payments", binary.BigEndian.AppendUint64(nil, seq), payment); err != nil {
				return nil, err
			}
			taxes[i][0]++
			if err := tx.Put("tax", who(i), taxes[i]); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	f, err := openFloor(dir, reg, 1)
	if err != nil {
		return floorResult{}, err
	}
	defer f.st.Close()
	if err := f.apply(state.NewCommand("floor.seed", nil, time.Now())); err != nil {
		return floorResult{}, err
	}
	per := payouts.ChunkRows
	cmds := make([]*state.Command, 0, payoutRows/per)
	for c := range payoutRows / per {
		body := make([]byte, 0, 4*per)
		for r := range per {
			body = binary.BigEndian.AppendUint32(body, uint32((c*per+r)%payoutWorkers))
		}
		cmds = append(cmds, state.NewCommand("floor.pay", body, time.Now()))
	}
	what := "payments: read payee and withholding, write payment and withholding"
	if !payee {
		what = "payments, the payee in memory: read withholding, write payment and withholding"
	}
	return f.measure(what, payoutRows, cmds)
}

// registrationFloor registers files of 10,000 new workers in commands of
// 1,000 rows, four to a log entry (as the bulk invitation and the cluster
// do): per row it looks up the three blind indexes (ID number, phone,
// card; random 32-byte keys, none found) and writes seven records — the
// worker's data key (48 bytes) and record (600 bytes) under its sequential
// ID, the three indexes (its ID under each), its link to the merchant
// (100 bytes) and its entry in the tax bureaus' feed (400 bytes,
// sequential). No validation, JSON, office index or audit.
func registrationFloor(dir string, files int) (floorResult, error) {
	const perFile, perCmd = 10_000, 1_000
	reg := state.NewRegistry()
	for _, b := range []string{"keys", "workers", "idx", "links", "feed"} {
		reg.Bucket(b)
	}
	key := make([]byte, 48)
	worker, link, entry := bytes.Repeat([]byte("w"), 600), bytes.Repeat([]byte("l"), 100), bytes.Repeat([]byte("f"), 400)
	var seq uint64
	reg.Handle("floor.register", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		const rec = 8 + 3*32 // a row: its ID, then its three index keys
		n := len(cmd.Body) / rec
		row := func(i int) []byte { return cmd.Body[i*rec : (i+1)*rec] }
		err := tx.Parallel(n, func(i int, g state.Getter) error {
			for k := range 3 {
				if v, err := g.Get("idx", row(i)[8+32*k:8+32*(k+1)]); err != nil || v != nil {
					return fmt.Errorf("row %d: index %d found %q (%v)", i, k, v, err)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for i := range n {
			r := row(i)
			id := fmt.Appendf(nil, "w_%016x", binary.BigEndian.Uint64(r))
			for _, w := range []struct {
				bucket   string
				key, val []byte
			}{{"keys", id, key}, {"workers", id, worker}, {"idx", r[8:40], id}, {"idx", r[40:72], id}, {"idx", r[72:104], id},
				{"links", append([]byte("m_floor/"), id...), link}} {
				if err := tx.Put(w.bucket, w.key, w.val); err != nil {
					return nil, err
				}
			}
			seq++
			if err := tx.Put("feed", binary.BigEndian.AppendUint64(nil, seq), entry); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	f, err := openFloor(dir, reg, 4)
	if err != nil {
		return floorResult{}, err
	}
	defer f.st.Close()
	var cmds []*state.Command
	for c := range files * perFile / perCmd {
		body := make([]byte, 0, perCmd*(8+3*32))
		for r := range perCmd {
			body = binary.BigEndian.AppendUint64(body, uint64(c*perCmd+r))
			idx := make([]byte, 3*32)
			rand.Read(idx)
			body = append(body, idx...)
		}
		cmds = append(cmds, state.NewCommand("floor.register", body, time.Now()))
	}
	return f.measure("bulk registration: three index lookups, seven records written", files*perFile, cmds)
}
