package egress

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			req := Request{URL: strings.ReplaceAll(tt.url, "PORT", port), Headers: map[string]string{"X-Key": tt.key}}
			resp, err := c.Do(t.Context(), rules, req)

			for _, s := range []string{resp.URL, resp.Body, fmt.Sprint(resp.Headers), fmt.Sprint(err)} {
				for _, v := range []string{apiKey, inPath, url.QueryEscape(apiKey), "s3cr3t"} {
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
