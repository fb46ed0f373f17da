package payouts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Rows and payments are packed, not JSON: a batch of 100,000 is written and
// read in every chunk, and varints are several times cheaper to make and
// read. Each packed value starts with its format version.

const packVersion = 1

var errPacked = errors.New("payouts: damaged record")

type packer struct{ b []byte }

func (p *packer) str(s string) {
	p.b = binary.AppendUvarint(p.b, uint64(len(s)))
	p.b = append(p.b, s...)
}
func (p *packer) int(v int64) { p.b = binary.AppendVarint(p.b, v) }
func (p *packer) uint(v uint64) {
	p.b = binary.AppendUvarint(p.b, v)
}
func (p *packer) time(t time.Time) {
	if t.IsZero() {
		p.int(0)
		return
	}
	p.int(t.UnixNano())
}

type unpacker struct {
	b   []byte
	err error
}

func (u *unpacker) uint() uint64 {
	if u.err != nil {
		return 0
	}
	v, n := binary.Uvarint(u.b)
	if n <= 0 {
		u.err = errPacked
		return 0
	}
	u.b = u.b[n:]
	return v
}

func (u *unpacker) int() int64 {
	if u.err != nil {
		return 0
	}
	v, n := binary.Varint(u.b)
	if n <= 0 {
		u.err = errPacked
		return 0
	}
	u.b = u.b[n:]
	return v
}

func (u *unpacker) str() string {
	n := u.uint()
	if u.err != nil || n > uint64(len(u.b)) {
		u.err = errPacked
		return ""
	}
	s := string(u.b[:n])
	u.b = u.b[n:]
	return s
}

func (u *unpacker) time() time.Time {
	v := u.int()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

// packRows packs one chunk's rows.
func packRows(rows []Row) []byte {
	p := packer{b: make([]byte, 0, len(rows)*48)}
	p.uint(packVersion)
	p.uint(uint64(len(rows)))
	for _, r := range rows {
		p.uint(uint64(r.No))
		p.str(r.Worker)
		p.str(r.Task)
		p.int(r.Fen)
		p.str(r.Memo)
	}
	return p.b
}

func unpackRows(b []byte) ([]Row, error) {
	u := unpacker{b: b}
	if v := u.uint(); v != packVersion {
		return nil, fmt.Errorf("%w: rows format %d", errPacked, v)
	}
	n := u.uint()
	if n > MaxRows {
		return nil, errPacked
	}
	rows := make([]Row, 0, n)
	for i := uint64(0); i < n && u.err == nil; i++ {
		r := Row{No: int(u.uint()), Worker: u.str(), Task: u.str(), Fen: u.int(), Memo: u.str()}
		rows = append(rows, r)
	}
	if u.err != nil || len(u.b) != 0 {
		return nil, errPacked
	}
	return rows, nil
}

// paymentVersion 2 adds the payment's outbox entry; 3 its risk decision,
// written only by a payment that has one, so that a payment decided before
// command set state.RiskSet packs to the bytes it always did.
const paymentVersion = 3

func (pm *Payment) pack() []byte {
	p := packer{b: make([]byte, 0, 192)}
	if pm.Risk == nil {
		p.uint(2)
	} else {
		p.uint(paymentVersion)
	}
	for _, s := range []string{pm.ID, pm.Batch, pm.Merchant, pm.Worker, pm.Task, pm.Agreement, string(pm.Status), pm.Reason, pm.Code, pm.RuleSet, pm.FeeRule, pm.Channel, pm.ChannelRef} {
		p.str(s)
	}
	for _, v := range []int64{int64(pm.Row), pm.AmountFen, pm.FeeFen, pm.IITFen, pm.VATFen, pm.SurFen, pm.NetFen, int64(pm.Month)} {
		p.int(v)
	}
	p.uint(pm.Posting)
	p.time(pm.Created)
	p.time(pm.Updated)
	p.uint(pm.Outbox)
	if r := pm.Risk; r != nil {
		for _, s := range []string{r.Outcome, r.Rule, r.Bundle, r.Digest, string(r.Input)} {
			p.str(s)
		}
		p.uint(uint64(len(r.Cleared)))
		for _, s := range r.Cleared {
			p.str(s)
		}
		p.str(r.ClearedBy)
		p.str(r.ClearNote)
		clearable := uint64(0)
		if r.Clearable {
			clearable = 1
		}
		p.uint(clearable)
	}
	return p.b
}

func unpackPayment(b []byte) (*Payment, error) {
	u := unpacker{b: b}
	v := u.uint()
	if v < 1 || v > paymentVersion {
		return nil, fmt.Errorf("%w: payment format %d", errPacked, v)
	}
	pm := &Payment{}
	for _, s := range []*string{&pm.ID, &pm.Batch, &pm.Merchant, &pm.Worker, &pm.Task, &pm.Agreement, (*string)(&pm.Status), &pm.Reason, &pm.Code, &pm.RuleSet, &pm.FeeRule, &pm.Channel, &pm.ChannelRef} {
		*s = u.str()
	}
	var row, month int64
	for _, v := range []*int64{&row, &pm.AmountFen, &pm.FeeFen, &pm.IITFen, &pm.VATFen, &pm.SurFen, &pm.NetFen, &month} {
		*v = u.int()
	}
	pm.Row, pm.Month = int(row), int(month)
	pm.Posting = u.uint()
	pm.Created = u.time()
	pm.Updated = u.time()
	if v >= 2 {
		pm.Outbox = u.uint()
	}
	if v >= 3 {
		r := &Risk{Outcome: u.str(), Rule: u.str(), Bundle: u.str(), Digest: u.str()}
		r.Input = []byte(u.str())
		for n := u.uint(); n > 0 && u.err == nil; n-- {
			r.Cleared = append(r.Cleared, u.str())
		}
		r.ClearedBy, r.ClearNote = u.str(), u.str()
		r.Clearable = u.uint() == 1
		pm.Risk = r
	}
	if u.err != nil || len(u.b) != 0 {
		return nil, errPacked
	}
	return pm, nil
}

// PaymentID names a batch's row.
func PaymentID(batch string, row int) string { return fmt.Sprintf("%s-%06d", batch, row) }

// chunkKey names a batch's stored chunk.
func chunkKey(batch string, chunk int) []byte {
	return binary.BigEndian.AppendUint32([]byte(batch+"/"), uint32(chunk))
}
