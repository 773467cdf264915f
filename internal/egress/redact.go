package egress

import (
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// minEncoded is the length in bytes from which a secret value is looked for
// in hex and base64 too. Shorter values would give runs of so few characters
// that they would turn up by chance in any long hex or base64 text.
const minEncoded = 5

// redactor finds secret values in text an upstream sends back. It finds a
// value in the forms a reflecting upstream produces:
//
//   - as it is;
//   - escaped a character at a time, as URLs escape (%XX in either case, '+'
//     for a space), as JSON and Go or C string literals do (\" \\ \/ \n
//     \uXXXX, surrogate pairs, \UXXXXXXXX, \xXX), or as HTML does (&amp;
//     &#NN; &#xHH;). Any character may be escaped or not, as encoders differ
//     in what they leave alone; but the escapes of one value are of one
//     kind, as one encoder's are, so the value's own "%41" is not read as
//     "A" in JSON;
//   - for values of minEncoded bytes or more, as hex in either case and as
//     base64 in either alphabet, with or without padding, wherever the value
//     starts in a 3-byte group. The run of base64 characters that depends on
//     the value alone is found, and with it the partial character on either
//     side that holds some of its bits, so no character that carries a bit of
//     the value is left. The base64 characters may themselves be escaped.
//
// It matches whole values only, never a part: redacting a part (say the
// start of a value where a text ends) would tell a guest that reflects its
// own guesses through the upstream whether a guess is the start of a secret.
//
// A redactor is immutable and safe for concurrent use.
type redactor struct {
	forms []form
	// starts lists, for each byte, the forms whose value may start with it
	// in a text: its first byte, in another case or alphabet, or '+' for a
	// space.
	starts [256][]int
}

// form is one way a secret value can appear: bytes to find after decoding
// escapes, and how loosely to compare them.
type form struct {
	value string
	fold  fold
	// lead and trail are the base64 characters just before and after value
	// that hold some bits of the secret, when there are any.
	lead, trail edge
}

// fold is how loosely a form compares bytes: a set of the flags below.
type fold uint8

const (
	exact      fold = 0
	foldCase   fold = 1 << iota // ASCII letters in either case: hex, header names
	foldBase64                  // '+' and '-', '/' and '_' alike: both base64 alphabets
)

// edge is a base64 character whose bits under mask must equal bits.
type edge struct{ mask, bits byte }

// newRedactor returns a redactor of values, or nil if there are none. With
// anyCase it matches ASCII letters in either case, as in header names, which
// HTTP compares and rewrites without regard to case.
func newRedactor(values []string, anyCase bool) *redactor {
	if len(values) == 0 {
		return nil
	}
	r := &redactor{}
	for _, v := range values {
		r.forms = append(r.forms, form{value: v})
		if len(v) < minEncoded {
			continue
		}
		r.forms = append(r.forms, form{value: hex.EncodeToString([]byte(v)), fold: foldCase})
		for offset := range 3 {
			r.forms = append(r.forms, base64Form(v, offset))
		}
	}
	if anyCase {
		for i := range r.forms {
			r.forms[i].fold |= foldCase
		}
	}
	for i, f := range r.forms {
		for _, b := range f.startBytes() {
			if !slices.Contains(r.starts[b], i) {
				r.starts[b] = append(r.starts[b], i)
			}
		}
	}
	return r
}

// base64Form returns the form of v in base64 when v starts offset bytes into
// a 3-byte group: the characters made of v's bits alone, and the partial
// characters on either side.
func base64Form(v string, offset int) form {
	enc := base64.StdEncoding.EncodeToString(append(make([]byte, offset), v...))
	startBit, endBit := 8*offset, 8*(offset+len(v))
	first, end := (startBit+5)/6, endBit/6 // the characters that lie wholly within v's bits
	f := form{value: enc[first:end], fold: foldBase64}
	if n := 6*first - startBit; n > 0 { // v's first n bits are the low bits of the character before
		mask := byte(1)<<n - 1
		f.lead = edge{mask: mask, bits: base64Value(enc[first-1]) & mask}
	}
	if n := endBit - 6*end; n > 0 { // v's last n bits are the high bits of the character after
		mask := (byte(1)<<n - 1) << (6 - n)
		f.trail = edge{mask: mask, bits: base64Value(enc[end]) & mask}
	}
	return f
}

// base64Value returns the value of a character of either base64 alphabet, or
// 0xff.
func base64Value(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '+' || c == '-':
		return 62
	case c == '/' || c == '_':
		return 63
	}
	return 0xff
}

// matches reports whether c is a base64 character that may hold the bits of
// e, in either case with anyCase.
func (e edge) matches(c byte, anyCase bool) bool {
	if e.mask == 0 {
		return false
	}
	if v := base64Value(c); v != 0xff && v&e.mask == e.bits {
		return true
	}
	if v := base64Value(c ^ 0x20); anyCase && isLetter(c) && v&e.mask == e.bits {
		return true
	}
	return false
}

