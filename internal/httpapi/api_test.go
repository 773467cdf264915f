package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/internal/policy"
)

func TestStreamEcho(t *testing.T) {
	e := newEnv(t)
	resp, s := e.stream(alice(t), "echo", `{"text":"hi"}`)
	h := resp.Header
	if h.Get("Content-Type") != "text/event-stream; charset=utf-8" || h.Get("Cache-Control") != "no-cache, no-transform" ||
		h.Get("X-Accel-Buffering") != "no" || h.Get("Content-Encoding") != "" {
		t.Fatalf("headers %v", h)
	}
	if !strings.HasPrefix(h.Get("Location"), "/v1/calls/c_") {
		t.Fatalf("Location %q", h.Get("Location"))
	}
	if s.First != "retry: 2000" || s.Retry != "2000" || len(s.Comments) == 0 || s.Comments[0] != "ok" {
		t.Fatalf("stream opens with %q, retry %q, comments %q", s.First, s.Retry, s.Comments)
	}
	checkCallStream(t, s, 0)
	if got := strings.Join(types(s), ","); got != "call.started,host.log,call.completed" {
		t.Fatalf("types %s", got)
	}
	var done struct {
		Output struct{ Text string }
	}
	json.Unmarshal(s.Events[2].envelope(t).Data, &done)
	if done.Output.Text != "hi" {
		t.Fatalf("output %+v", done)
	}
}

func TestStreamSlowProgressInOrder(t *testing.T) {
	e := newEnv(t)
	_, s := e.stream(alice(t), "slow", `{"steps":4,"delayMs":10}`)
	checkCallStream(t, s, 0)
	var progress []float64
	outputs := 0
	for _, ev := range s.Events {
		switch ev.Type {
		case "host.progress":
			var d struct{ Progress, Total float64 }
			json.Unmarshal(ev.envelope(t).Data, &d)
			progress = append(progress, d.Progress)
			if d.Total != 4 {
				t.Fatalf("total %v", d.Total)
			}
		case "host.output":
			outputs++
		}
	}
	if !slices.Equal(progress, []float64{1, 2, 3, 4}) || outputs != 4 {
		t.Fatalf("progress %v, outputs %d", progress, outputs)
	}
}

func TestJSONModeReturnsTerminalEvent(t *testing.T) {
	e := newEnv(t)
	resp := e.do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"json"}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Location"), "/v1/calls/") {
		t.Fatalf("%s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	env := decode[struct {
		Type string
		Seq  int
		Data struct{ Output struct{ Text string } }
	}](t, resp)
	if env.Type != "call.completed" || env.Seq != 3 || env.Data.Output.Text != "json" {
		t.Fatalf("terminal event %+v", env)
	}
}

