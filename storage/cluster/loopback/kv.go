package loopback

import (
	"bytes"
	"time"

	"cxt/storage/cluster"
	"cxt/storage/state"
)

// KVBucket and the kv.put command give tests and benchmarks a plain
// key=value store on top of the replicated state.
const KVBucket = "kv"

// RegisterKV adds the kv bucket and kv.put, which stores Body's key=value
// and returns the key.
func RegisterKV(reg *state.Registry) {
	reg.Bucket(KVBucket)
	reg.Handle("kv.put", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		k, v, ok := bytes.Cut(cmd.Body, []byte("="))
		if !ok || len(k) == 0 {
			return nil, state.Reject(state.InvalidRequest, "want key=value")
		}
		return k, tx.Put(KVBucket, k, v)
	})
}

// Put returns the command that sets key to value.
func Put(key string, value []byte) *state.Command {
	body := make([]byte, 0, len(key)+1+len(value))
	body = append(append(append(body, key...), '='), value...)
	return state.NewCommand("kv.put", body, time.Now())
}

// Get reads key from a node's applied state (not a linearizable read by
// itself: call ReadBarrier first when that matters).
func Get(n *cluster.Node, key string) ([]byte, error) {
	var v []byte
	err := n.State().View(func(r *state.ReadTx) error {
		var err error
		v, err = r.Get(KVBucket, []byte(key))
		return err
	})
	return v, err
}
