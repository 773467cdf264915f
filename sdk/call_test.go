package sdk_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/sdktest"
)

// tool returns a tool that runs f, with the given needs.
func tool(needs sdk.Needs, f func(c *sdk.Call) (any, error)) sdk.Tool[struct{}, any] {
	return sdk.Tool[struct{}, any]{
		Name:  "t",
		Needs: needs,
		Run:   func(c *sdk.Call, _ struct{}) (any, error) { return f(c) },
	}
}

// eventStrings returns the events as strings.
func eventStrings(events []sdktest.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.String()
	}
	return out
}

func checkEvents(t *testing.T, events []sdktest.Event, want ...string) {
	t.Helper()
	got := eventStrings(events)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestLog(t *testing.T) {
	var errs []error
	_, events, err := sdktest.Run(tool(sdk.Needs{}, func(c *sdk.Call) (any, error) {
		errs = append(errs,
			c.Log(sdk.LevelDebug, "d"),
			c.Logf(sdk.LevelInfo, "%d items", 3),
			c.Log(sdk.LevelWarn, "w"),
			c.Log(sdk.LevelError, "bad \xff byte"),
			c.Log(sdk.Level(9), "?"),
			c.Log(sdk.LevelInfo, strings.Repeat("x", 64<<10+1)),
		)
		return nil, nil
	}), struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, nil, nil, nil, sdk.ErrInvalid, sdk.ErrTooLarge} {
		if !errors.Is(errs[i], want) || (want == nil && errs[i] != nil) {
			t.Errorf("log %d: error %v, want %v", i, errs[i], want)
		}
	}
	if got := errs[4].Error(); got != "invalid: unknown log level 9" {
		t.Errorf("invalid level: %q", got)
	}
	checkEvents(t, events,
		`host.log {"level":"debug","message":"d"}`,
		`host.log {"level":"info","message":"3 items"}`,
		`host.log {"level":"warn","message":"w"}`,
		`host.log {"level":"error","message":"bad � byte"}`,
		`host.log {"error":{"code":"invalid","message":"unknown log level 9"},"level":"Level(9)"}`,
		`host.log {"error":{"code":"too_large","message":"a log message is at most 65536 bytes"},"level":"info"}`,
	)
}

func TestProgressAndOutput(t *testing.T) {
	var errs []error
	out, events, err := sdktest.Run(tool(sdk.Needs{}, func(c *sdk.Call) (any, error) {
		errs = append(errs,
			c.Progress(1, 3, "one"),
			c.Output("chunk 1\n"),
			c.Progress(1, 3, "again"),
			c.Progress(2.5, 0, ""),
		)
		return "done", nil
	}), struct{}{})
	if err != nil || out != "done" {
		t.Fatalf("Run: %v, %v", out, err)
	}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], sdk.ErrInvalid) || errs[3] != nil {
		t.Errorf("errors %v", errs)
	}
	checkEvents(t, events,
		`host.progress {"message":"one","progress":1,"total":3}`,
		`host.output {"chunk":"chunk 1\n"}`,
		`host.progress {"error":{"code":"invalid","message":"progress 1 does not increase from 1"}}`,
		`host.progress {"progress":2.5}`,
	)
}

func TestLimits(t *testing.T) {
	loud := func(c *sdk.Call) (any, error) {
		for i := 0; ; i++ {
			c.Log(sdk.LevelInfo, "x")
		}
	}
	claims := func(l sdk.Limits) *sdk.Claims {
		cl := sdktest.DefaultClaims("t", sdk.Needs{})
		cl.Cap.Limits = l
		return &cl
	}
	tests := []struct {
		name   string
		limits sdk.Limits
		run    func(c *sdk.Call) (any, error)
		want   string
		events int
	}{
		{"host calls", sdk.Limits{HostCalls: 5}, loud, "host_call_limit: more than 5 host calls", 5},
		{"events", sdk.Limits{Events: 3}, loud, "output_limit: more than 3 events", 3},
		{"chunks", sdk.Limits{OutputBytes: 10}, func(c *sdk.Call) (any, error) {
			c.Output("123456")
			c.Output("123456")
			return nil, nil
		}, "output_limit: output is over 10 bytes", 1},
		{"chunks plus result", sdk.Limits{OutputBytes: 10}, func(c *sdk.Call) (any, error) {
			c.Output("123456")
			return "12345", nil // 7 bytes of JSON
		}, "output_limit: output is over 10 bytes", 1},
		{"log, progress, chunks and result", sdk.Limits{OutputBytes: 10}, func(c *sdk.Call) (any, error) {
			c.Log(sdk.LevelInfo, "123")
			c.Progress(1, 0, "45")
			c.Output("6")
			return "123", nil // 5 bytes of JSON
		}, "output_limit: output is over 10 bytes", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, events, err := sdktest.RunWith(&sdktest.Host{Claims: claims(tt.limits)}, tool(sdk.Needs{}, tt.run), struct{}{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %s", err, tt.want)
			}
			if len(events) != tt.events {
				t.Errorf("%d events, want %d", len(events), tt.events)
			}
		})
	}
}