func TestDetachTicketResume(t *testing.T) {
	e := newEnv(t)
	resp := e.do("POST", "/v1/tools/slow/calls?detach=1", alice(t), `{"steps":3,"delayMs":20}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("detach: %s", resp.Status)
	}
	d := decode[struct{ CallID, Events, Ticket string }](t, resp)
	if d.CallID == "" || d.Events != "/v1/calls/"+d.CallID+"/events" || d.Ticket == "" {
		t.Fatalf("detach body %+v", d)
	}
	// An EventSource sends no Authorization header: the ticket is its credential.
	es := e.do("GET", d.Events+"?ticket="+d.Ticket, "", "")
	whole := parseSSE(t, es.Body)
	es.Body.Close()
	checkCallStream(t, whole, 0)
	n := len(whole.Events)
	if n != 3+3+1+1 { // started, 3 progress, 3 output, completed
		t.Logf("types %v", types(whole))
	}
	for _, how := range []string{"header", "query"} {
		t.Run("resume by "+how, func(t *testing.T) {
			var r *http.Response
			if how == "header" {
				r = e.do("GET", d.Events, alice(t), "", "Last-Event-ID", "3")
			} else {
				r = e.do("GET", d.Events+"?last_event_id=3", alice(t), "")
			}
			s := parseSSE(t, r.Body)
			r.Body.Close()
			checkCallStream(t, s, 3)
			if len(s.Events) != n-3 {
				t.Fatalf("resumed %d events, want %d", len(s.Events), n-3)
			}
			for i, ev := range s.Events {
				if ev.Data != whole.Events[3+i].Data {
					t.Fatalf("event %s differs on replay", ev.ID)
				}
			}
		})
	}
	// After the terminal event an EventSource is told to stop.
	r := e.do("GET", d.Events, alice(t), "", "Last-Event-ID", fmt.Sprint(n))
	r.Body.Close()
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("resume after the end: %s, want 204", r.Status)
	}
	st := decode[struct{ Status, Tool string }](t, e.do("GET", "/v1/calls/"+d.CallID, alice(t), ""))
	if st.Status != "completed" || st.Tool != "slow" {
		t.Fatalf("status %+v", st)
	}
	// A ticket is good only for its own call.
	other := decode[struct{ CallID string }](t, e.do("POST", "/v1/tools/echo/calls?detach=1", alice(t), `{"text":"x"}`))
	r = e.do("GET", "/v1/calls/"+other.CallID+"/events?ticket="+d.Ticket, "", "")
	r.Body.Close()
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("another call's ticket: %s", r.Status)
	}
}

func TestRetentionThen404(t *testing.T) {
	skipOnJetStream(t, "a cluster keeps a finished call for the stream's max age (retention plus the longest call), tested in internal/cluster")
	e := newEnv(t, func(c *httpapi.Config) { c.Retention = 100 * time.Millisecond })
	resp := e.do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"x"}`)
	loc := resp.Header.Get("Location")
	resp.Body.Close()
	r := e.do("GET", loc+"/events", alice(t), "")
	if s := parseSSE(t, r.Body); len(s.Events) != 3 {
		t.Fatalf("replay after completion: %v", types(s))
	}
	r.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.do("GET", loc, alice(t), "")
		r.Body.Close()
		if r.StatusCode == http.StatusNotFound {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("call still there after its retention: %s", r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPermissions(t *testing.T) {
	e := newEnv(t)
	tools := decode[struct{ Tools []struct{ Name string } }](t, e.do("GET", "/v1/tools", bob(t), ""))
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if strings.Join(names, ",") != "echo,whoami" {
		t.Fatalf("bob sees tools %v", names)
	}
	resp := e.do("POST", "/v1/tools/fetch/calls", bob(t), `{"url":"https://example.com/"}`, "Accept", "text/event-stream")
	if resp.StatusCode != http.StatusForbidden || decode[errorBody](t, resp).Error.Code != "tool_not_permitted" {
		t.Fatalf("bob calling fetch: %s", resp.Status)
	}
	resp = e.do("POST", "/v1/tools/nope/calls", alice(t), `{}`)
	if resp.StatusCode != http.StatusNotFound || decode[errorBody](t, resp).Error.Code != "tool_not_found" {
		t.Fatalf("unknown tool: %s", resp.Status)
	}
	// Alice's call is invisible to bob on every endpoint.
	d := decode[struct{ CallID string }](t, e.do("POST", "/v1/tools/slow/calls?detach=1", alice(t), `{"steps":2,"delayMs":1}`))
	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/calls/" + d.CallID},
		{"GET", "/v1/calls/" + d.CallID + "/events"},
		{"DELETE", "/v1/calls/" + d.CallID},
	} {
		r := e.do(req.method, req.path, bob(t), "")
		if r.StatusCode != http.StatusNotFound || decode[errorBody](t, r).Error.Code != "call_not_found" {
			t.Fatalf("bob %s %s: %s", req.method, req.path, r.Status)
		}
	}
	r := e.do("POST", "/v1/tickets", bob(t), fmt.Sprintf(`{"callId":%q}`, d.CallID))
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("bob minting a ticket for alice's call: %s", r.Status)
	}
	r.Body.Close()
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.MaxBodyBytes = 1024 })
	// (The nesting row is valid JSON that fails echo's schema; JSON nested
	// past encoding/json's limit is refused as invalid_json.)
	tests := []struct {
		name, tool, body, contentType string
		status                        int
		code                          string
	}{
		{"invalid json", "echo", `{"text":`, "application/json", 400, "invalid_json"},
		{"invalid utf-8", "echo", "{\"text\":\"\xff\"}", "application/json", 400, "invalid_json"},
		{"deeply nested", "echo", `{"text":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, "application/json", 400, "invalid_input"},
		{"not an object", "echo", `["x"]`, "application/json", 400, "invalid_input"},
		{"schema", "slow", `{"steps":"many","delayMs":1}`, "application/json", 400, "invalid_input"},
		{"too large", "echo", `{"text":"` + strings.Repeat("x", 2000) + `"}`, "application/json", 413, "body_too_large"},
		{"form", "echo", `text=hi`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do("POST", "/v1/tools/"+tt.tool+"/calls", alice(t), tt.body, "Content-Type", tt.contentType)
			got := decode[errorBody](t, resp)
			if resp.StatusCode != tt.status || got.Error.Code != tt.code {
				t.Fatalf("%s %+v, want %d %s", resp.Status, got, tt.status, tt.code)
			}
			if tt.name == "schema" && !strings.Contains(got.Error.Message, "/steps") {
				t.Fatalf("message %q does not name the field", got.Error.Message)
			}
		})
	}
}

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	sign := func(claims jwt.MapClaims, key []byte) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := jwt.MapClaims{"sub": "alice", "roles": []string{"analyst"}, "exp": now.Add(time.Hour).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for key, val := range good {
			c[key] = val
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	valid := sign(good, secret)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"root","roles":["analyst"],"exp":9999999999}`)) + "." + parts[2]
	tests := []struct{ name, header string }{
		{"no token", ""},
		{"garbage", "Bearer not.a.token"},
		{"basic", "Basic YWxpY2U6cHc="},
		{"alg none", "Bearer " + none},
		{"wrong secret", "Bearer " + sign(good, []byte("another-secret-another-secret-another"))},
		{"expired", "Bearer " + token(t, "alice", -time.Hour, "analyst")},
		{"missing exp", "Bearer " + sign(with("exp", nil), secret)},
		{"nbf in the future", "Bearer " + sign(with("nbf", now.Add(time.Hour).Unix()), secret)},
		{"missing sub", "Bearer " + sign(with("sub", nil), secret)},
		{"tampered payload", "Bearer " + tampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do("GET", "/v1/tools", "", "", "Authorization", tt.header)
			got := decode[errorBody](t, resp)
			if resp.StatusCode != 401 || got.Error.Code != "unauthenticated" || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
				t.Fatalf("%s %+v %q", resp.Status, got, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// POST never takes the cookie (CSRF); GET does.
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/tools", nil)
	req.AddCookie(&http.Cookie{Name: "capstream_token", Value: alice(t)})
	resp, _ := e.srv.Client().Do(req)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET with cookie: %s", resp.Status)
	}
	req, _ = http.NewRequest("POST", e.srv.URL+"/v1/tools/echo/calls", strings.NewReader(`{"text":"x"}`))
	req.AddCookie(&http.Cookie{Name: "capstream_token", Value: alice(t)})
	resp, _ = e.srv.Client().Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("POST with cookie only: %s", resp.Status)
	}
}

