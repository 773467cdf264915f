package egress

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// tricky is a secret value with characters that every encoding changes, and
// an escape of its own ("%41") that must not be decoded when it is sent as
// it is.
const tricky = `k3y"\wörd&<+>/ 100%41='`

// encodings are the ways a reflecting upstream hands a value back, by name.
var encodings = []struct {
	name string
	enc  func(string) string
}{
	{"raw", func(s string) string { return s }},
	{"query escape", url.QueryEscape},
	{"path escape", url.PathEscape},
	{"query escape lower hex", func(s string) string { return lowerEscapes(url.QueryEscape(s)) }},
	{"every byte escaped", func(s string) string {
		var b strings.Builder
		for i := range len(s) {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
		return b.String()
	}},
	{"every byte escaped lower hex", func(s string) string {
		var b strings.Builder
		for i := range len(s) {
			fmt.Fprintf(&b, "%%%02x", s[i])
		}
		return b.String()
	}},
	{"json", func(s string) string { b, _ := json.Marshal(s); return string(b[1 : len(b)-1]) }},
	{"json ascii with escaped slashes", jsonASCII},
	{"go quoted", func(s string) string { q := strconv.Quote(s); return q[1 : len(q)-1] }},
	{"go quoted ascii", func(s string) string { q := strconv.QuoteToASCII(s); return q[1 : len(q)-1] }},
	{"html", html.EscapeString},
	{"html numeric", func(s string) string {
		var b strings.Builder
		for _, r := range s {
			fmt.Fprintf(&b, "&#%d;", r)
		}
		return b.String()
	}},
	{"html hex", func(s string) string {
		var b strings.Builder
		for _, r := range s {
			fmt.Fprintf(&b, "&#x%X;", r)
		}
		return b.String()
	}},
	{"json of a query escape", func(s string) string { b, _ := json.Marshal(url.QueryEscape(s)); return string(b[1 : len(b)-1]) }},
	{"hex", func(s string) string { return hex.EncodeToString([]byte(s)) }},
	{"hex upper", func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) }},
}

// lowerEscapes lower-cases the hex digits of every %XX in s.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = strings.ToLower(string(b[i+1]))[0], strings.ToLower(string(b[i+2]))[0]
		}
	}
	return string(b)
}

// jsonASCII escapes s as PHP's json_encode does: "/" as "\/" and every
// non-ASCII character as \uXXXX, in lower-case hex.
func jsonASCII(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '/':
			b.WriteString(`\` + string(r))
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, hi, lo)
		case r > 0x7e:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// base64Encodings are the four base64 variants.
var base64Encodings = []struct {
	name string
	enc  *base64.Encoding
}{
	{"std", base64.StdEncoding},
	{"url", base64.URLEncoding},
	{"raw std", base64.RawStdEncoding},
	{"raw url", base64.RawURLEncoding},
}

// base64Survivors reports whether redacted, the redaction of the base64 of
// before+secret+after, keeps exactly the characters made of before's and
// after's bits alone: all of them, and none that holds a bit of the secret.
func base64Survivors(enc *base64.Encoding, before, secret, after, redacted string) error {
	full := enc.EncodeToString([]byte(before + secret + after))
	head := 8 * len(before) / 6                           // characters wholly before the secret
	tail := len(full) - (8*(len(before)+len(secret))+5)/6 // characters wholly after it, padding included
	want := full[:head] + "[redacted]" + full[len(full)-tail:]
	if redacted != want {
		return fmt.Errorf("redacted %q to %q, want %q", full, redacted, want)
	}
	return nil
}

func TestRedactorForms(t *testing.T) {
	values := []string{apiKey, other, tricky, "fünf!"} // lengths 19, 18, 26 and 6: every length mod 3
	r := newRedactor(values, false)
	for _, v := range values {
		for _, e := range encodings {
			t.Run(fmt.Sprintf("%s/%s", e.name, v), func(t *testing.T) {
				in := "<" + e.enc(v) + ">"
				if got := r.Redact(in); got != "<[redacted]>" {
					t.Errorf("Redact(%q) = %q, want <[redacted]>", in, got)
				}
			})
		}
		for _, b := range base64Encodings {
			for offset := range 3 {
				for trailing := range 3 {
					before, after := "@@"[:offset], "!?"[:trailing]
					t.Run(fmt.Sprintf("base64 %s offset %d trailing %d/%s", b.name, offset, trailing, v), func(t *testing.T) {
						in := b.enc.EncodeToString([]byte(before + v + after))
						if err := base64Survivors(b.enc, before, v, after, r.Redact(in)); err != nil {
							t.Error(err)
						}
						// The same, escaped for a query string.
						if got, want := r.Redact(url.QueryEscape(in)), url.QueryEscape(r.Redact(in)); got != strings.ReplaceAll(want, "%5Bredacted%5D", "[redacted]") {
							t.Errorf("Redact(%q) = %q, want %q", url.QueryEscape(in), got, want)
						}
					})
				}
			}
		}
	}
}

func TestRedactorKeeps(t *testing.T) {
	r := newRedactor([]string{apiKey, "abcd"}, false)
	tests := []struct {
		name, in, want string
	}{
		{"no secret", "hello, world", "hello, world"},
		{"start of a secret", apiKey[:len(apiKey)-1], apiKey[:len(apiKey)-1]},
		{"end of a secret", apiKey[1:], apiKey[1:]},
		{"start of a secret escaped", url.QueryEscape(apiKey[:len(apiKey)-1]), url.QueryEscape(apiKey[:len(apiKey)-1])},
		{"start of a secret at the end", "text " + apiKey[:10], "text " + apiKey[:10]},
		{"two secrets", apiKey + apiKey, "[redacted][redacted]"},
		{"overlapping forms", apiKey + url.PathEscape(apiKey), "[redacted][redacted]"},
		{"short value", "xabcdx", "x[redacted]x"},
		{"short value not in hex", hex.EncodeToString([]byte("abcd")), hex.EncodeToString([]byte("abcd"))},
		{"short value not in base64", base64.StdEncoding.EncodeToString([]byte("abcd")), base64.StdEncoding.EncodeToString([]byte("abcd"))},
		{"broken escapes", `%zz \q &nope; &#; &#x110000; \ud800 %`, `%zz \q &nope; &#; &#x110000; \ud800 %`},
		{"plus for a space", strings.ReplaceAll(apiKey, " ", "+"), "[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if got := (*redactor)(nil).Redact(apiKey); got != apiKey {
		t.Errorf("a nil redactor changed %q to %q", apiKey, got)
	}
}

func BenchmarkRedact(b *testing.B) {
	r := newRedactor([]string{apiKey, other, tricky}, false)
	body := strings.Repeat(`{"id":12345,"name":"a/b c","data":"aGVsbG8gd29ybGQ=","url":"https%3A%2F%2Fx"}`, 1<<20/80)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r.Redact(body)
	}
}

