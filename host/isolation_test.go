package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/egress"
)

func TestKVIsolatedPerPrincipal(t *testing.T) {
	f := newFixture(t, nil)
	notes := f.load("plugins/notes")
	for _, who := range []string{"alice", "bob"} {
		if res, _ := f.call(who, notes, grantAll(), fmt.Sprintf(`{"op":"add","text":"secret of %s"}`, who)); res.Failure != nil {
			t.Fatalf("%s add: %v", who, res.Failure)
		}
	}
	for _, who := range []string{"alice", "bob"} {
		res, rec := f.call(who, notes, grantAll(), `{"op":"list"}`)
		var out struct{ Notes []string }
		json.Unmarshal(res.Output, &out)
		if len(out.Notes) != 1 || out.Notes[0] != "secret of "+who {
			t.Fatalf("%s sees notes %q", who, out.Notes)
		}
		if len(rec.ofType("host.kv")) == 0 {
			t.Fatalf("%s: no host.kv events", who)
		}
	}
	// Without a KV grant the tool is refused storage, as data.
	noKV := grantAll()
	noKV.KV = nil
	res, rec := f.call("alice", notes, noKV, `{"op":"list"}`)
	kvEvents := rec.ofType("host.kv")
	if res.Failure == nil || res.Failure.Code != "tool_error" || len(kvEvents) == 0 || kvEvents[0]["denied"] == nil {
		t.Fatalf("notes without kv grant: %v, events %v", res.Failure, kvEvents)
	}
}

// upstream is a real HTTP server on loopback, and an egress config whose
// resolver maps test host names to it.
func upstream(t *testing.T, names map[string]string) (*httptest.Server, *egress.Config, string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	cfg := &egress.Config{Resolver: func(ctx context.Context, host string) ([]netip.Addr, error) {
		if ip, ok := names[host]; ok {
			return []netip.Addr{netip.MustParseAddr(ip)}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}}
	return srv, cfg, port
}

func TestHTTPEnforcement(t *testing.T) {
	_, cfg, port := upstream(t, map[string]string{"api.test": "127.0.0.1", "rebind.test": "127.0.0.1", "localhost": "127.0.0.1"})
	f := newFixture(t, cfg)
	fetch := f.load("plugins/fetch")
	rule := func(u string, private bool) capability.HTTPRule {
		return capability.HTTPRule{URL: u, Methods: []string{"GET"}, AllowPrivate: private}
	}
	tests := []struct {
		name   string
		rules  []capability.HTTPRule
		url    string
		method string
		denied bool
	}{
		{"allowed private upstream", []capability.HTTPRule{rule("http://api.test:"+port+"/v1/", true)}, "http://api.test:" + port + "/v1/items", "GET", false},
		{"path outside prefix", []capability.HTTPRule{rule("http://api.test:"+port+"/v1/", true)}, "http://api.test:" + port + "/v2/items", "GET", true},
		{"dot segments", []capability.HTTPRule{rule("http://api.test:"+port+"/v1/", true)}, "http://api.test:" + port + "/v1/../admin", "GET", true},
		{"method", []capability.HTTPRule{rule("http://api.test:"+port+"/v1/", true)}, "http://api.test:" + port + "/v1/items", "DELETE", true},
		{"other host", []capability.HTTPRule{rule("http://api.test:"+port+"/", true)}, "http://evil.test:" + port + "/", "GET", true},
		{"hostname resolves to loopback", []capability.HTTPRule{rule("http://rebind.test:"+port+"/", false)}, "http://rebind.test:" + port + "/", "GET", true},
		{"localhost allowed by name", []capability.HTTPRule{rule("http://localhost:"+port+"/", false)}, "http://localhost:" + port + "/", "GET", true},
		{"metadata address", []capability.HTTPRule{rule("http://169.254.169.254/", false)}, "http://169.254.169.254/latest/meta-data/", "GET", true},
		{"no http grant", nil, "http://api.test:" + port + "/v1/items", "GET", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := grantAll(tt.rules...)
			input, _ := json.Marshal(map[string]string{"url": tt.url, "method": tt.method})
			res, rec := f.call("alice", fetch, g, string(input))
			evs := rec.ofType("host.http")
			if len(evs) != 1 {
				t.Fatalf("events %v: want one host.http", rec.types())
			}
			if tt.denied {
				if res.Failure == nil || res.Failure.Code != "tool_error" || !strings.Contains(res.Failure.Message, "denied") {
					t.Fatalf("failure %v: want the tool to report the denial", res.Failure)
				}
				d, _ := evs[0]["denied"].(map[string]any)
				if d == nil || d["grant"] != "http" || d["reason"] == "" {
					t.Fatalf("host.http %v: want denied by http with a reason", evs[0])
				}
				return
			}
			if res.Failure != nil {
				t.Fatalf("allowed fetch failed: %v (event %v)", res.Failure, evs[0])
			}
			var out struct {
				Status int
				Body   string
			}
			json.Unmarshal(res.Output, &out)
			if out.Status != 200 || out.Body != "hello from /v1/items" || evs[0]["status"] != float64(200) {
				t.Fatalf("output %s, event %v", res.Output, evs[0])
			}
		})
	}
}

