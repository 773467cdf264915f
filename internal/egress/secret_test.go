package egress

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/capstream/capstream/internal/capability"
)

const (
	apiKey = "s3cr3t-api-key/v1 x" // with a slash and a space, to be escaped in URLs
	other  = "0ther-secret-value"
)

var secrets = map[string]string{"API_KEY": apiKey, "OTHER": other}

func TestDoSecrets(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string // "host X-Key" of every request the upstream saw
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Host+" "+r.Header.Get("X-Key"))
		mu.Unlock()
		w.Header().Set("X-Echo", r.Header.Get("X-Key"))
		fmt.Fprintf(w, "key=%s", r.Header.Get("X-Key"))
	})
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
	})
	port := upstream(t, mux)
	c := newClient(t, Config{Secrets: secrets})
	rules := []capability.HTTPRule{
		{URL: "http://keyed.test:" + port + "/", AllowPrivate: true, Secrets: []string{"API_KEY", "MISSING"}},
		{URL: "http://plain.test:" + port + "/", AllowPrivate: true},
		{URL: "http://gone.invalid:" + port + "/"}, // does not resolve
		{URL: "http://*.leak.test:" + port + "/"},  // resolves to a private address, not allowed
	}
	// to redirects to target; the upstream may put a secret in the Location.
	to := func(target string) string { return "/to?u=" + url.QueryEscape(target) }
	inPath := url.PathEscape(apiKey)
	tests := []struct {
		name       string
		url        string
		key        string   // X-Key header the guest sends
		wantSent   []string // "host X-Key" the upstream saw, past /to
		wantDenied string   // a word of the reason
		wantCode   string   // of an UpstreamError
	}{
		{
			name: "granted", url: "http://keyed.test:PORT/", key: "Bearer {{secret:API_KEY}}",
			wantSent: []string{"keyed.test:PORT Bearer " + apiKey},
		},
		{
			name: "two and text", url: "http://keyed.test:PORT/", key: "{{secret:API_KEY}}:{{secret:API_KEY}}",
			wantSent: []string{"keyed.test:PORT " + apiKey + ":" + apiKey},
		},
		{name: "not granted", url: "http://keyed.test:PORT/", key: "{{secret:OTHER}}", wantDenied: `"OTHER" is not granted`},
		{name: "not configured", url: "http://keyed.test:PORT/", key: "{{secret:MISSING}}", wantDenied: `"MISSING" is not configured`},
		{name: "not for this url", url: "http://plain.test:PORT/", key: "{{secret:API_KEY}}", wantDenied: `"API_KEY" is not granted`},
		{
			name: "not after a redirect elsewhere", url: "http://keyed.test:PORT" + to("http://plain.test:PORT/"),
			key: "{{secret:API_KEY}}", wantDenied: `"API_KEY" is not granted`,
		},
		{
			name: "refilled after a redirect", url: "http://keyed.test:PORT" + to("/final"), key: "{{secret:API_KEY}}",
			wantSent: []string{"keyed.test:PORT " + apiKey},
		},
		{
			name: "final url holds the secret", url: "http://keyed.test:PORT" + to("/final/"+inPath+"?k="+url.QueryEscape(apiKey)),
			wantSent: []string{"keyed.test:PORT "},
		},
		{name: "denied url holds the secret", url: "http://keyed.test:PORT" + to("http://other.test:PORT/"+inPath), wantDenied: "allowlist"},
		{name: "failed url holds the secret", url: "http://keyed.test:PORT" + to("http://gone.invalid:PORT/"+inPath), wantCode: CodeFailed},
		{name: "refused host holds the secret", url: "http://keyed.test:PORT" + to("http://"+other+".leak.test:PORT/"), wantDenied: "private address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			req := Request{URL: strings.ReplaceAll(tt.url, "PORT", port), Headers: map[string]string{"X-Key": tt.key}}
			resp, err := c.Do(t.Context(), rules, req)

			for _, s := range []string{resp.URL, resp.Body, fmt.Sprint(resp.Headers), fmt.Sprint(err)} {
				for _, v := range []string{apiKey, inPath, url.QueryEscape(apiKey), "s3cr3t", other, "0ther"} {
					if strings.Contains(s, v) {
						t.Errorf("secret leaked: %q", s)
					}
				}
			}
			if strings.Contains(resp.URL, "?") {
				t.Errorf("Response.URL %q has a query", resp.URL)
			}
			var ue *UpstreamError
			d, isDenied := denied(err)
			switch {
			case tt.wantDenied != "":
				if !isDenied || !strings.Contains(d.Reason, tt.wantDenied) {
					t.Errorf("Do: %v; want Denied for %q", err, tt.wantDenied)
				}
			case tt.wantCode != "":
				if !errors.As(err, &ue) || ue.Code != tt.wantCode {
					t.Errorf("Do: %v; want UpstreamError %s", err, tt.wantCode)
				}
			case err != nil:
				t.Errorf("Do: %v", err)
			}
			mu.Lock()
			sent := fmt.Sprint(got)
			mu.Unlock()
			if want := strings.ReplaceAll(fmt.Sprint(tt.wantSent), "PORT", port); sent != want {
				t.Errorf("upstream saw %s, want %s", sent, want)
			}
		})
	}
	t.Run("echoed value", func(t *testing.T) {
		req := Request{URL: "http://keyed.test:" + port + "/", Headers: map[string]string{"X-Key": "{{secret:API_KEY}}"}}
		resp, err := c.Do(t.Context(), rules, req)
		if err != nil || resp.Body != "key=[redacted]" || resp.Headers["X-Echo"] != "[redacted]" {
			t.Errorf("Do = %q %v, %v; want the echoed secret redacted", resp.Body, resp.Headers, err)
		}
	})
}

