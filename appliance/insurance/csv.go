package insurance

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// CSVHeader is the social-insurance payments file's header: amounts in
// yuan with at most two decimals, the place a GB/T 2260 region code.
var CSVHeader = []string{"worker", "month", "place", "base", "pension", "medical", "unemployment", "injury"}

// MaxCSV bounds a payments file.
const MaxCSV = 4 << 20

// LineError is a file's bad lines, each with what is wrong; the file is
// refused whole.
type LineError struct {
	Lines []string // "line N: …", at most 20
	More  int      // bad lines not listed
}

func (e *LineError) Error() string {
	s := strings.Join(e.Lines, "; ")
	if e.More > 0 {
		s += fmt.Sprintf("; and %d more bad lines", e.More)
	}
	return s
}

// ParseCSV reads a payments file whole: every line is checked, and any bad
// one refuses the file (a *LineError naming them). It returns the
// payments and the line each came from.
func ParseCSV(data []byte) ([]SocialPayment, []int, error) {
	if !utf8.Valid(data) {
		return nil, nil, errors.New("the file is not UTF-8")
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("line 1: the header %s is missing", strings.Join(CSVHeader, ","))
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	if !slices.Equal(header, CSVHeader) {
		return nil, nil, fmt.Errorf("line 1: the header is %s, in that order", strings.Join(CSVHeader, ","))
	}
	bad := &LineError{}
	fail := func(line int, format string, args ...any) {
		if len(bad.Lines) < 20 {
			bad.Lines = append(bad.Lines, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
		} else {
			bad.More++
		}
	}
	var out []SocialPayment
	var lines []int
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// FieldPos is only for a record read: after an error it may
			// have none, and panics.
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			fail(line, "%v", err)
			if pe == nil || pe.Err != csv.ErrFieldCount {
				break // the reader cannot go on after a quoting error
			}
			continue
		}
		line, _ := r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(CSVHeader) {
			fail(line, "%d fields, want %d", len(rec), len(CSVHeader))
			continue
		}
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		p := SocialPayment{Worker: rec[0], Month: rec[1], Place: rec[2]}
		if p.Worker == "" || len(p.Worker) > 64 {
			fail(line, "worker: the worker's ID")
			continue
		}
		amounts := []*int64{&p.BaseFen, &p.PensionFen, &p.MedicalFen, &p.UnemploymentFen, &p.InjuryFen}
		ok := true
		for i, a := range amounts {
			f, err := ParseYuan(rec[3+i])
			if err != nil {
				fail(line, "%s: %v", CSVHeader[3+i], err)
				ok = false
				break
			}
			*a = f
		}
		if !ok {
			continue
		}
		if err := p.Check(); err != nil {
			fail(line, "%v", err)
			continue
		}
		if len(out) >= MaxPayments {
			return nil, nil, fmt.Errorf("a file holds at most %d payments", MaxPayments)
		}
		out = append(out, p)
		lines = append(lines, line)
	}
	if len(bad.Lines) > 0 {
		return nil, nil, bad
	}
	if len(out) == 0 {
		return nil, nil, errors.New("the file has no payments")
	}
	return out, lines, nil
}
