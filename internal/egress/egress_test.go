package egress

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/capability"
)

// upstream starts a loopback server for h and returns its port.
func upstream(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// resolver maps names to comma-separated addresses and counts lookups; any
// other name ending in ".test" is 127.0.0.1, the rest do not resolve.
type resolver struct {
	names   map[string]string
	lookups atomic.Int64
}

func (r *resolver) resolve(_ context.Context, host string) ([]netip.Addr, error) {
	r.lookups.Add(1)
	s, ok := r.names[host]
	if !ok && strings.HasSuffix(host, ".test") {
		s, ok = "127.0.0.1", true
	}
	if !ok {
		return nil, fmt.Errorf("no such host %s", host)
	}
	var ips []netip.Addr
	for a := range strings.SplitSeq(s, ",") {
		ips = append(ips, netip.MustParseAddr(a))
	}
	return ips, nil
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Resolver == nil {
		cfg.Resolver = (&resolver{}).resolve
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// echo answers with the method and request URI it received.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
})

func denied(err error) (*Denied, bool) {
	var d *Denied
	return d, errors.As(err, &d)
}

func TestDoAllowlist(t *testing.T) {
	port := upstream(t, echo)
	c := newClient(t, Config{})
	rules := []capability.HTTPRule{
		{URL: "http://api.test:" + port + "/allowed/", Methods: []string{"GET", "POST"}, AllowPrivate: true},
		{URL: "http://*.sub.test:" + port + "/", AllowPrivate: true},
	}
	tests := []struct {
		name   string
		method string
		url    string
		want   string // body the upstream saw; empty: Denied
	}{
		{name: "allowed", url: "http://api.test:PORT/allowed/x?q=1", want: "GET /allowed/x?q=1"},
		{name: "host case", url: "http://API.Test:PORT/allowed/x", want: "GET /allowed/x"},
		{name: "sent normalized", url: "http://api.test:PORT/allowed/./a/../b", want: "GET /allowed/b"},
		{name: "lower-case method", method: "post", url: "http://api.test:PORT/allowed/x", want: "POST /allowed/x"},
		{name: "dot dot", url: "http://api.test:PORT/allowed/../secret"},
		{name: "encoded dot dot", url: "http://api.test:PORT/allowed/%2e%2e/secret"},
		{name: "dot dot with parameter", url: "http://api.test:PORT/allowed/..;/secret"},
		{name: "not a whole segment", url: "http://api.test:PORT/allowedx"},
		{name: "method", method: "DELETE", url: "http://api.test:PORT/allowed/x"},
		{name: "scheme", url: "https://api.test:PORT/allowed/x"},
		{name: "port", url: "http://api.test:1/allowed/x"},
		{name: "host", url: "http://evil.test:PORT/allowed/x"},
		{name: "user info", url: "http://api.test:PORT@evil.test:PORT/allowed/x"},
		{name: "subdomain", url: "http://a.sub.test:PORT/y", want: "GET /y"},
		{name: "deeper subdomain", url: "http://a.b.sub.test:PORT/y", want: "GET /y"},
		{name: "wildcard parent", url: "http://sub.test:PORT/y"},
		{name: "connect", method: "CONNECT", url: "http://a.sub.test:PORT/"},
		{name: "not http", url: "file:///etc/passwd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Method: tt.method, URL: strings.ReplaceAll(tt.url, "PORT", port)}
			resp, err := c.Do(t.Context(), rules, req)
			if tt.want == "" {
				if d, ok := denied(err); !ok || d.Reason == "" {
					t.Fatalf("Do(%s) = %q, %v; want Denied with a reason", req.URL, resp.Body, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do(%s): %v", req.URL, err)
			}
			if resp.Status != http.StatusOK || resp.Body != tt.want {
				t.Errorf("Do(%s) = %d %q, want 200 %q", req.URL, resp.Status, resp.Body, tt.want)
			}
		})
	}
}

func TestDoPrivateAddresses(t *testing.T) {
	port := upstream(t, echo)
	r := &resolver{names: map[string]string{
		"mixed.test":     "8.8.8.8,127.0.0.1",
		"meta.test":      "169.254.169.254",
		"mapped.test":    "::ffff:10.0.0.1",
		"six.test":       "::1",
		"nat64.test":     "64:ff9b::7f00:1",
		"nat64meta.test": "64:ff9b::a9fe:a9fe",
		"6to4.test":      "2002:7f00:1::1",
		"compat.test":    "::127.0.0.1",
		"bench.test":     "198.18.0.1",
		"ietf.test":      "192.0.0.1",
		"reserved.test":  "240.0.0.1",
		"doc.test":       "2001:db8::1",
		"teredo.test":    "2001::1",
	}}
	c := newClient(t, Config{Resolver: r.resolve})
	tests := []struct {
		url          string
		allowPrivate bool
		wantOK       bool
	}{
		{url: "http://loop.test:PORT/", wantOK: false},
		{url: "http://loop.test:PORT/", allowPrivate: true, wantOK: true},
		{url: "http://127.0.0.1:PORT/", wantOK: false},
		{url: "http://127.0.0.1:PORT/", allowPrivate: true, wantOK: true},
		{url: "http://169.254.169.254/latest/meta-data/", wantOK: false},
		{url: "http://[::1]:PORT/", wantOK: false},
		{url: "http://[::ffff:127.0.0.1]:PORT/", wantOK: false},
		{url: "http://meta.test/", wantOK: false},
		{url: "http://mixed.test:PORT/", wantOK: false},
		{url: "http://mapped.test:PORT/", wantOK: false},
		{url: "http://six.test:PORT/", wantOK: false},
		{url: "http://nat64.test:PORT/", wantOK: false},
		{url: "http://nat64meta.test/", wantOK: false},
		{url: "http://[64:ff9b::7f00:1]:PORT/", wantOK: false},
		{url: "http://[64:ff9b::127.0.0.1]:PORT/", wantOK: false},
		{url: "http://6to4.test:PORT/", wantOK: false},
		{url: "http://compat.test:PORT/", wantOK: false},
		{url: "http://[::127.0.0.1]:PORT/", wantOK: false},
		{url: "http://bench.test:PORT/", wantOK: false},
		{url: "http://ietf.test:PORT/", wantOK: false},
		{url: "http://reserved.test:PORT/", wantOK: false},
		{url: "http://255.255.255.255:PORT/", wantOK: false},
		{url: "http://doc.test:PORT/", wantOK: false},
		{url: "http://teredo.test:PORT/", wantOK: false},
	}
	for _, tt := range tests {
		u := strings.ReplaceAll(tt.url, "PORT", port)
		t.Run(fmt.Sprintf("%s private=%v", u, tt.allowPrivate), func(t *testing.T) {
			rules := []capability.HTTPRule{{URL: "*", AllowPrivate: tt.allowPrivate}}
			resp, err := c.Do(t.Context(), rules, Request{URL: u})
			if !tt.wantOK {
				d, ok := denied(err)
				if !ok || !strings.Contains(d.Reason, "private address") {
					t.Fatalf("Do = %d, %v; want Denied for a private address", resp.Status, err)
				}
				return
			}
			if err != nil || resp.Status != http.StatusOK {
				t.Fatalf("Do = %d, %v; want 200", resp.Status, err)
			}
		})
	}
}

// TestDialRefusesBeforeConnecting checks the dialer itself: a name that
// resolves to a NAT64 address of a private IPv4 is refused before any
// connection is attempted, and one of a public IPv4 is dialed at the NAT64
// address it resolved to.
func TestDialRefusesBeforeConnecting(t *testing.T) {
	r := &resolver{names: map[string]string{
		"nat64.test":     "64:ff9b::7f00:1",
		"public64.test":  "64:ff9b::808:808",
		"private64.test": "2606:4700::1111,64:ff9b::a00:1",
	}}
	var attempts []string
	d := &dialer{resolve: r.resolve, timeout: time.Minute}
	d.base.Control = func(_, address string, _ syscall.RawConn) error {
		attempts = append(attempts, address)
		return errors.New("test: no connection leaves the machine")
	}
	for _, host := range []string{"nat64.test", "private64.test", "[64:ff9b::7f00:1]"} {
		conn, err := d.DialContext(t.Context(), "tcp", host+":80")
		if conn != nil {
			conn.Close()
		}
		if d, ok := denied(err); !ok || !strings.Contains(d.Reason, "private address") {
			t.Errorf("dialing %s: %v; want Denied for a private address", host, err)
		}
	}
	if len(attempts) != 0 {
		t.Fatalf("refused hosts were dialed: %v", attempts)
	}
	if _, err := d.DialContext(t.Context(), "tcp", "public64.test:80"); err == nil || strings.Contains(err.Error(), "private") {
		t.Fatalf("dialing public64.test: %v; want the test's connection error", err)
	}
	if want := []string{"[64:ff9b::808:808]:80"}; !slices.Equal(attempts, want) {
		t.Errorf("dialed %v, want %v", attempts, want)
	}
}

func TestDoDialsTheCheckedAddress(t *testing.T) {
	var host atomic.Value
	port := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { host.Store(r.Host) }))
	r := &resolver{}
	c := newClient(t, Config{Resolver: r.resolve})
	rules := []capability.HTTPRule{{URL: "http://name.test:" + port + "/", AllowPrivate: true}}
	if _, err := c.Do(t.Context(), rules, Request{URL: "http://name.test:" + port + "/"}); err != nil {
		t.Fatal(err)
	}
	// "name.test" exists only in the test resolver: the connection went to
	// the address it returned, resolved once, with the name kept in Host.
	if n := r.lookups.Load(); n != 1 {
		t.Errorf("resolver called %d times, want 1", n)
	}
	if got, want := host.Load(), "name.test:"+port; got != want {
		t.Errorf("upstream saw Host %q, want %q", got, want)
	}
}

func TestDoRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
	})
	mux.HandleFunc("/chain/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			fmt.Fprint(w, "end of chain")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/chain/%d", n-1), http.StatusFound)
	})
	mux.Handle("/", echo)
	port := upstream(t, mux)
	rules := []capability.HTTPRule{
		{URL: "http://pub.test:" + port + "/", AllowPrivate: true},
		{URL: "http://internal.test:" + port + "/"},
		{URL: "http://169.254.169.254/"},
	}
	tests := []struct {
		name         string
		path         string
		maxRedirects int
		wantStatus   int
		wantBody     string
		wantURL      string
		wantErr      string // "denied" or an UpstreamError code
	}{
		{name: "allowed", path: "/to?u=http://pub.test:PORT/final", wantStatus: 200, wantBody: "GET /final", wantURL: "http://pub.test:PORT/final"},
		{name: "relative", path: "/to?u=/final", wantStatus: 200, wantBody: "GET /final", wantURL: "http://pub.test:PORT/final"},
		{name: "to a private address", path: "/to?u=http://internal.test:PORT/final", wantErr: "denied"},
		{name: "to metadata", path: "/to?u=http://169.254.169.254/latest/", wantErr: "denied"},
		{name: "to a url not allowed", path: "/to?u=http://other.test:PORT/final", wantErr: "denied"},
		{name: "to another scheme", path: "/to?u=https://pub.test:PORT/final", wantErr: "denied"},
		{name: "five", path: "/chain/5", wantStatus: 200, wantBody: "end of chain", wantURL: "http://pub.test:PORT/chain/0"},
		{name: "six", path: "/chain/6", wantErr: CodeTooManyRedirects},
		{name: "two of max two", path: "/chain/2", maxRedirects: 2, wantStatus: 200, wantBody: "end of chain", wantURL: "http://pub.test:PORT/chain/0"},
		{name: "three of max two", path: "/chain/3", maxRedirects: 2, wantErr: CodeTooManyRedirects},
		{name: "not followed", path: "/chain/3", maxRedirects: -1, wantStatus: 302, wantURL: "http://pub.test:PORT/chain/3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Config{MaxRedirects: tt.maxRedirects})
			url := "http://pub.test:" + port + strings.ReplaceAll(tt.path, "PORT", port)
			resp, err := c.Do(t.Context(), rules, Request{URL: url})
			var ue *UpstreamError
			_, isDenied := denied(err)
			switch {
			case tt.wantErr == "denied" && !isDenied:
				t.Fatalf("Do = %d %q, %v; want Denied", resp.Status, resp.Body, err)
			case tt.wantErr == "denied":
			case tt.wantErr != "" && (!errors.As(err, &ue) || ue.Code != tt.wantErr):
				t.Fatalf("Do = %d %q, %v; want UpstreamError %s", resp.Status, resp.Body, err, tt.wantErr)
			case tt.wantErr != "":
			case err != nil:
				t.Fatalf("Do: %v", err)
			default:
				wantURL := strings.ReplaceAll(tt.wantURL, "PORT", port)
				if resp.Status != tt.wantStatus || (tt.wantBody != "" && resp.Body != tt.wantBody) || resp.URL != wantURL {
					t.Errorf("Do = %d %q at %s, want %d %q at %s", resp.Status, resp.Body, resp.URL, tt.wantStatus, tt.wantBody, wantURL)
				}
			}
		})
	}
}