func isLetter(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z'
}

// startBytes returns the bytes that stand for the first byte of f's value
// as they are.
func (f *form) startBytes() []byte {
	c := f.value[0]
	out := []byte{c}
	switch {
	case c == ' ':
		out = append(out, '+')
	case f.fold&foldCase != 0 && isLetter(c):
		out = append(out, c^0x20)
	case f.fold&foldBase64 != 0 && (c == '+' || c == '-'):
		out = append(out, '+', '-')
	case f.fold&foldBase64 != 0 && (c == '/' || c == '_'):
		out = append(out, '/', '_')
	}
	return out
}

// same reports whether text byte t, decoded from the text, stands for byte v
// of f's value; plus is whether t was a literal '+', which may be a space.
func (f *form) same(t, v byte, plus bool) bool {
	switch {
	case t == v, plus && v == ' ':
		return true
	case f.fold&foldCase != 0 && t|0x20 == v|0x20 && isLetter(t):
		return true
	case f.fold&foldBase64 != 0 && (v == '+' || v == '/' || v == '-' || v == '_'):
		return base64Value(t) == base64Value(v)
	}
	return false
}

// escaping is a kind of escapes: the byte that starts them.
type escaping byte

const (
	urlEscapes       escaping = '%'
	backslashEscapes escaping = '\\'
	htmlEscapes      escaping = '&'
)

// match returns the end of the run of s at p that is f, as it is or with
// escapes of one kind, or -1.
func (f *form) match(s string, p int) (end int, kind escaping) {
	// Most runs differ from the value before any escape: compare them as
	// they are first, and decode only where an escape could change that.
	k, escaped := 0, false
	for ; k < len(f.value) && p+k < len(s); k++ {
		c := s[p+k]
		if !f.same(c, f.value[k], false) {
			break
		}
		escaped = escaped || isEscapeStart(c)
	}
	switch {
	case k == len(f.value):
		return p + k, 0 // as it is, escape characters and all
	case p+k == len(s), !escaped && !isEscapeStart(s[p+k]):
		return -1, 0
	}
	for _, kind := range [...]escaping{urlEscapes, backslashEscapes, htmlEscapes} {
		if end := f.matchEscaped(s, p, kind); end >= 0 {
			return end, kind
		}
	}
	return -1, 0
}

func (f *form) matchEscaped(s string, p int, kind escaping) int {
	for i := 0; i < len(f.value); {
		b, m, n := decodeUnit(s, p, kind)
		if n == 0 || i+m > len(f.value) {
			return -1
		}
		plus := kind == urlEscapes && n == 1 && s[p] == '+'
		for j := range m {
			if !f.same(b[j], f.value[i+j], plus) {
				return -1
			}
		}
		i, p = i+m, p+n
	}
	return p
}

func isEscapeStart(c byte) bool {
	return c == '%' || c == '\\' || c == '&' || c == '+'
}

// decodeUnit decodes the character or escape of the given kind at s[p]: it
// returns the bytes it stands for, b[:m], and its length in s, n; n is 0 at
// the end of s. An escape that is not well formed is a literal character.
func decodeUnit(s string, p int, kind escaping) (b [utf8.UTFMax]byte, m, n int) {
	if p >= len(s) {
		return b, 0, 0
	}
	switch {
	case s[p] != byte(kind):
	case kind == urlEscapes:
		if v, ok := hexByte(s, p+1); ok {
			b[0] = v
			return b, 1, 3
		}
	case kind == backslashEscapes:
		if m, n := backslashEscape(&b, s, p); n > 0 {
			return b, m, n
		}
	case kind == htmlEscapes:
		if m, n := htmlReference(&b, s, p); n > 0 {
			return b, m, n
		}
	}
	b[0] = s[p]
	return b, 1, 1
}

// backslashEscape decodes a JSON or Go string escape at s[p], which is '\'.
func backslashEscape(b *[utf8.UTFMax]byte, s string, p int) (m, n int) {
	if p+1 >= len(s) {
		return 0, 0
	}
	if c := s[p+1]; strings.IndexByte(`"\/'`, c) >= 0 {
		b[0] = c
		return 1, 2
	}
	if i := strings.IndexByte("btnfr", s[p+1]); i >= 0 {
		b[0] = "\b\t\n\f\r"[i]
		return 1, 2
	}
	switch s[p+1] {
	case 'x':
		if v, ok := hexByte(s, p+2); ok {
			b[0] = v
			return 1, 4
		}
	case 'U': // Go and Python, for runes past U+FFFF
		hi, ok1 := hexRune(s, p+2)
		lo, ok2 := hexRune(s, p+6)
		if r := hi<<16 | lo; ok1 && ok2 && utf8.ValidRune(r) {
			return utf8.EncodeRune(b[:], r), 10
		}
	case 'u':
		r, ok := hexRune(s, p+2)
		if !ok {
			return 0, 0
		}
		n = 6
		if utf16.IsSurrogate(r) {
			lo, ok := hexRune(s, p+8)
			if !ok || !strings.HasPrefix(s[p+6:], `\u`) {
				return 0, 0
			}
			if r = utf16.DecodeRune(r, lo); r == utf8.RuneError {
				return 0, 0
			}
			n = 12
		}
		return utf8.EncodeRune(b[:], r), n
	}
	return 0, 0
}