func TestRedact(t *testing.T) {
	c := newClient(t, Config{Secrets: secrets})
	tests := []struct {
		raw  string
		want string
	}{
		{"http://user:pass@api.test/p?token=abc#frag", "http://api.test/p"},
		{"https://api.test:8443/v1/", "https://api.test:8443/v1/"},
		{"http://api.test/" + other + "/x", "http://api.test/[redacted]/x"},
		{"http://api.test/a/s3cr3t-api-key/v1%20x/b", "http://api.test/a/[redacted]/b"},
		{"http://api.test/a/s3cr3t-api-key%2Fv1%20x/b", "http://api.test/a/[redacted]/b"},
		{"http://api.test/?" + other, "http://api.test/"},
		{"http://api.test/%zz", "[invalid url]"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if got := c.Redact(tt.raw); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

// reflector is an upstream that hands back the X-Key header it receives,
// encoded as the query asks: "enc" names one of encodings, or "base64 NAME"
// with "offset" bytes before the value and "trailing" bytes after it. It
// sends the encoded value between '<' and '>' as the body and in the X-Echo
// header, and names a header after the value as it is.
func reflector(t *testing.T) string {
	t.Helper()
	return upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, q := r.Header.Get("X-Key"), r.URL.Query()
		var out string
		if name, ok := strings.CutPrefix(q.Get("enc"), "base64 "); ok {
			offset, _ := strconv.Atoi(q.Get("offset"))
			trailing, _ := strconv.Atoi(q.Get("trailing"))
			for _, b := range base64Encodings {
				if b.name == name {
					out = b.enc.EncodeToString([]byte("@@"[:offset] + key + "!?"[:trailing]))
				}
			}
		}
		for _, e := range encodings {
			if e.name == q.Get("enc") {
				out = "<" + e.enc(key) + ">"
			}
		}
		if out == "" {
			http.Error(w, "unknown encoding", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Echo", out)
		if !strings.ContainsAny(key, " \"\\/<>(),:;=?@[]{}") && isASCII(key) {
			w.Header().Set("X-Name-"+key, "1")
		}
		io.WriteString(w, out)
	}))
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// TestDoRedactsReflections sends each secret to an upstream that reflects it
// in every encoding, and at every offset of a base64 group, and checks that
// nothing of it comes back: not in the body, not in a header value, not in a
// header name.
func TestDoRedactsReflections(t *testing.T) {
	port := reflector(t)
	values := map[string]string{"API_KEY": apiKey, "OTHER": other, "TRICKY": tricky}
	c := newClient(t, Config{Secrets: values})
	rules := []capability.HTTPRule{{URL: "http://echo.test:" + port + "/", AllowPrivate: true, Secrets: []string{"API_KEY", "OTHER", "TRICKY"}}}
	do := func(t *testing.T, name string, query url.Values) Response {
		t.Helper()
		req := Request{URL: "http://echo.test:" + port + "/?" + query.Encode(), Headers: map[string]string{"X-Key": "{{secret:" + name + "}}"}}
		resp, err := c.Do(t.Context(), rules, req)
		if err != nil || resp.Status != http.StatusOK {
			t.Fatalf("Do = %d %q, %v", resp.Status, resp.Body, err)
		}
		for k := range resp.Headers {
			if strings.HasPrefix(k, "X-Name-") && k != "X-Name-[redacted]" {
				t.Errorf("header name %q holds the secret", k)
			}
		}
		return resp
	}
	for name, v := range values {
		for _, e := range encodings {
			t.Run(e.name+"/"+name, func(t *testing.T) {
				resp := do(t, name, url.Values{"enc": {e.name}})
				if resp.Body != "<[redacted]>" || resp.Headers["X-Echo"] != "<[redacted]>" {
					t.Errorf("upstream sent %q; Do = body %q, X-Echo %q; want <[redacted]>", "<"+e.enc(v)+">", resp.Body, resp.Headers["X-Echo"])
				}
			})
		}
		for _, b := range base64Encodings {
			for offset := range 3 {
				for trailing := range 3 {
					t.Run(fmt.Sprintf("base64 %s offset %d trailing %d/%s", b.name, offset, trailing, name), func(t *testing.T) {
						q := url.Values{"enc": {"base64 " + b.name}, "offset": {strconv.Itoa(offset)}, "trailing": {strconv.Itoa(trailing)}}
						resp := do(t, name, q)
						before, after := "@@"[:offset], "!?"[:trailing]
						for _, got := range []string{resp.Body, resp.Headers["X-Echo"]} {
							if err := base64Survivors(b.enc, before, v, after, got); err != nil {
								t.Error(err)
							}
						}
					})
				}
			}
		}
	}
}

// TestDoNeverCutsASecret checks what a guest can learn where a response is
// cut: the client never cuts a body (a larger one is an error that holds
// nothing of it), and it redacts an error message whole, so a cut of it made
// later, as an event's size cap does, leaves no start of a secret.
func TestDoNeverCutsASecret(t *testing.T) {
	const maxBody = 64
	mux := http.NewServeMux()
	// /pad/{n} reflects the secret after n bytes of padding.
	mux.HandleFunc("/pad/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		io.WriteString(w, strings.Repeat(".", n)+r.Header.Get("X-Key"))
	})
	port := upstream(t, mux)
	c := newClient(t, Config{Secrets: map[string]string{"TRICKY": tricky}, MaxBodyBytes: maxBody})
	rules := []capability.HTTPRule{{URL: "*", AllowPrivate: true, Secrets: []string{"TRICKY"}}}
	headers := map[string]string{"X-Key": "{{secret:TRICKY}}"}
	for n := maxBody - len(tricky) - 2; n <= maxBody; n++ {
		t.Run(fmt.Sprintf("body of %d bytes", n+len(tricky)), func(t *testing.T) {
			resp, err := c.Do(t.Context(), rules, Request{URL: fmt.Sprintf("http://up.test:%s/pad/%d", port, n), Headers: headers})
			if n+len(tricky) <= maxBody {
				if want := strings.Repeat(".", n) + "[redacted]"; err != nil || resp.Body != want {
					t.Fatalf("Do = %q, %v; want %q", resp.Body, err, want)
				}
				return
			}
			var ue *UpstreamError
			if !errors.As(err, &ue) || ue.Code != CodeTooLarge || resp.Body != "" {
				t.Fatalf("Do = %q, %v; want UpstreamError too_large and no body", resp.Body, err)
			}
			assertNoPieceOf(t, err.Error(), tricky)
		})
	}

	// An upstream whose header line is malformed: net/http quotes the line,
	// with the secret Go-escaped, in its error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if req, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
				fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nno colon, just %s\r\n\r\n", req.Header.Get("X-Key"))
			}
			conn.Close()
		}
	}()
	_, badPort, _ := net.SplitHostPort(ln.Addr().String())
	_, err = c.Do(t.Context(), rules, Request{URL: "http://bad.test:" + badPort + "/", Headers: headers})
	var ue *UpstreamError
	if !errors.As(err, &ue) || ue.Code != CodeFailed || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("Do: %v; want UpstreamError failed with the reflected secret redacted", err)
	}
	msg := err.Error()
	for cut := range len(msg) + 1 {
		assertNoPieceOf(t, msg[:cut], tricky)
	}
}

