package feed

import (
	"encoding/hex"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
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
	if cap(b)-len(b) < n {
		b = append(make([]byte, 0, len(b)+n), b...)
	}
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

// appendBytes appends p as a JSON string, without copying it to a string.
func appendBytes(b, p []byte) []byte {
	if len(p) == 0 {
		return append(b, `""`...)
	}
	return appendString(b, unsafe.String(unsafe.SliceData(p), len(p)))
}

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

// appendEntry writes a stored entry as WireEntry.appendJSON writes the
// WireEntry that wire makes of it.
func appendEntry(b []byte, e *Entry, officeSeq uint64, chain Hash, open Opener) ([]byte, error) {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	if officeSeq != 0 {
		b = append(b, `,"office_seq":`...)
		b = strconv.AppendUint(b, officeSeq, 10)
	}
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"v":`...)
	b = strconv.AppendInt(b, int64(e.Version), 10)
	b = append(b, `,"time":"`...)
	b = append(e.Time.UTC().AppendFormat(b, time.RFC3339Nano), '"')
	b = append(b, `,"office":`...)
	b = appendString(b, e.Office)
	b = append(b, `,"subject":`...)
	b = appendString(b, e.Subject)
	b = append(b, `,"payload":`...)
	b = appendBytes(b, e.Payload)
	b = append(b, `,"identity":`...)
	destroyed := false
	if len(e.Identity) == 0 {
		b = append(b, "null"...)
	} else {
		plain, err := open(e.Subject, e.IdentityAAD, e.Identity)
		switch {
		case errors.Is(err, ErrDestroyed):
			destroyed = true
			b = append(b, "null"...)
		case err != nil:
			return b, err
		default:
			b = appendBytes(b, plain)
			clear(plain)
		}
	}
	b = append(b, `,"identity_sm3":"`...)
	b = append(hex.AppendEncode(b, e.IdentitySM3), '"')
	if destroyed {
		b = append(b, `,"destroyed":true`...)
	}
	b = append(b, `,"hash":"`...)
	b = append(hex.AppendEncode(b, e.Hash), '"')
	b = append(b, `,"chain":"`...)
	b = append(hex.AppendEncode(b, chain[:]), '"')
	return append(b, '}'), nil
}