// htmlReference decodes an HTML character reference at s[p], which is '&':
// one of the five that HTML escapers write, or a numeric one.
func htmlReference(b *[utf8.UTFMax]byte, s string, p int) (m, n int) {
	rest := s[p+1:]
	for _, e := range [...]struct {
		name string
		c    byte
	}{{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}} {
		if strings.HasPrefix(rest, e.name) {
			b[0] = e.c
			return 1, 1 + len(e.name)
		}
	}
	digits, base := rest, 10
	switch {
	case strings.HasPrefix(rest, "#x"), strings.HasPrefix(rest, "#X"):
		digits, base = rest[2:], 16
	case strings.HasPrefix(rest, "#"):
		digits = rest[1:]
	default:
		return 0, 0
	}
	var r rune
	i := 0
	for ; i < len(digits) && i < 8; i++ { // 8 digits hold every rune, and overflow none
		d := digitValue(digits[i])
		if d < 0 || d >= base {
			break
		}
		r = r*rune(base) + rune(d)
	}
	if i == 0 || i == len(digits) || digits[i] != ';' || !utf8.ValidRune(r) {
		return 0, 0
	}
	return utf8.EncodeRune(b[:], r), len(s[p:]) - len(digits) + i + 1
}

func digitValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// hexByte decodes the two hex digits at s[p].
func hexByte(s string, p int) (byte, bool) {
	if p+2 > len(s) {
		return 0, false
	}
	hi, lo := digitValue(s[p]), digitValue(s[p+1])
	if hi < 0 || lo < 0 {
		return 0, false
	}
	return byte(hi<<4 | lo), true
}

// hexRune decodes the four hex digits at s[p].
func hexRune(s string, p int) (rune, bool) {
	hi, ok1 := hexByte(s, p)
	lo, ok2 := hexByte(s, p+2)
	return rune(hi)<<8 | rune(lo), ok1 && ok2
}

// unitBefore returns the byte that the character or escape of the given kind
// ending at s[p] stands for, and its length; 0 if there is none. Of the
// escapes of base64 characters it knows %XX and \/.
func unitBefore(s string, p int, kind escaping) (byte, int) {
	switch {
	case kind == urlEscapes && p >= 3 && s[p-3] == '%':
		if v, ok := hexByte(s, p-2); ok {
			return v, 3
		}
	case kind == backslashEscapes && p >= 2 && s[p-2] == '\\' && s[p-1] == '/':
		return '/', 2
	}
	if p >= 1 {
		return s[p-1], 1
	}
	return 0, 0
}

// Redact returns s with every run that is a secret value, in any of the
// forms of r, replaced by "[redacted]". Overlapping runs are replaced as one.
func (r *redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	type span struct{ start, end int }
	var spans []span
	add := func(f *form, start, end int, kind escaping) {
		anyCase := f.fold&foldCase != 0
		if c, n := unitBefore(s, start, kind); n > 0 && f.lead.matches(c, anyCase) {
			start -= n
		}
		if b, m, n := decodeUnit(s, end, kind); m == 1 && f.trail.matches(b[0], anyCase) {
			end += n
		}
		spans = append(spans, span{start, end})
	}
	for p := 0; p < len(s); p++ {
		// Runs that start with a character as it is.
		for _, i := range r.starts[s[p]] {
			if end, kind := r.forms[i].match(s, p); end >= 0 {
				add(&r.forms[i], p, end, kind)
			}
		}
		// Runs that start with an escape: decoded once, for the forms
		// whose value starts with what it stands for.
		kind := escaping(s[p])
		if kind != urlEscapes && kind != backslashEscapes && kind != htmlEscapes {
			continue
		}
		if b, _, n := decodeUnit(s, p, kind); n > 1 {
			for _, i := range r.starts[b[0]] {
				if end := r.forms[i].matchEscaped(s, p, kind); end >= 0 {
					add(&r.forms[i], p, end, kind)
				}
			}
		}
	}
	if spans == nil {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var out strings.Builder
	last := 0
	for i := 0; i < len(spans); {
		start, end := spans[i].start, spans[i].end
		for i++; i < len(spans) && spans[i].start < end; i++ {
			end = max(end, spans[i].end)
		}
		out.WriteString(s[last:max(start, last)])
		out.WriteString(redacted)
		last = end
	}
	out.WriteString(s[last:])
	return out.String()
}
