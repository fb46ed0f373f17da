package contracts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"cxt/appliance/errs"
)

// The default fonts, from Debian's packages (make deps installs them).
// DroidSansFallbackFull (fonts-droid-fallback, Apache-2.0) has the CJK
// ideographs and punctuation but no Latin letters or digits at all — on
// Android it falls back behind a Latin font — so Latin text, digits and
// ASCII punctuation come from DejaVu Sans (fonts-dejavu-core, the Bitstream
// Vera licence). Both licences allow embedding.
const (
	DefaultCJKFont   = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
	DefaultLatinFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
)

// FontPaths names the two TrueType fonts a contract is set in.
type FontPaths struct {
	CJK   string // ideographs, CJK punctuation, full-width forms
	Latin string // everything else: Latin letters, digits, ASCII punctuation
}

// DefaultFonts are Debian's paths of the default fonts.
var DefaultFonts = FontPaths{CJK: DefaultCJKFont, Latin: DefaultLatinFont}

// font is a loaded TrueType font and the characters it has glyphs for.
type font struct {
	name  string // the PDF family name
	path  string
	data  []byte
	glyph bmpSet
}

// bmpSet is a set of Basic Multilingual Plane characters. fpdf writes text
// as two-byte codes, so characters beyond U+FFFF are never renderable.
type bmpSet [1 << 16 / 64]uint64

func (s *bmpSet) add(r uint32) {
	if r < 1<<16 {
		s[r/64] |= 1 << (r % 64)
	}
}

func (s *bmpSet) has(r rune) bool { return r >= 0 && r < 1<<16 && s[r/64]&(1<<(r%64)) != 0 }

func loadFont(name, role, path, pkg string) (*font, error) {
	const op = "load font"
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errs.Coded(op, errs.Internal, CodeFontMissing, "the %s font %s is missing: install %s (make deps) or configure another TrueType font", role, path, pkg)
	}
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "read the %s font %s", role, path)
	}
	glyphs, err := coverage(data)
	if err != nil {
		return nil, errs.Coded(op, errs.Internal, CodeFontInvalid, "the %s font %s: %v", role, path, err)
	}
	return &font{name: name, path: path, data: data, glyph: *glyphs}, nil
}

// coverage reads which characters a TrueType font maps to a glyph, from its
// Unicode cmap subtable (format 12 if present, else format 4). It refuses
// what fpdf cannot embed: CFF outlines (an OpenType "OTTO" font), fonts
// without a glyf table or without a Unicode cmap.
func coverage(data []byte) (*bmpSet, error) {
	if len(data) < 12 {
		return nil, errors.New("not a TrueType font (too short)")
	}
	switch v := binary.BigEndian.Uint32(data); v {
	case 0x00010000, 0x74727565: // 1.0, "true"
	case 0x4f54544f: // "OTTO"
		return nil, errors.New("an OpenType font with CFF outlines; fpdf embeds TrueType (glyf) outlines only")
	default:
		return nil, fmt.Errorf("not a TrueType font (version %#08x)", v)
	}
	tables := map[string][]byte{}
	n := int(binary.BigEndian.Uint16(data[4:]))
	for i := range n {
		rec := 12 + 16*i
		if rec+16 > len(data) {
			return nil, errors.New("table directory truncated")
		}
		off, length := binary.BigEndian.Uint32(data[rec+8:]), binary.BigEndian.Uint32(data[rec+12:])
		if uint64(off)+uint64(length) > uint64(len(data)) {
			return nil, fmt.Errorf("table %q runs past the end of the file", data[rec:rec+4])
		}
		tables[string(data[rec:rec+4])] = data[off : off+length]
	}
	if tables["glyf"] == nil {
		return nil, errors.New("no glyf table (TrueType outlines)")
	}
	cmap := tables["cmap"]
	if len(cmap) < 4 {
		return nil, errors.New("no cmap table")
	}
	var fmt4, fmt12 []byte
	for i := range int(binary.BigEndian.Uint16(cmap[2:])) {
		rec := 4 + 8*i
		if rec+8 > len(cmap) {
			return nil, errors.New("cmap truncated")
		}
		platform, encoding := binary.BigEndian.Uint16(cmap[rec:]), binary.BigEndian.Uint16(cmap[rec+2:])
		off := binary.BigEndian.Uint32(cmap[rec+4:])
		if uint64(off)+2 > uint64(len(cmap)) || !(platform == 0 || platform == 3 && (encoding == 1 || encoding == 10)) {
			continue
		}
		switch sub := cmap[off:]; binary.BigEndian.Uint16(sub) {
		case 4:
			fmt4 = sub
		case 12:
			fmt12 = sub
		}
	}
	set := new(bmpSet)
	switch {
	case fmt12 != nil:
		return set, readFormat12(fmt12, set)
	case fmt4 != nil:
		return set, readFormat4(fmt4, set)
	}
	return nil, errors.New("no Unicode cmap (format 4 or 12)")
}

func readFormat4(sub []byte, set *bmpSet) error {
	if len(sub) < 14 {
		return errors.New("cmap format 4 truncated")
	}
	segs := int(binary.BigEndian.Uint16(sub[6:])) / 2
	ends, starts, deltas, ranges := 14, 14+2*segs+2, 14+4*segs+2, 14+6*segs+2
	if ranges+2*segs > len(sub) {
		return errors.New("cmap format 4 truncated")
	}
	u16 := func(at int) (uint16, bool) {
		if at < 0 || at+2 > len(sub) {
			return 0, false
		}
		return binary.BigEndian.Uint16(sub[at:]), true
	}
	for i := range segs {
		end, _ := u16(ends + 2*i)
		start, _ := u16(starts + 2*i)
		delta, _ := u16(deltas + 2*i)
		ro, _ := u16(ranges + 2*i)
		for c := uint32(start); c <= uint32(end) && c < 0xffff; c++ {
			g := uint16(c) + delta
			if ro != 0 {
				v, ok := u16(ranges + 2*i + int(ro) + 2*int(c-uint32(start)))
				if !ok || v == 0 {
					continue
				}
				g = v + delta
			}
			if g != 0 {
				set.add(c)
			}
		}
	}
	return nil
}

func readFormat12(sub []byte, set *bmpSet) error {
	if len(sub) < 16 {
		return errors.New("cmap format 12 truncated")
	}
	groups := binary.BigEndian.Uint32(sub[12:])
	if uint64(groups)*12+16 > uint64(len(sub)) {
		return errors.New("cmap format 12 truncated")
	}
	for i := range int(groups) {
		g := sub[16+12*i:]
		start, end, glyph := binary.BigEndian.Uint32(g), binary.BigEndian.Uint32(g[4:]), binary.BigEndian.Uint32(g[8:])
		for c := start; c <= end && c < 1<<16; c++ {
			if glyph+(c-start) != 0 {
				set.add(c)
			}
		}
	}
	return nil
}
