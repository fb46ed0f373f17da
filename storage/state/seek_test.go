package state

import (
	"testing"

	"cxt/crypto/keyring"
)

func TestSeekReadsFromAKeyInEitherDirection(t *testing.T) {
	f := newFixture(t, t.TempDir(), keyring.NewMasterKey())
	f.apply(f.installTerm(1), put("b=2"), put("d=4"), put("f=6"))
	seek := func(start string, reverse bool, most int) string {
		var s []byte
		if start != "" {
			s = []byte(start)
		}
		out := ""
		if err := f.st.View(func(r *ReadTx) error {
			return r.Seek("kv", s, reverse, func(k, v []byte) (bool, error) {
				out += string(k) + "=" + string(v) + " "
				return len(out)/4 < most, nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, c := range []struct {
		start   string
		reverse bool
		most    int
		want    string
	}{
		{"", false, 9, "b=2 d=4 f=6 "},
		{"", true, 9, "f=6 d=4 b=2 "},
		{"c", false, 9, "d=4 f=6 "},
		{"d", true, 9, "d=4 b=2 "}, // a present key is included
		{"e", true, 9, "d=4 b=2 "}, // an absent one starts below it
		{"z", true, 9, "f=6 d=4 b=2 "},
		{"a", true, 9, ""},
		{"", true, 1, "f=6 "}, // fn stops the walk
	} {
		if got := seek(c.start, c.reverse, c.most); got != c.want {
			t.Errorf("Seek(%q, reverse=%v): %q, want %q", c.start, c.reverse, got, c.want)
		}
	}
}