func TestDoSizeLimits(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/sized/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		io.WriteString(w, strings.Repeat("a", n))
	})
	mux.HandleFunc("/chunked/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		for range n {
			io.WriteString(w, "a")
			http.NewResponseController(w).Flush()
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	port := upstream(t, mux)
	c := newClient(t, Config{MaxBodyBytes: 100, MaxRequestBytes: 50})
	rules := []capability.HTTPRule{{URL: "http://up.test:" + port + "/", Methods: []string{"*"}, AllowPrivate: true}}
	tests := []struct {
		name      string
		path      string
		body      string
		wantBytes int64
		wantErr   string // "denied" or an UpstreamError code
	}{
		{name: "at the cap", path: "/sized/100", wantBytes: 100},
		{name: "over the cap", path: "/sized/101", wantErr: CodeTooLarge},
		{name: "chunked at the cap", path: "/chunked/100", wantBytes: 100},
		{name: "chunked over the cap", path: "/chunked/101", wantErr: CodeTooLarge},
		{name: "request at the cap", path: "/echo", body: strings.Repeat("b", 50), wantBytes: 50},
		{name: "request over the cap", path: "/echo", body: strings.Repeat("b", 51), wantErr: "denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Do(t.Context(), rules, Request{Method: "POST", URL: "http://up.test:" + port + tt.path, Body: tt.body})
			var ue *UpstreamError
			_, isDenied := denied(err)
			switch {
			case tt.wantErr == "denied":
				if !isDenied {
					t.Fatalf("Do = %d bytes, %v; want Denied", resp.Bytes, err)
				}
			case tt.wantErr != "":
				if !errors.As(err, &ue) || ue.Code != tt.wantErr || !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Do = %d bytes, %v; want UpstreamError %s", resp.Bytes, err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("Do: %v", err)
			case resp.Bytes != tt.wantBytes || int64(len(resp.Body)) != tt.wantBytes:
				t.Errorf("Do = %d bytes (body %d), want %d", resp.Bytes, len(resp.Body), tt.wantBytes)
			}
		})
	}
}