// TestClosingStreamCancelsCall: a client that goes away cancels its call,
// which ends with call.cancelled (client_gone), long before it would have
// completed.
func TestClosingStreamCancelsCall(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/v1/tools/slow/calls", strings.NewReader(`{"steps":100,"delayMs":100}`))
	req.Header.Set("Authorization", "Bearer "+alice(t))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	loc := resp.Header.Get("Location")
	buf := make([]byte, 512)
	resp.Body.Read(buf) // the stream has begun
	cancel()
	resp.Body.Close()
	// The call would run for 10 s; its events, resumed, end with the cancel.
	r := e.do("GET", loc+"/events", alice(t), "")
	s := parseSSE(t, r.Body)
	r.Body.Close()
	checkCallStream(t, s, 0)
	last := s.Events[len(s.Events)-1]
	if last.Type != "call.cancelled" || !strings.Contains(last.Data, `"reason":"client_gone"`) {
		t.Fatalf("the call ended with %s %s", last.Type, last.Data)
	}
}

func TestDeleteCancelsDetachedCall(t *testing.T) {
	e := newEnv(t)
	d := decode[struct{ CallID, Events string }](t, e.do("POST", "/v1/tools/slow/calls?detach=1", alice(t), `{"steps":100,"delayMs":100}`))
	sub := e.do("GET", d.Events, alice(t), "")
	got := make(chan sseStream, 1)
	go func() { got <- parseSSE(t, sub.Body) }()
	r := e.do("DELETE", "/v1/calls/"+d.CallID, alice(t), "")
	st := decode[struct{ Status string }](t, r)
	if r.StatusCode != 200 || st.Status != "cancelled" {
		t.Fatalf("DELETE: %s %+v", r.Status, st)
	}
	select {
	case s := <-got:
		checkCallStream(t, s, 0)
		last := s.Events[len(s.Events)-1]
		if last.Type != "call.cancelled" || !strings.Contains(last.Data, `"reason":"deleted"`) {
			t.Fatalf("subscriber's last event %+v", last)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("subscriber did not see the cancellation")
	}
	sub.Body.Close()
}

// TestViewerTokenExpiry: a subscriber whose token expires is told so and
// disconnected; the call runs on and completes. The token's exp is a whole
// second at most one second away (and may already have passed, within the
// verifier's leeway), and the call runs for at least three, so the token
// expires while the call runs however the seconds fall; the test asserts
// on the events, whichever of them the subscriber got before it was cut.
func TestViewerTokenExpiry(t *testing.T) {
	e := newEnv(t)
	d := decode[struct{ CallID, Events string }](t, e.do("POST", "/v1/tools/slow/calls?detach=1", alice(t), `{"steps":30,"delayMs":100}`))
	short := token(t, "alice", time.Second, "analyst")
	r := e.do("GET", d.Events, short, "")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("subscribing with a token of one second: %s", r.Status)
	}
	s := parseSSE(t, r.Body)
	r.Body.Close()
	if len(s.Events) == 0 {
		t.Fatal("the subscriber was cut without an event")
	}
	last := s.Events[len(s.Events)-1]
	if last.Type != "stream.error" || !strings.Contains(last.Data, `"code":"token_expired"`) {
		t.Fatalf("last event %+v, want stream.error token_expired", last)
	}
	seen := s.Events[:len(s.Events)-1] // the call's events before the cut
	var resume uint64
	if len(seen) > 0 {
		resume = uint64(len(seen))
		if seen[len(seen)-1].ID != fmt.Sprint(resume) {
			t.Fatalf("events before the cut: %v", types(sseStream{Events: seen}))
		}
	}
	// The call is unaffected: resume with a fresh token and see it complete.
	r = e.do("GET", d.Events, alice(t), "", "Last-Event-ID", fmt.Sprint(resume))
	rest := parseSSE(t, r.Body)
	r.Body.Close()
	checkCallStream(t, rest, resume)
	if rest.Events[len(rest.Events)-1].Type != "call.completed" {
		t.Fatalf("after resuming: %v", types(rest))
	}
}