func TestHTTPEventRedactsQuery(t *testing.T) {
	_, cfg, port := upstream(t, map[string]string{"api.test": "127.0.0.1"})
	f := newFixture(t, cfg)
	fetch := f.load("plugins/fetch")
	g := grantAll(capability.HTTPRule{URL: "http://api.test:" + port + "/", AllowPrivate: true})
	u := "http://api.test:" + port + "/x?token=hunter2"
	res, rec := f.call("alice", fetch, g, fmt.Sprintf(`{"url":%q}`, u))
	if res.Failure != nil {
		t.Fatal(res.Failure)
	}
	ev := rec.ofType("host.http")[0]
	if strings.Contains(fmt.Sprint(ev), "hunter2") {
		t.Fatalf("event %v leaks the query string", ev)
	}
	if got, _ := url.Parse(ev["url"].(string)); got == nil || got.Path != "/x" {
		t.Fatalf("event url %v", ev["url"])
	}
}

// TestHammerNoCrossover runs many calls at once for many principals: each
// must see only its own identity and its own data.
func TestHammerNoCrossover(t *testing.T) {
	f := newFixture(t, nil)
	whoami := f.load("plugins/whoami")
	notes := f.load("plugins/notes")
	// 1,000 calls from 1,000 goroutines started at once, with at most
	// inFlight instances live at a time (the server's default cap is 256):
	// enough contention to catch crossover, bounded memory under -race.
	const principals, perPrincipal, inFlight = 25, 40, 200
	calls := principals * perPrincipal
	if testing.Short() {
		calls = 100
	}
	// The deadline is about isolation under contention, not speed.
	g := grantAll()
	g.Limits.Timeout = 5 * time.Minute
	slots := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		sub := fmt.Sprintf("user-%02d", i%principals)
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			if i%2 == 0 {
				res, rec := f.call(sub, whoami, g, `{}`)
				var claims struct {
					Sub   string   `json:"sub"`
					Roles []string `json:"roles"`
					ID    string   `json:"jti"`
				}
				started := rec.ofType("call.started")[0]["capability"].(map[string]any)
				if err := json.Unmarshal(res.Output, &claims); err != nil || claims.Sub != sub ||
					len(claims.Roles) != 1 || claims.Roles[0] != "role-"+sub || claims.ID != started["id"] {
					errs <- fmt.Errorf("%s: whoami says %s (%v)", sub, res.Output, res.Failure)
				}
				return
			}
			res, _ := f.call(sub, notes, g, fmt.Sprintf(`{"op":"add","text":"%s#%d"}`, sub, i))
			var out struct{ Notes []string }
			if err := json.Unmarshal(res.Output, &out); err != nil || res.Failure != nil {
				errs <- fmt.Errorf("%s: notes add: %v %s", sub, res.Failure, res.Output)
				return
			}
			for _, n := range out.Notes {
				if !strings.HasPrefix(n, sub+"#") {
					errs <- fmt.Errorf("%s sees another principal's note %q", sub, n)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	// Every note written is there, in its owner's namespace only.
	for p := range principals {
		sub := fmt.Sprintf("user-%02d", p)
		res, _ := f.call(sub, notes, grantAll(), `{"op":"list"}`)
		var out struct{ Notes []string }
		json.Unmarshal(res.Output, &out)
		want := 0
		for i := range calls {
			if i%principals == p && i%2 == 1 {
				want++
			}
		}
		if len(out.Notes) != want {
			t.Errorf("%s has %d notes, want %d", sub, len(out.Notes), want)
		}
	}
}
