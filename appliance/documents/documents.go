// Package documents records the documents kept in the blob store: which ID,
// what title, how large, and the SM3 digest every read is checked against.
package documents

import (
	"encoding/hex"
	"encoding/json"
	"time"

	"cxt/storage/blob"
	"cxt/storage/state"
)

// Bucket holds one Record per document ID.
const Bucket = "documents"

// CmdRegister records a stored document.
const CmdRegister = "document.register"

// Record is what the state keeps about a document.
type Record struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Size     int64     `json:"size"`
	SM3      string    `json:"sm3"` // hex
	Uploaded time.Time `json:"uploaded"`
}

// Register adds the documents bucket and commands.
func Register(reg *state.Registry) {
	reg.Bucket(Bucket)
	reg.Handle(CmdRegister, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var r Record
		if err := json.Unmarshal(cmd.Body, &r); err != nil {
			return nil, state.Reject(state.InvalidRequest, "document record: %v", err)
		}
		if err := blob.CheckID(r.ID); err != nil {
			return nil, state.Reject(state.InvalidRequest, "%v", err)
		}
		if prev, err := tx.Get(Bucket, []byte(r.ID)); err != nil {
			return nil, err
		} else if prev != nil {
			return nil, state.Reject(state.Conflict, "document %s already exists", r.ID)
		}
		r.Uploaded = tx.Time()
		b, _ := json.Marshal(r)
		return b, tx.Put(Bucket, []byte(r.ID), b)
	})
}

// RegisterCommand returns the command recording info under title.
func RegisterCommand(info blob.Info, title string, now time.Time) *state.Command {
	b, _ := json.Marshal(Record{ID: info.ID, Title: title, Size: info.Size, SM3: hex.EncodeToString(info.SM3[:])})
	return state.NewCommand(CmdRegister, b, now)
}

// Get reads a document's record.
func Get(r *state.ReadTx, id string) (*Record, error) {
	b, err := r.Get(Bucket, []byte(id))
	if err != nil || b == nil {
		return nil, err
	}
	var rec Record
	return &rec, json.Unmarshal(b, &rec)
}

// Digest returns the record's SM3 digest as bytes.
func (r *Record) Digest() (d [32]byte, err error) {
	b, err := hex.DecodeString(r.SM3)
	copy(d[:], b)
	return d, err
}