// TestShutdownCancelsRunningCalls: a call still running when the drain
// timeout passes ends with call.cancelled (shutdown) on its open stream.
func TestShutdownCancelsRunningCalls(t *testing.T) {
	e := newEnv(t)
	resp := e.do("POST", "/v1/tools/slow/calls", alice(t), `{"steps":100,"delayMs":100}`, "Accept", "text/event-stream")
	got := make(chan sseStream, 1)
	go func() { got <- parseSSE(t, resp.Body) }()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	e.api.Shutdown(ctx)
	select {
	case s := <-got:
		checkCallStream(t, s, 0)
		last := s.Events[len(s.Events)-1]
		if last.Type != "call.cancelled" || !strings.Contains(last.Data, `"reason":"shutdown"`) {
			t.Fatalf("last event %+v", last)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stream did not end after shutdown")
	}
	resp.Body.Close()
	r := e.do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"late"}`)
	if r.StatusCode != http.StatusServiceUnavailable || decode[errorBody](t, r).Error.Code != "shutting_down" {
		t.Fatalf("after shutdown: %s", r.Status)
	}
}

// TestDrainRefusesNewStreamsFirst: during a drain a new streamed call is
// refused as shutting_down, even when its caller has no stream place left,
// because that is the answer that says when to retry.
func TestDrainRefusesNewStreamsFirst(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.MaxStreamsPerPrincipal = 1 })
	resp := e.do("POST", "/v1/tools/slow/calls", alice(t), `{"steps":100,"delayMs":100}`, "Accept", "text/event-stream")
	defer resp.Body.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		e.api.Shutdown(ctx)
	}()
	for {
		r := e.do("GET", "/readyz", "", "")
		r.Body.Close()
		if r.StatusCode == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := e.do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"late"}`, "Accept", "text/event-stream")
	if code := decode[errorBody](t, r).Error.Code; r.StatusCode != http.StatusServiceUnavailable || code != "shutting_down" {
		t.Fatalf("a new streamed call during the drain: %s %s", r.Status, code)
	}
	io.Copy(io.Discard, resp.Body)
	<-done
}

