package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"time"
)

// Short-lived records — captchas, challenges, confirm tokens, idempotency
// answers, failure counters, sessions, applied-command IDs — are purged by a
// replicated sweep: the leader proposes CmdSweep now and then, and every
// replica removes exactly the same records, because the decision reads only
// the command's time and the state. Each sweep visits a bounded number of
// keys per bucket from where the previous one stopped, so a sweep costs the
// same however large a bucket grows, and a full pass takes several sweeps.

// CmdSweep purges expired records; its body is a Sweep.
const CmdSweep = "state.sweep"

// bucketSweep keeps each swept bucket's resume point: bucket name -> the
// last key visited.
const bucketSweep = "sweep"

// CommandTTL is how long a command's result is remembered against a
// re-proposal of the same command ID. Re-proposals happen within a proposal
// timeout (seconds) after a leader change; an hour is far beyond that.
const CommandTTL = time.Hour

// Sweep is the body of CmdSweep.
type Sweep struct {
	// Limit is how many keys of each bucket one sweep visits.
	Limit int `json:"limit"`
}

// Expirer decides whether the record at key has expired at now, and if so
// removes it (and whatever refers to it) through tx.
type Expirer func(tx *Tx, key, value []byte, now time.Time) (removed bool, err error)

// Expire registers how the records of a bucket expire.
func (r *Registry) Expire(bucket string, fn Expirer) {
	if _, ok := r.buckets[bucket]; !ok {
		panic("state: Expire on unregistered bucket " + bucket)
	}
	if _, dup := r.expirers[bucket]; dup {
		panic("state: Expire registered twice for " + bucket)
	}
	r.expirers[bucket] = fn
}

// SweepResult is what a sweep removed, by bucket.
type SweepResult struct {
	Removed map[string]int `json:"removed"`
}

func applySweep(tx *Tx, cmd *Command) ([]byte, error) {
	var sw Sweep
	if err := json.Unmarshal(cmd.Body, &sw); err != nil || sw.Limit <= 0 {
		return nil, Reject(InvalidRequest, "state.sweep: a positive limit is required")
	}
	now := tx.Time()
	out := SweepResult{Removed: map[string]int{}}
	n, err := sweepCommands(tx, now, sw.Limit)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		out.Removed[bucketCommands] = n
	}
	names := make([]string, 0, len(tx.st.reg.expirers))
	for name := range tx.st.reg.expirers {
		names = append(names, name)
	}
	slices.Sort(names) // map order must not decide anything in Apply
	for _, name := range names {
		n, err := sweepBucket(tx, name, tx.st.reg.expirers[name], now, sw.Limit)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out.Removed[name] = n
		}
	}
	return json.Marshal(out)
}

// sweepBucket visits up to limit keys after the bucket's resume point and
// removes the expired ones; at the end of the bucket it starts over.
func sweepBucket(tx *Tx, bucket string, fn Expirer, now time.Time, limit int) (int, error) {
	after, err := tx.Get(bucketSweep, []byte(bucket))
	if err != nil {
		return 0, err
	}
	type rec struct{ k, v []byte }
	var visit []rec
	last, err := tx.Scan(bucket, after, limit, func(k, v []byte) error {
		visit = append(visit, rec{k, v})
		return nil
	})
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, r := range visit {
		// An earlier removal in this sweep may have removed this record too
		// (a session list, say): read it again.
		cur, err := tx.Get(bucket, r.k)
		if err != nil {
			return removed, err
		}
		if cur == nil {
			continue
		}
		ok, err := fn(tx, r.k, cur, now)
		if err != nil {
			return removed, err
		}
		if ok {
			removed++
		}
	}
	if last == nil { // the end of the bucket: the next sweep starts over
		return removed, tx.Delete(bucketSweep, []byte(bucket))
	}
	return removed, tx.Put(bucketSweep, []byte(bucket), last)
}

// sweepCommands forgets applied-command results older than CommandTTL. Their
// keys start with the command's time, so the old ones are a prefix of the
// bucket.
func sweepCommands(tx *Tx, now time.Time, limit int) (int, error) {
	cutoff := binary.BigEndian.AppendUint64(nil, uint64(now.Add(-CommandTTL).UnixNano()))
	var old [][]byte
	errDone := errStopScan
	_, err := tx.scanKeys(bucketCommands, nil, limit, func(k []byte) error {
		if bytes.Compare(k, cutoff) >= 0 {
			return errDone
		}
		old = append(old, k)
		return nil
	})
	if err != nil && err != errDone {
		return 0, err
	}
	for _, k := range old {
		if err := tx.Delete(bucketCommands, k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

// SweepCommand returns a sweep visiting up to limit keys per bucket.
func SweepCommand(limit int, now time.Time) *Command {
	b, _ := json.Marshal(Sweep{Limit: limit})
	return NewCommand(CmdSweep, b, now)
}