func TestHTTP(t *testing.T) {
	needs := sdk.Needs{HTTP: []sdk.HTTPNeed{{URL: "*", Methods: []string{"*"}}}}
	var seen []sdk.HTTPRequest
	h := &sdktest.Host{HTTP: func(req sdk.HTTPRequest) (sdk.HTTPResponse, error) {
		seen = append(seen, req)
		switch {
		case strings.Contains(req.URL, "secret"):
			return sdk.HTTPResponse{}, sdktest.Deny("url is not in the allowlist")
		case strings.Contains(req.URL, "down"):
			return sdk.HTTPResponse{}, errors.New("connection refused")
		}
		return sdk.HTTPResponse{Status: 201, Headers: map[string]string{"Content-Type": "text/plain"}, Body: "made"}, nil
	}}
	type result struct {
		Resp sdk.HTTPResponse
		Errs []string
	}
	out, events, err := sdktest.RunWith(h, sdk.Tool[struct{}, result]{
		Name:  "t",
		Needs: needs,
		Run: func(c *sdk.Call, _ struct{}) (result, error) {
			var r result
			var err error
			r.Resp, err = c.HTTP(sdk.HTTPRequest{Method: "POST", URL: "https://api.example.com/items?key=k", Headers: map[string]string{"X": "1"}, Body: "b"})
			if err != nil {
				return r, err
			}
			for _, u := range []string{"https://secret.example.com/", "https://down.example.com/", "ftp://x/"} {
				_, err := c.HTTP(sdk.HTTPRequest{URL: u})
				kind := "other"
				switch {
				case errors.Is(err, sdk.ErrDenied):
					kind = "denied"
				case errors.Is(err, sdk.ErrUpstream):
					kind = "upstream"
				case errors.Is(err, sdk.ErrInvalid):
					kind = "invalid"
				}
				r.Errs = append(r.Errs, kind+": "+err.Error())
			}
			return r, nil
		},
	}, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Resp.Status != 201 || out.Resp.Body != "made" || out.Resp.Headers["Content-Type"] != "text/plain" || out.Resp.URL != "https://api.example.com/items?key=k" {
		t.Errorf("response %+v", out.Resp)
	}
	if got := seen[0]; got.Method != "POST" || got.Headers["X"] != "1" || got.Body != "b" {
		t.Errorf("upstream saw %+v", got)
	}
	if seen[1].Method != "GET" {
		t.Errorf("default method %q, want GET", seen[1].Method)
	}
	wantErrs := []string{
		"denied: denied: url is not in the allowlist",
		"upstream: upstream: connection refused",
		`invalid: invalid: "ftp://x/" is not an absolute http or https URL`,
	}
	if fmt.Sprint(out.Errs) != fmt.Sprint(wantErrs) {
		t.Errorf("errors %q, want %q", out.Errs, wantErrs)
	}
	checkEvents(t, events,
		`host.http {"bytes":4,"durationMs":0,"method":"POST","status":201,"url":"https://api.example.com/items"}`,
		`host.http {"bytes":0,"denied":{"grant":"http","reason":"url is not in the allowlist"},"durationMs":0,"method":"GET","url":"https://secret.example.com/"}`,
		`host.http {"bytes":0,"durationMs":0,"error":{"code":"upstream","message":"connection refused"},"method":"GET","url":"https://down.example.com/"}`,
		`host.http {"bytes":0,"durationMs":0,"error":{"code":"invalid","message":"\"ftp://x/\" is not an absolute http or https URL"},"method":"GET","url":"ftp://x/"}`,
	)

	// A tool that declares no HTTP needs is refused, whatever the upstream.
	_, events, err = sdktest.RunWith(h, tool(sdk.Needs{}, func(c *sdk.Call) (any, error) {
		_, err := c.HTTP(sdk.HTTPRequest{URL: "https://api.example.com/"})
		return nil, err
	}), struct{}{})
	if err == nil || err.Error() != "tool_error: denied: no outbound HTTP is granted" {
		t.Errorf("undeclared HTTP: %v", err)
	}
	if len(events) != 1 || events[0].Data["denied"] == nil {
		t.Errorf("undeclared HTTP events %v", events)
	}
}

func TestKV(t *testing.T) {
	h := &sdktest.Host{KV: map[string][]byte{"seed": []byte("s")}}
	type result struct {
		Seed, Got string
		Keys      []string
		Missing   bool
		AfterDel  []string
	}
	out, events, err := sdktest.RunWith(h, sdk.Tool[struct{}, result]{
		Name:  "t",
		Needs: sdk.Needs{KV: &sdk.KVNeed{Write: true}},
		Run: func(c *sdk.Call, _ struct{}) (r result, err error) {
			seed, err := c.KVGet("seed")
			if err != nil {
				return r, err
			}
			r.Seed = string(seed)
			for _, k := range []string{"b/2", "b/1", "a"} {
				if err := c.KVSet(k, []byte("v"+k)); err != nil {
					return r, err
				}
			}
			got, err := c.KVGet("b/1")
			if err != nil {
				return r, err
			}
			r.Got = string(got)
			if r.Keys, err = c.KVList("b/"); err != nil {
				return r, err
			}
			_, err = c.KVGet("nope")
			r.Missing = errors.Is(err, sdk.ErrNotFound)
			if err := c.KVDelete("b/1"); err != nil {
				return r, err
			}
			if err := c.KVDelete("never"); err != nil {
				return r, err
			}
			r.AfterDel, err = c.KVList("")
			return r, err
		},
	}, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	want := result{Seed: "s", Got: "vb/1", Keys: []string{"b/1", "b/2"}, Missing: true, AfterDel: []string{"a", "b/2", "seed"}}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("result %+v, want %+v", out, want)
	}
	if string(h.KV["b/2"]) != "vb/2" || h.KV["b/1"] != nil {
		t.Errorf("namespace after the call: %q", h.KV)
	}
	checkEvents(t, events,
		`host.kv {"bytes":1,"hit":true,"key":"seed","op":"get"}`,
		`host.kv {"bytes":4,"key":"b/2","op":"set"}`,
		`host.kv {"bytes":4,"key":"b/1","op":"set"}`,
		`host.kv {"bytes":2,"key":"a","op":"set"}`,
		`host.kv {"bytes":4,"hit":true,"key":"b/1","op":"get"}`,
		`host.kv {"count":2,"key":"b/","op":"list"}`,
		`host.kv {"hit":false,"key":"nope","op":"get"}`,
		`host.kv {"hit":true,"key":"b/1","op":"delete"}`,
		`host.kv {"hit":false,"key":"never","op":"delete"}`,
		`host.kv {"count":3,"key":"","op":"list"}`,
	)
}

func TestKVRefusals(t *testing.T) {
	big := strings.Repeat("k", 1025)
	tests := []struct {
		name  string
		needs sdk.Needs
		quota int64
		op    func(c *sdk.Call) error
		want  *sdk.Error
		msg   string
	}{
		{"no need declared", sdk.Needs{}, 0, func(c *sdk.Call) error { _, err := c.KVGet("k"); return err },
			sdk.ErrDenied, "denied: the capability grants no key-value storage"},
		{"read-only set", sdk.Needs{KV: &sdk.KVNeed{}}, 0, func(c *sdk.Call) error { return c.KVSet("k", nil) },
			sdk.ErrDenied, "denied: the capability grants read-only key-value storage"},
		{"read-only delete", sdk.Needs{KV: &sdk.KVNeed{}}, 0, func(c *sdk.Call) error { return c.KVDelete("k") },
			sdk.ErrDenied, "denied: the capability grants read-only key-value storage"},
		{"empty key", sdk.Needs{KV: &sdk.KVNeed{Write: true}}, 0, func(c *sdk.Call) error { return c.KVSet("", []byte("v")) },
			sdk.ErrInvalid, "invalid: the key is empty"},
		{"long key", sdk.Needs{KV: &sdk.KVNeed{Write: true}}, 0, func(c *sdk.Call) error { return c.KVSet(big, []byte("v")) },
			sdk.ErrTooLarge, "too_large: a key is at most 1024 bytes"},
		{"large value", sdk.Needs{KV: &sdk.KVNeed{Write: true}}, 0, func(c *sdk.Call) error { return c.KVSet("k", make([]byte, 1<<20+1)) },
			sdk.ErrTooLarge, "too_large: a value is at most 1048576 bytes"},
		{"quota", sdk.Needs{KV: &sdk.KVNeed{Write: true}}, 10, func(c *sdk.Call) error {
			if err := c.KVSet("k", []byte("12345678")); err != nil { // 9 bytes
				return err
			}
			if err := c.KVSet("k", []byte("123456789")); err != nil { // replaces: 10 bytes
				return err
			}
			return c.KVSet("j", nil) // 11 bytes
		}, sdk.ErrQuota, "quota: the namespace would hold 11 bytes, over its quota of 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &sdktest.Host{}
			if tt.quota > 0 {
				cl := sdktest.DefaultClaims("t", tt.needs)
				cl.Cap.KV.Quota = tt.quota
				h.Claims = &cl
			}
			var opErr error
			_, events, err := sdktest.RunWith(h, tool(tt.needs, func(c *sdk.Call) (any, error) {
				opErr = tt.op(c)
				return nil, nil
			}), struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(opErr, tt.want) || opErr.Error() != tt.msg {
				t.Errorf("error %v, want %s", opErr, tt.msg)
			}
			last := events[len(events)-1]
			if last.Type != "host.kv" || (last.Data["denied"] == nil && last.Data["error"] == nil) {
				t.Errorf("last event %v does not carry the refusal", last)
			}
		})
	}
}

func TestCapability(t *testing.T) {
	needs := sdk.Needs{KV: &sdk.KVNeed{Write: true}, HTTP: []sdk.HTTPNeed{{URL: "https://api.example.com/", Methods: []string{"GET"}}}}
	out, events, err := sdktest.Run(sdk.Tool[struct{}, sdk.Claims]{
		Name:  "who",
		Needs: needs,
		Run:   func(c *sdk.Call, _ struct{}) (sdk.Claims, error) { return c.Capability() },
	}, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	want := sdktest.DefaultClaims("who", needs)
	if !reflect.DeepEqual(out, want) {
		t.Errorf("claims\n got %+v\nwant %+v", out, want)
	}
	if out.Subject != "tester" || out.Cap.KV.Namespace != "who/tester" || out.Cap.HTTP[0].URL != "https://api.example.com/" {
		t.Errorf("claims %+v", out)
	}
	if len(events) != 1 || events[0].Type != "host.capability" {
		t.Errorf("events %v", events)
	}
}

func TestAudience(t *testing.T) {
	tests := []struct {
		json string
		want sdk.Audience
	}{
		{`"one"`, sdk.Audience{"one"}},
		{`["a","b"]`, sdk.Audience{"a", "b"}},
		{`null`, nil},
	}
	for _, tt := range tests {
		var a sdk.Audience
		if err := a.UnmarshalJSON([]byte(tt.json)); err != nil || fmt.Sprint(a) != fmt.Sprint(tt.want) || (a == nil) != (tt.want == nil) {
			t.Errorf("UnmarshalJSON(%s) = %q, %v; want %q", tt.json, a, err, tt.want)
		}
	}
	var a sdk.Audience
	if err := a.UnmarshalJSON([]byte(`3`)); err == nil {
		t.Error("UnmarshalJSON(3) succeeded")
	}
}

// TestConcurrentHostCalls makes host calls from many goroutines of one
// call: each must read what its own call staged.
func TestConcurrentHostCalls(t *testing.T) {
	h := &sdktest.Host{KV: map[string][]byte{}}
	for i := range 50 {
		h.KV[fmt.Sprint("k", i)] = []byte(fmt.Sprint("v", i))
	}
	_, _, err := sdktest.RunWith(h, tool(sdk.Needs{KV: &sdk.KVNeed{}}, func(c *sdk.Call) (any, error) {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				for range 5 { // 250 host calls in all, inside the limit
					v, err := c.KVGet(fmt.Sprint("k", i))
					if want := fmt.Sprint("v", i); err != nil || string(v) != want {
						t.Errorf("KVGet(k%d) = %q, %v; want %q", i, v, err, want)
						return
					}
				}
			})
		}
		wg.Wait()
		return nil, nil
	}), struct{}{})
	if err != nil {
		t.Fatal(err)
	}
}