func TestConcurrencyCaps(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.MaxCallsPerPrincipal = 1 })
	d := decode[struct{ CallID string }](t, e.do("POST", "/v1/tools/slow/calls?detach=1", alice(t), `{"steps":50,"delayMs":100}`))
	r := e.do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"x"}`)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || decode[errorBody](t, r).Error.Code != "too_many_calls" {
		t.Fatalf("second call: %s", r.Status)
	}
	// Another principal is not affected.
	r = e.do("POST", "/v1/tools/echo/calls", bob(t), `{"text":"x"}`)
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("bob: %s", r.Status)
	}
	e.do("DELETE", "/v1/calls/"+d.CallID, alice(t), "").Body.Close()
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := e.do("GET", path, "", "")
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("%s: %s", path, r.Status)
		}
	}
	e.do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"x"}`).Body.Close()
	// The call's place, and the in-flight gauge, are given back before its
	// terminal event is in its log, so before the response; its outcome is
	// counted once the engine has returned, which may be a moment later.
	settledMetric(t, e.metrics, `capstream_calls_total{outcome="completed",tool="echo"}`, 1)
	b := e.metrics(t)
	for _, want := range []string{
		`capstream_calls_total{outcome="completed",tool="echo"} 1`,
		`capstream_host_calls_total{decision="allowed",function="log"} 1`,
		`capstream_calls_in_flight 0`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.CORSOrigins = []string{"https://app.example.com"} })
	r := e.do("GET", "/v1/tools", alice(t), "", "Origin", "https://app.example.com")
	r.Body.Close()
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed origin: %v", r.Header)
	}
	r = e.do("OPTIONS", "/v1/tools/echo/calls", "", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
	r.Body.Close()
	if r.StatusCode != http.StatusNoContent || !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %s %v", r.Status, r.Header)
	}
	r = e.do("GET", "/v1/tools", alice(t), "", "Origin", "https://evil.example.net")
	r.Body.Close()
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin got CORS headers: %v", r.Header)
	}
}