// assertNoPieceOf fails if s holds 4 bytes in a row of secret, as it is or
// Go-escaped.
func assertNoPieceOf(t *testing.T, s, secret string) {
	t.Helper()
	q := strconv.Quote(secret)
	for _, form := range []string{secret, q[1 : len(q)-1]} {
		for i := 0; i+4 <= len(form); i++ {
			if strings.Contains(s, form[i:i+4]) {
				t.Fatalf("%q holds %q, a piece of the secret", s, form[i:i+4])
			}
		}
	}
}

// TestDoRedactsOnlyWholeValues checks that the start of a secret is not
// redacted where a text ends: if it were, a guest could learn a secret a
// byte at a time, by having a reflecting upstream echo its guesses.
func TestDoRedactsOnlyWholeValues(t *testing.T) {
	port := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) }))
	c := newClient(t, Config{Secrets: secrets})
	rules := []capability.HTTPRule{{URL: "*", Methods: []string{"POST"}, AllowPrivate: true}}
	for _, guess := range []string{apiKey[:1], apiKey[:len(apiKey)/2], apiKey[:len(apiKey)-1], apiKey} {
		resp, err := c.Do(t.Context(), rules, Request{Method: "POST", URL: "http://up.test:" + port + "/", Body: "guess: " + guess})
		want := "guess: " + guess
		if guess == apiKey {
			want = "guess: [redacted]"
		}
		if err != nil || resp.Body != want {
			t.Errorf("Do = %q, %v; want %q", resp.Body, err, want)
		}
	}
}