// TestRedactorAnyCase checks the redactor of header names, which HTTP
// rewrites in another case: "X-Key-abc" arrives as "X-Key-Abc".
func TestRedactorAnyCase(t *testing.T) {
	r := newRedactor([]string{other, apiKey}, true)
	b64 := base64.RawStdEncoding.EncodeToString([]byte(other))
	tests := []struct{ in, want string }{
		{"X-Name-0ther-Secret-Value", "X-Name-[redacted]"},
		{"X-Name-0THER-SECRET-VALUE", "X-Name-[redacted]"},
		{"X-B64-" + strings.ToLower(b64), "X-B64-[redacted]"},
		{"X-Hex-" + strings.ToUpper(hex.EncodeToString([]byte(other))), "X-Hex-[redacted]"},
		{"X-Other-Value", "X-Other-Value"},
	}
	for _, tt := range tests {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzRedact checks that the redactor survives any text, and that a value
// put into a text, in any of the encodings, comes out redacted and nowhere as
// it is.
func FuzzRedact(f *testing.F) {
	f.Add(apiKey, "before ", " after", uint8(0))
	f.Add(tricky, `{"k":"`, `"}`, uint8(6))
	f.Add("%41%41%41", "%4", "1", uint8(1))
	f.Add(`\u00`, `\ud83d\ude00\u`, `&#x`, uint8(9))
	f.Add("fünf!", "@", "&#1114112;", uint8(20))
	f.Fuzz(func(t *testing.T, value, before, after string, how uint8) {
		if checkSecret("FUZZ", value) != nil {
			return
		}
		r := newRedactor([]string{value}, how&0x80 != 0)
		enc, short := value, len(value) < minEncoded
		if i := int(how&0x7f) % (len(encodings) + 3); i < len(encodings) && !(short && strings.HasPrefix(encodings[i].name, "hex")) {
			enc = encodings[i].enc(value)
		} else if i >= len(encodings) && !short {
			offset := i - len(encodings)
			enc = base64.StdEncoding.EncodeToString([]byte("@@"[:offset] + value))
		}
		in := before + enc + after
		out := r.Redact(in)
		if !strings.Contains(out, "[redacted]") {
			t.Fatalf("Redact(%q) = %q, with no [redacted]", in, out)
		}
		if !strings.ContainsAny(value, "[redacted]") && strings.Contains(out, value) {
			t.Fatalf("Redact(%q) = %q, which holds %q", in, out, value)
		}
		r.Redact(before + after) // any text, no panic
	})
}
