package ledger

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"cxt/storage/state"
)

// Buckets.
const (
	PostingsBucket = "ledger-postings" // sequence (8 bytes big-endian) -> Posting
	BalancesBucket = "ledger-balances" // account -> balance in fen (8 bytes big-endian, two's complement)
	MetaBucket     = "ledger-meta"     // "seq" -> the last sequence number
)

// Causes: why a line moves money.
const (
	CausePayment    = "payment"
	CauseFee        = "fee"
	CauseTax        = "tax"
	CauseReturn     = "return"
	CauseTopUp      = "top_up"
	CauseAdjustment = "adjustment"
	CauseChannel    = "channel" // money handed to, or settled by, a channel
)

// Line is one side of a posting: an amount in fen debited or credited to an
// account, for a cause.
type Line struct {
	Account string `json:"account"`
	Debit   bool   `json:"debit,omitempty"`
	Fen     int64  `json:"fen"`
	Cause   string `json:"cause"`
}

// Posting is one balanced movement. Event names what happened (a command
// type of the domain that posted it) and Ref what it happened to (a batch
// chunk, a statement line, an adjustment); Payments, when set, is the range
// of payments whose detail it sums.
type Posting struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Event    string    `json:"event"`
	Ref      string    `json:"ref"`
	Lines    []Line    `json:"lines"`
	Payments []string  `json:"payments,omitempty"`
}

// CodeInsufficient refuses a posting that would take an account below zero.
var CodeInsufficient = state.NewCode(state.KindConflict, "insufficient_balance")

// CodeLimit refuses a posting that would take an account above MaxBalance.
var CodeLimit = state.NewCode(state.KindConflict, "ledger_limit")

// MaxBalance bounds every account: 10^17 fen, a thousand trillion yuan —
// more than any platform holds, and far enough below int64's range that
// no sum of lines overflows on the way.
const MaxBalance = 100_000_000_000_000_000

// ErrUnbalanced is a posting whose debits and credits differ: a bug in the
// caller, never the user's doing.
var ErrUnbalanced = errors.New("ledger: posting does not balance")

// Register adds the ledger's buckets. The ledger has no commands of its own:
// the domains post inside theirs.
func Register(reg *state.Registry) {
	reg.Bucket(PostingsBucket)
	reg.Bucket(BalancesBucket)
	reg.Bucket(MetaBucket)
}

// Check reports what is wrong with a posting's shape: no lines, a line
// without an account or cause or with an amount that is not positive, or
// debits unequal to credits.
func (p *Posting) Check() error {
	if len(p.Lines) < 2 {
		return fmt.Errorf("%w: %d line(s)", ErrUnbalanced, len(p.Lines))
	}
	var dr, cr int64
	for _, l := range p.Lines {
		if err := Valid(l.Account); err != nil {
			return err
		}
		if l.Fen <= 0 || l.Cause == "" {
			return fmt.Errorf("ledger: line %+v: an amount above zero and a cause are required", l)
		}
		if l.Debit {
			dr += l.Fen
		} else {
			cr += l.Fen
		}
	}
	if dr != cr {
		return fmt.Errorf("%w: debits %s, credits %s", ErrUnbalanced, Yuan(dr), Yuan(cr))
	}
	return nil
}