// TestCapabilityVerifiable: the capability token of a call verifies
// against the key the runtime publishes, and says what the call could do.
func TestCapabilityVerifiable(t *testing.T) {
	e := newEnv(t)
	_, s := e.stream(alice(t), "notes", `{"op":"list"}`)
	var started struct {
		Capability struct{ ID, Token string }
	}
	json.Unmarshal(s.Events[0].envelope(t).Data, &started)
	jwks := decode[struct {
		Keys []struct{ Kty, Crv, X, Alg string }
	}](t, e.do("GET", "/v1/keys", "", ""))
	if len(jwks.Keys) != 1 || jwks.Keys[0].Crv != "Ed25519" || jwks.Keys[0].Alg != "EdDSA" {
		t.Fatalf("jwks %+v", jwks)
	}
	pub, err := base64.RawURLEncoding.DecodeString(jwks.Keys[0].X)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := capability.Verify(started.Capability.Token, ed25519.PublicKey(pub), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "alice" || claims.ID != started.Capability.ID || claims.Audience[0] != "notes" ||
		claims.Cap.KV == nil || claims.Cap.KV.Namespace != "notes/alice" || !claims.Cap.KV.Write {
		t.Fatalf("claims %+v", claims)
	}
}

// flipping is a policy store that hands out its two policies in turn, one
// per read, and counts the reads: as if the policy were reloaded between
// any two reads.
type flipping struct {
	policies [2]*policy.Policy
	reads    atomic.Int64
}

func (f *flipping) Current() *policy.Policy { return f.policies[(f.reads.Add(1)-1)%2] }

// TestOnePolicyPerRequest: a request reads the policy once, and takes the
// principal's roles and its grants from that one snapshot. The two policies
// here each grant echo to the test's token, through roles read from
// different claims; a request that mixed the roles of one with the grants
// of the other would be granted nothing.
func TestOnePolicyPerRequest(t *testing.T) {
	var store *flipping
	e := newEnv(t, func(c *httpapi.Config) {
		store = &flipping{}
		for i, src := range []string{
			"roles_claim: roles\nroles:\n  analyst:\n    tools: [echo]\n",
			"roles_claim: groups\nroles:\n  editors:\n    tools: [echo]\n",
		} {
			p, err := policy.Parse(fmt.Sprintf("policy-%d.yaml", i), []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			store.policies[i] = p
		}
		c.Policies = store
	})
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "carol", "roles": []string{"analyst"}, "groups": []string{"editors"}, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	// Each request twice, so that each starts once on either policy.
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/v1/tools", ""}, {"GET", "/v1/tools", ""},
		{"POST", "/v1/tools/echo/calls", `{"text":"x"}`}, {"POST", "/v1/tools/echo/calls", `{"text":"x"}`},
	} {
		before := store.reads.Load()
		r := e.do(req.method, req.path, tok, req.body)
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if reads := store.reads.Load() - before; reads != 1 {
			t.Errorf("%s %s read the policy %d times", req.method, req.path, reads)
		}
		if r.StatusCode != http.StatusOK || req.method == "GET" && !strings.Contains(string(b), `"name":"echo"`) {
			t.Errorf("%s %s, starting on policy %d: %s %s", req.method, req.path, before%2, r.Status, b)
		}
	}
}

// TestContentTypeOfBodies: every endpoint that takes a body checks its
// Content-Type the same way.
func TestContentTypeOfBodies(t *testing.T) {
	e := newEnv(t)
	callID := decode[struct{ CallID string }](t, e.do("POST", "/v1/tools/echo/calls?detach=1", alice(t), `{"text":"x"}`)).CallID
	endpoints := []struct{ path, body string }{
		{"/v1/tools/echo/calls?detach=1", `{"text":"x"}`},
		{"/v1/tickets", fmt.Sprintf(`{"callId":%q}`, callID)},
	}
	types := []struct {
		contentType string
		ok          bool
	}{
		{"", true},
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"Application/JSON; charset=UTF-8", true},
		{"application/merge-patch+json", true},
		{"application/json; charset=iso-8859-1", false},
		{"text/plain", false},
		{"text/plain; charset=utf-8", false},
		{"application/x-www-form-urlencoded", false},
		{"multipart/form-data; boundary=x", false},
		{"garbage", false},
		{"application/json; charset", false},
	}
	for _, ep := range endpoints {
		for _, ct := range types {
			t.Run(strings.TrimPrefix(ep.path, "/v1/")+" "+ct.contentType, func(t *testing.T) {
				req, _ := http.NewRequest("POST", e.srv.URL+ep.path, strings.NewReader(ep.body))
				req.Header.Set("Authorization", "Bearer "+alice(t))
				if ct.contentType != "" {
					req.Header.Set("Content-Type", ct.contentType)
				}
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var got errorBody
				json.Unmarshal(b, &got)
				switch {
				case ct.ok && resp.StatusCode/100 != 2:
					t.Errorf("%s %s, want it accepted", resp.Status, b)
				case !ct.ok && (resp.StatusCode != http.StatusUnsupportedMediaType || got.Error.Code != "unsupported_media_type"):
					t.Errorf("%s %s, want 415 unsupported_media_type", resp.Status, b)
				}
			})
		}
	}
}
