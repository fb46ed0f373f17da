package channel

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"cxt/crypto/sm"
)

// The file formats a FileBank exchanges with its bank; docs/payouts.md
// documents them for the bank's side, and the tests hold both to it.
//
// A payment file is UTF-8 CSV (RFC 4180, LF line ends): the header
// PaymentHeader, one line per payment, and a trailer line
//
//	#END,<rows>,<total yuan>,<SM3 of every byte before the trailer line>
//
// A result file is UTF-8 CSV, one result per line (a quoted field may not
// hold a line break), with the header ResultHeader; blank lines are skipped
// and a leading byte order mark is allowed.
const (
	PaymentHeader = "ref,amount,payee_name,card_number"
	ResultHeader  = "ref,status,bank_ref,reason,time"
	trailerTag    = "#END"
	// MaxResultLine bounds one line of a result file.
	MaxResultLine = 4 << 10
	maxRefLen     = 64
	maxReasonLen  = 200 // characters
)

// paymentFile renders orders as a payment file: they are valid (checked by
// payable).
func paymentFile(orders []Order) []byte {
	var buf bytes.Buffer
	buf.WriteString(PaymentHeader + "\n")
	w := csv.NewWriter(&buf)
	var total int64
	for _, o := range orders {
		w.Write([]string{o.Ref, yuan(o.Fen), o.Payee.Name, o.Payee.Card})
		total += o.Fen
	}
	w.Flush()
	sum := sm.Sum(buf.Bytes())
	fmt.Fprintf(&buf, "%s,%d,%s,%s\n", trailerTag, len(orders), yuan(total), hex.EncodeToString(sum[:]))
	return buf.Bytes()
}

// yuan writes a positive amount in fen as yuan with two decimals.
func yuan(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

// payable says why an order cannot go into a payment file, or "".
func payable(o Order) string {
	switch {
	case o.Fen <= 0:
		return "the order names no amount"
	case o.Payee.Card == "" || strings.TrimSpace(o.Payee.Name) == "":
		return "the order names no payee or no card"
	case !printable(o.Ref, maxRefLen) || strings.ContainsAny(o.Ref, ",\""):
		return "the order's reference cannot be written in a payment file"
	case !printable(o.Payee.Name, 100):
		return "the payee's name has characters a payment file cannot carry"
	}
	for _, c := range o.Payee.Card {
		if c < '0' || c > '9' {
			return "the payee's card number is not digits"
		}
	}
	return ""
}

// printable reports whether s is valid UTF-8 of at most max characters
// with no control character.
func printable(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			return false
		}
	}
	return true
}

// ResultError is a result file's line that is not a result. The cursor
// stays before it until the line is corrected.
type ResultError struct {
	File string
	Line int
	Err  string
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("channel: result file %s line %d: %s", e.File, e.Line, e.Err)
}

// ParseResults reads the results of a result file after line `after` (0:
// from the start; the header is line 1), at most limit of them. It returns
// them with the line of the last one (or the last line read, when it read
// the whole rest of the file). A line that is not a result is an error
// naming it; the results before it are returned with it, and `last` stays
// before it.
func ParseResults(name string, data []byte, after, limit int) (events []Event, last int, err error) {
	last = after
	if after < 0 {
		return nil, after, &ResultError{File: name, Line: after, Err: "no such line"}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 512), MaxResultLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if line <= after {
			continue
		}
		if len(events) == limit {
			return events, last, nil
		}
		bad := func(format string, args ...any) ([]Event, int, error) {
			return events, last, &ResultError{File: name, Line: line, Err: fmt.Sprintf(format, args...)}
		}
		if line == 1 {
			if text != ResultHeader {
				return bad("the header must be %q", ResultHeader)
			}
			last = line
			continue
		}
		if strings.TrimSpace(text) == "" {
			last = line
			continue
		}
		if !utf8.ValidString(text) {
			return bad("not UTF-8")
		}
		r := csv.NewReader(strings.NewReader(text))
		r.FieldsPerRecord = 5
		f, err := r.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return bad("%v (ref,status,bank_ref,reason,time)", err)
		}
		if _, err := r.Read(); err == nil {
			return bad("one result per line: a field holds a line break")
		}
		ev, why := result(f)
		if why != "" {
			return bad("%s", why)
		}
		events = append(events, ev)
		last = line
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return events, last, &ResultError{File: name, Line: line + 1, Err: "longer than " + strconv.Itoa(MaxResultLine) + " bytes"}
		}
		return events, last, err
	}
	return events, last, nil
}

// result checks one line's fields.
func result(f []string) (Event, string) {
	ref, status, bankRef, reason, at := f[0], f[1], f[2], f[3], f[4]
	switch {
	case ref == "" || !printable(ref, maxRefLen):
		return Event{}, fmt.Sprintf("ref: 1 to %d characters, no control characters", maxRefLen)
	case status != Paid && status != Failed && status != Returned:
		return Event{}, fmt.Sprintf("status %q: paid, failed or returned", status)
	case !printable(bankRef, maxRefLen):
		return Event{}, fmt.Sprintf("bank_ref: at most %d characters, no control characters", maxRefLen)
	case !printable(reason, maxReasonLen):
		return Event{}, fmt.Sprintf("reason: at most %d characters, no control characters", maxReasonLen)
	}
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return Event{}, fmt.Sprintf("time %q: RFC 3339 with its offset, like 2026-03-10T15:04:05+08:00", at)
	}
	return Event{Ref: ref, ChannelRef: bankRef, Status: status, Reason: reason, At: t.UTC()}, ""
}
