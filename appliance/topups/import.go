package topups

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Importer proposes a parsed statement: it computes the blind indexes of
// every line's transaction ID and payer account, marks the lines that
// repeat an earlier transaction of the same file, and proposes the lines in
// chunks, one after another, each applied whole or not at all.
type Importer struct {
	Keys *keyring.Keyring
	// Propose replicates a command; first is true for the first chunk
	// (the API makes it the request's audit record).
	Propose func(first bool, cmd *state.Command) ([]byte, error)
	Now     time.Time
	// Chunk is the number of lines per command (ChunkLines if 0).
	Chunk int
}

// Imported is an import's outcome: the statement as the last chunk left
// it and every line's report, in file order.
type Imported struct {
	Statement *Statement
	Lines     []LineReport
}

// Index is the blind index of an outside identifier (a transaction ID, an
// account number) under the keyring's index key, with a domain of its own.
func Index(key []byte, domain, value string) []byte {
	mac := sm.HMAC(key, []byte("cxt/topup-"+domain+"/v1\x00"), []byte(value))
	return mac[:]
}

// NewStatementID draws a statement ID that sorts by time.
func NewStatementID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("st-%011x%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}

// Import proposes lines, read from data (named name), as statement id on
// behalf of by. On an error part of the statement may have been applied,
// whole chunks of it: the answer so far comes back with the error.
func (im *Importer) Import(id, name string, data []byte, lines []Line, by string) (*Imported, error) {
	key, err := im.Keys.IndexKey()
	if err != nil {
		return nil, err
	}
	size := im.Chunk
	if size <= 0 || size > MaxChunk {
		size = ChunkLines
	}
	sum := sm.Sum(data)
	head := StatementHead{ID: id, Name: name, SM3: hex.EncodeToString(sum[:]), Bytes: len(data), Rows: len(lines),
		Chunks: (len(lines) + size - 1) / size, By: by}
	in := make([]InLine, len(lines))
	first := map[string]int{} // transaction ID -> its first row in this file
	for i, l := range lines {
		in[i].Line = l
		if !l.Incoming() {
			continue
		}
		if row, dup := first[l.TxnID]; dup {
			in[i].DuplicateOf = row
		} else {
			first[l.TxnID] = l.Row
		}
		in[i].Txn = Index(key, "txn", l.TxnID)
		if l.PayerAccount != "" {
			in[i].Payer = Index(key, "payer", l.PayerAccount)
		}
	}
	out := &Imported{Lines: make([]LineReport, 0, len(lines))}
	for c := range head.Chunks {
		chunk := ImportChunk{Statement: head, Chunk: c, Lines: in[c*size : min((c+1)*size, len(in))]}
		v, err := im.Propose(c == 0, state.NewCommand(CmdImport, mustJSON(chunk), im.Now))
		if err != nil {
			return out, err
		}
		var res ImportResult
		if err := json.Unmarshal(v, &res); err != nil {
			return out, fmt.Errorf("topups: chunk %d of %s: %w", c, id, err)
		}
		out.Statement = res.Statement
		out.Lines = append(out.Lines, res.Lines...)
	}
	return out, nil
}
