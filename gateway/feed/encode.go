package feed

import (
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the page as JSON, as encoding/json would write it
// without HTML escaping, several times faster: a page of thousands of
// entries is written for every request of the feed.
func (p *Page) AppendJSON(b []byte) []byte {
	n := len(p.Head) + len(p.Signature) + 64
	for i := range p.Entries {
		e := &p.Entries[i]
		n += 224 + len(e.Type) + len(e.Time) + len(e.Office) + len(e.Subject) + len(e.Payload)*9/8 + len(e.IdentitySM3) + len(e.Hash) + len(e.Chain)
		if e.Identity != nil {
			n += len(*e.Identity) * 9 / 8
		}
	}
	b = append(make([]byte, 0, len(b)+n), b...)
	b = append(b, `{"head":`...)
	b = appendString(b, p.Head)
	b = append(b, `,"signature":`...)
	b = appendString(b, p.Signature)
	b = append(b, `,"entries":[`...)
	for i := range p.Entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = p.Entries[i].appendJSON(b)
	}
	return append(b, "]}"...)
}

// MarshalJSON writes the page with AppendJSON.
func (p *Page) MarshalJSON() ([]byte, error) { return p.AppendJSON(nil), nil }

func (e *WireEntry) appendJSON(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	if e.OfficeSeq != 0 {
		b = append(b, `,"office_seq":`...)
		b = strconv.AppendUint(b, e.OfficeSeq, 10)
	}
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"v":`...)
	b = strconv.AppendInt(b, int64(e.Version), 10)
	for _, f := range [...]struct{ name, value string }{{`,"time":`, e.Time}, {`,"office":`, e.Office}, {`,"subject":`, e.Subject}, {`,"payload":`, e.Payload}} {
		b = append(b, f.name...)
		b = appendString(b, f.value)
	}
	b = append(b, `,"identity":`...)
	if e.Identity == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *e.Identity)
	}
	b = append(b, `,"identity_sm3":`...)
	b = appendString(b, e.IdentitySM3)
	if e.Destroyed {
		b = append(b, `,"destroyed":true`...)
	}
	b = append(b, `,"hash":`...)
	b = appendString(b, e.Hash)
	b = append(b, `,"chain":`...)
	b = appendString(b, e.Chain)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, as encoding/json
// does — for a domain that writes a large payload itself (Raw).
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
