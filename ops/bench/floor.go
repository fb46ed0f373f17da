package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"cxt/appliance/payouts"
	"cxt/crypto/keyring"
	"cxt/storage/state"
)

// floorResult is what the store's least payment costs.
type floorResult struct {
	payee  bool // the payee's record read per payment (else, as if held in memory)
	perSec float64
	cpuUS  float64 // CPU µs per payment, all cores
}

// paymentFloor applies the least any payout design on this store does per
// payment — read the payee's record (440 bytes, the size of a worker's
// checks), read their year-to-date withholding (64 bytes), write the
// payment as one packed 140-byte record under a sequential key and the
// withholding back — with the reads spread over the cores (Tx.Parallel)
// and nothing decoded, in commands of payouts.ChunkRows rows to
// payoutWorkers workers, applied straight to one state (no Raft, no
// ledger, index, outbox, audit or feed). Every record is sealed and in the
// state's digest, as every record of the appliance is. It is the ceiling
// of payments/s on one node, and three nodes on one machine apply
// everything three times. Without payee the payee's record is not read, as
// if every worker's checks were held in memory.
func paymentFloor(dir string, payee bool) (floorResult, error) {
	const perCmd = payouts.ChunkRows
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
	master := keyring.NewMasterKey()
	keys, err := keyring.New(master)
	if err != nil {
		return floorResult{}, err
	}
	st, err := state.Open(filepath.Join(dir, "state.db"), reg, keys, master)
	if err != nil {
		return floorResult{}, err
	}
	defer st.Close()
	var index uint64
	apply := func(cmds ...*state.Command) error {
		e := state.Entry{}
		for _, c := range cmds {
			sealed, err := state.SealCommand(keys, c)
			if err != nil {
				return err
			}
			e.Commands = append(e.Commands, sealed)
		}
		index++
		e.Index = index
		res, err := st.ApplyBatch([]state.Entry{e})
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
	install, err := state.InstallTermCommand(master, 1, keyring.NewSecret(), time.Now())
	if err != nil {
		return floorResult{}, err
	}
	if err := apply(install); err != nil {
		return floorResult{}, err
	}
	if err := apply(state.NewCommand("floor.seed", nil, time.Now())); err != nil {
		return floorResult{}, err
	}
	cmds := make([]*state.Command, 0, payoutRows/perCmd)
	for c := range payoutRows / perCmd {
		body := make([]byte, 0, 4*perCmd)
		for r := range perCmd {
			body = binary.BigEndian.AppendUint32(body, uint32((c*perCmd+r)%payoutWorkers))
		}
		cmds = append(cmds, state.NewCommand("floor.pay", body, time.Now()))
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	for _, c := range cmds {
		if err := apply(c); err != nil {
			return floorResult{}, err
		}
	}
	took := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	return floorResult{payee: payee, perSec: payoutRows / took.Seconds(), cpuUS: float64(cpu.Microseconds()) / payoutRows}, nil
}