// TestDoTimeout checks that Config.Timeout ends a request whose upstream
// never finishes. It asserts on the failure and on bounds that hold on a
// loaded machine: not before the timeout, and long before the upstream would
// have finished on its own (never).
func TestDoTimeout(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/trickle", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := io.WriteString(w, "x"); err != nil || rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	port := upstream(t, mux)
	const timeout = 300 * time.Millisecond
	c := newClient(t, Config{Timeout: timeout})
	rules := []capability.HTTPRule{{URL: "http://up.test:" + port + "/", AllowPrivate: true}}
	for _, path := range []string{"/trickle", "/stall"} {
		t.Run(path, func(t *testing.T) {
			start := time.Now()
			_, err := c.Do(t.Context(), rules, Request{URL: "http://up.test:" + port + path})
			elapsed := time.Since(start)
			var ue *UpstreamError
			if !errors.As(err, &ue) || ue.Code != CodeTimeout || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Do: %v; want UpstreamError timeout", err)
			}
			if elapsed < timeout || elapsed > 30*time.Second {
				t.Errorf("Do returned after %v, want at least %v and well under 30s", elapsed, timeout)
			}
		})
	}
}

// TestDoCancel cancels a request once the upstream has it, and checks that
// Do returns as canceled: not as a timeout, which is a minute away.
func TestDoCancel(t *testing.T) {
	arrived := make(chan struct{}, 1)
	port := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	c := newClient(t, Config{Timeout: time.Minute})
	rules := []capability.HTTPRule{{URL: "http://up.test:" + port + "/", AllowPrivate: true}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		select {
		case <-arrived:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, err := c.Do(ctx, rules, Request{URL: "http://up.test:" + port + "/"})
	var ue *UpstreamError
	if !errors.As(err, &ue) || ue.Code != CodeCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do: %v; want UpstreamError canceled", err)
	}
}

func TestDoHeaders(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Multi"] = []string{"first", "second"}
		w.Header()["x-lower"] = []string{"v"} // sent as is, read back canonical
		fmt.Fprintf(w, "X-Custom=%s Cookie=%s", r.Header.Get("X-Custom"), r.Header.Get("Cookie"))
	})
	mux.HandleFunc("/cookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc"})
		http.Redirect(w, r, "/headers", http.StatusFound)
	})
	port := upstream(t, mux)
	c := newClient(t, Config{})
	rules := []capability.HTTPRule{{URL: "http://up.test:" + port + "/", AllowPrivate: true}}
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		want    string // body; empty: Denied
	}{
		{name: "custom", path: "/headers", headers: map[string]string{"x-custom": "a"}, want: "X-Custom=a Cookie="},
		{name: "no cookie jar", path: "/cookie", want: "X-Custom= Cookie="},
		{name: "host", headers: map[string]string{"Host": "evil.test"}},
		{name: "connection", headers: map[string]string{"Connection": "close"}},
		{name: "keep-alive", headers: map[string]string{"Keep-Alive": "timeout=5"}},
		{name: "transfer-encoding", headers: map[string]string{"Transfer-Encoding": "chunked"}},
		{name: "te", headers: map[string]string{"TE": "trailers"}},
		{name: "trailer", headers: map[string]string{"Trailer": "X"}},
		{name: "upgrade", headers: map[string]string{"Upgrade": "websocket"}},
		{name: "content-length", headers: map[string]string{"Content-Length": "5"}},
		{name: "proxy-authorization", headers: map[string]string{"Proxy-Authorization": "Basic x"}},
		{name: "proxy-connection", headers: map[string]string{"proxy-connection": "keep-alive"}},
		{name: "crlf in value", headers: map[string]string{"X-A": "a\r\nX-Injected: 1"}},
		{name: "bad name", headers: map[string]string{"X A": "a"}},
		{name: "twice", headers: map[string]string{"x-a": "1", "X-A": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := cmp.Or(tt.path, "/headers")
			resp, err := c.Do(t.Context(), rules, Request{URL: "http://up.test:" + port + path, Headers: tt.headers})
			if tt.want == "" {
				if _, ok := denied(err); !ok {
					t.Fatalf("Do = %q, %v; want Denied", resp.Body, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Body != tt.want {
				t.Errorf("upstream saw %q, want %q", resp.Body, tt.want)
			}
			if resp.Headers["X-Multi"] != "first" || resp.Headers["X-Lower"] != "v" {
				t.Errorf("response headers %v, want X-Multi first and X-Lower v", resp.Headers)
			}
		})
	}
	if c.public.Proxy != nil || c.private.Proxy != nil {
		t.Error("a transport has a proxy")
	}
}

func TestDoReusesOnlyCheckedConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(echo)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c := newClient(t, Config{})
	url := "http://up.test:" + port + "/"
	private := []capability.HTTPRule{{URL: url, AllowPrivate: true}}
	public := []capability.HTTPRule{{URL: url}}

	for range 3 {
		if _, err := c.Do(t.Context(), private, Request{URL: url}); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("3 requests opened %d connections, want 1", n)
	}
	// An idle connection to up.test is in the pool, but it was checked under
	// AllowPrivate: a call without it must not ride on it.
	if _, err := c.Do(t.Context(), public, Request{URL: url}); err == nil {
		t.Fatal("Do without AllowPrivate reused a connection to a private address")
	} else if _, ok := denied(err); !ok {
		t.Fatalf("Do: %v, want Denied", err)
	}
}

// TestDoConcurrentRules hammers one Client with calls whose rules differ:
// each call must be judged by its own rules only.
func TestDoConcurrentRules(t *testing.T) {
	port := upstream(t, echo)
	c := newClient(t, Config{})
	url := "http://up.test:" + port + "/p"
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			allow := i%2 == 0
			rules := []capability.HTTPRule{{URL: "http://up.test:" + port + "/", AllowPrivate: allow}}
			_, err := c.Do(t.Context(), rules, Request{URL: url})
			_, isDenied := denied(err)
			if allow && err != nil || !allow && !isDenied {
				t.Errorf("call %d (allowPrivate %v): %v", i, allow, err)
			}
		})
	}
	wg.Wait()
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{name: "zero", cfg: Config{}},
		{name: "negative timeout", cfg: Config{Timeout: -1}, want: ErrNegative},
		{name: "negative body", cfg: Config{MaxBodyBytes: -1}, want: ErrNegative},
		{name: "negative request", cfg: Config{MaxRequestBytes: -1}, want: ErrNegative},
		{name: "secret", cfg: Config{Secrets: map[string]string{"API_KEY.v2-x": "v"}}},
		{name: "secret name", cfg: Config{Secrets: map[string]string{"A}}": "v"}}, want: ErrBadSecret},
		{name: "empty secret", cfg: Config{Secrets: map[string]string{"A": ""}}, want: ErrBadSecret},
		{name: "secret with newline", cfg: Config{Secrets: map[string]string{"A": "v\nX-Injected: 1"}}, want: ErrBadSecret},
		{name: "secret not utf-8", cfg: Config{Secrets: map[string]string{"A": "caf\xe9"}}, want: ErrBadSecret},
		{name: "secret in utf-8", cfg: Config{Secrets: map[string]string{"A": "café"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if err == nil {
				c.Close()
			}
			var ce *ConfigError
			if tt.want == nil && err != nil || tt.want != nil && (!errors.Is(err, tt.want) || !errors.As(err, &ce)) {
				t.Fatalf("New: %v, want %v", err, tt.want)
			}
		})
	}
}
