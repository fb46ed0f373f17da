package insurance

import (
	"strings"
	"testing"
)

// FuzzParseCSV: a social-insurance payments file never panics the parser;
// a file it accepts yields one line number per payment, each payment
// passing the command's own check, so nothing the parser lets through is
// refused later for its form.
func FuzzParseCSV(f *testing.F) {
	head := strings.Join(CSVHeader, ",") + "\n"
	f.Add([]byte(head + "w_1,2026-03,350100,5000.00,400.00,100.00,25.00,10.00\n"))
	f.Add([]byte("\ufeff" + head + "w_1,2026-03,350100,5000,400,100,25,10\nw_2,2026-03,350100,1.5,0.05,0,0,0\n"))
	f.Add([]byte(head + "w_1,2026-13,350100,-1,1e3,,x,\"a\nb\"\n"))
	f.Add([]byte("worker\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		payments, lines, err := ParseCSV(data)
		if err != nil {
			if payments != nil {
				t.Fatalf("a refused file returned %d payments", len(payments))
			}
			return
		}
		if len(lines) != len(payments) {
			t.Fatalf("%d payments from %d lines", len(payments), len(lines))
		}
		for i := range payments {
			if err := payments[i].Check(); err != nil {
				t.Fatalf("line %d accepted by the parser, refused by the check: %v", lines[i], err)
			}
		}
	})
}

// FuzzParseYuan: an amount read is written back the same, in fen, by
// integer arithmetic; anything else is refused, never misread.
func FuzzParseYuan(f *testing.F) {
	for _, s := range []string{"0", "0.05", "1234.5", "99999999999.99", "01", "1.234", "-1", "1e3", " 1", "1.", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fen, err := ParseYuan(s)
		if err != nil {
			return
		}
		if fen < 0 {
			t.Fatalf("%q read as %d fen", s, fen)
		}
		back, err := ParseYuan(Yuan(fen))
		if err != nil || back != fen {
			t.Fatalf("%q → %d fen → %q → %d (%v)", s, fen, Yuan(fen), back, err)
		}
		whole, frac, _ := strings.Cut(s, ".")
		if want := whole + "." + (frac + "00")[:2]; Yuan(fen) != want {
			t.Fatalf("%q read as %d fen, shown %q, want %q", s, fen, Yuan(fen), want)
		}
	})
}