// Post books p inside a command: it checks the posting balances, moves each
// account's balance and refuses (insufficient_balance, nothing written) when
// one would go below zero. It sets p.Seq and p.Time.
func Post(tx *state.Tx, p *Posting) error {
	if err := p.Check(); err != nil {
		return err
	}
	moved := map[string]int64{}
	order := []string{}
	for _, l := range p.Lines {
		if l.Fen > MaxBalance {
			return state.Reject(CodeLimit, "a line of %s is more than any account may hold", Yuan(l.Fen))
		}
		if _, ok := moved[l.Account]; !ok {
			order = append(order, l.Account)
		}
		moved[l.Account] += signed(l)
	}
	next := make([]int64, len(order))
	for i, a := range order {
		bal, err := Balance(tx, a)
		if err != nil {
			return err
		}
		if m := moved[a]; m > MaxBalance || m < -MaxBalance {
			return state.Reject(CodeLimit, "%s would move by more than any account may hold", a)
		}
		next[i] = bal + moved[a]
		if next[i] > MaxBalance {
			return state.Reject(CodeLimit, "%s holds %s; %s would take it past the most an account may hold, %s", a, Yuan(bal), p.Event, Yuan(MaxBalance))
		}
		if next[i] < 0 && !Owed(a, p) {
			return state.Reject(CodeInsufficient, "%s holds %s; %s needs %s more", a, Yuan(bal), p.Event, Yuan(-next[i]))
		}
	}
	seq, err := nextSeq(tx)
	if err != nil {
		return err
	}
	p.Seq, p.Time = seq, tx.Time()
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := tx.Put(PostingsBucket, seqKey(seq), b); err != nil {
		return err
	}
	for i, a := range order {
		if err := tx.Put(BalancesBucket, []byte(a), binary.BigEndian.AppendUint64(nil, uint64(next[i]))); err != nil {
			return err
		}
	}
	return nil
}

// signed is a line's effect on its account's balance.
func signed(l Line) int64 {
	if l.Debit == DebitNormal(l.Account) {
		return l.Fen
	}
	return -l.Fen
}

// NextSeq returns the sequence number the next posting will take, so that
// a command can name it on the records the posting sums before it posts.
func NextSeq(tx getter) (uint64, error) {
	v, err := tx.Get(MetaBucket, []byte("seq"))
	if err != nil {
		return 0, err
	}
	if len(v) == 8 {
		return binary.BigEndian.Uint64(v) + 1, nil
	}
	return 1, nil
}

func nextSeq(tx *state.Tx) (uint64, error) {
	v, err := tx.Get(MetaBucket, []byte("seq"))
	if err != nil {
		return 0, err
	}
	var seq uint64
	if len(v) == 8 {
		seq = binary.BigEndian.Uint64(v)
	}
	seq++
	return seq, tx.Put(MetaBucket, []byte("seq"), seqKey(seq))
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// getter is a state transaction, read-only or not.
type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Balance returns an account's balance in fen on its normal side.
func Balance(tx getter, account string) (int64, error) {
	v, err := tx.Get(BalancesBucket, []byte(account))
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("ledger: balance of %s is %d bytes", account, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// Get reads posting seq.
func Get(tx getter, seq uint64) (*Posting, error) {
	v, err := tx.Get(PostingsBucket, seqKey(seq))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, state.Reject(state.NotFound, "no posting %d", seq)
	}
	return Decode(v)
}

// Decode reads a posting's stored value, as a scan of PostingsBucket
// yields it.
func Decode(v []byte) (*Posting, error) {
	var p Posting
	if err := json.Unmarshal(v, &p); err != nil {
		return nil, fmt.Errorf("ledger: posting: %w", err)
	}
	return &p, nil
}

var hundred = decimal.NewFromInt(100)

// Fen converts an amount in yuan to whole fen; an amount with more than two
// decimals is refused, never rounded.
func Fen(d decimal.Decimal) (int64, error) {
	f := d.Mul(hundred)
	if !f.IsInteger() {
		return 0, fmt.Errorf("ledger: %s has more than two decimals", d.String())
	}
	if f.Abs().GreaterThan(decimal.NewFromInt(maxFen)) {
		return 0, fmt.Errorf("ledger: %s is out of range", d.String())
	}
	return f.IntPart(), nil
}

// maxFen bounds any amount: 10^15 fen, ten trillion yuan, far below what
// int64 sums of many lines could overflow at.
const maxFen = 1_000_000_000_000_000

// Decimal converts fen to yuan.
func Decimal(fen int64) decimal.Decimal { return decimal.New(fen, -2) }

// Yuan formats fen as yuan with two decimals, the API's money string —
// by integer arithmetic: it runs for every amount of every payment a
// chunk books.
func Yuan(fen int64) string {
	var buf [24]byte
	b := buf[:0]
	u := uint64(fen)
	if fen < 0 {
		b = append(b, '-')
		u = -u
	}
	b = strconv.AppendUint(b, u/100, 10)
	return string(append(b, '.', byte('0'+u%100/10), byte('0'+u%10)))
}
