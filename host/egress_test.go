package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
)

// fixtures is an Egress of an embedder's own: it answers from a map, and
// refuses what the rules do not name or what it has no fixture for.
type fixtures struct {
	answers map[string]string
	seen    []string
}

func (f *fixtures) Do(_ context.Context, rules []host.HTTPRule, req host.HTTPRequest) (host.HTTPResponse, error) {
	f.seen = append(f.seen, req.Method+" "+req.URL)
	allowed := false
	for _, r := range rules {
		allowed = allowed || strings.HasPrefix(req.URL, r.URL)
	}
	body, ok := f.answers[req.URL]
	switch {
	case !allowed:
		return host.HTTPResponse{}, &host.HTTPDenied{URL: f.Redact(req.URL), Reason: "no fixture rule allows " + f.Redact(req.URL)}
	case !ok:
		return host.HTTPResponse{}, errors.New("no fixture for " + f.Redact(req.URL))
	}
	return host.HTTPResponse{Status: 200, Headers: map[string]string{"Content-Type": "text/plain"}, Body: body, URL: req.URL, Bytes: int64(len(body))}, nil
}

func (f *fixtures) Redact(u string) string { return strings.ReplaceAll(u, "hunter2", "[redacted]") }

// TestEgressOfYourOwn: host.Config takes any Egress. The engine shows its
// redacted URL in the event, and turns its answer, its refusal and its
// failure into the ABI's response, denial and upstream error.
func TestEgressOfYourOwn(t *testing.T) {
	fx := &fixtures{answers: map[string]string{"https://api.test/v1/items?key=hunter2": "three items"}}
	f := newFixtureConfig(t, host.Config{Egress: fx})
	fetch := f.load("plugins/fetch")
	g := grantAll(capability.HTTPRule{URL: "https://api.test/v1/"})
	fetchURL := func(u string) (host.Result, []map[string]any) {
		t.Helper()
		res, rec := f.call("alice", fetch, g, fmt.Sprintf(`{"url":%q}`, u))
		evs := rec.ofType("host.http")
		if len(evs) != 1 {
			t.Fatalf("%s: events %v, want one host.http", u, rec.types())
		}
		if strings.Contains(fmt.Sprint(evs[0]), "hunter2") {
			t.Fatalf("event %v holds what Redact removes", evs[0])
		}
		return res, evs
	}

	res, evs := fetchURL("https://api.test/v1/items?key=hunter2")
	var out struct {
		Status int
		Body   string
	}
	json.Unmarshal(res.Output, &out)
	if res.Failure != nil || out.Status != 200 || out.Body != "three items" || evs[0]["status"] != float64(200) {
		t.Fatalf("allowed: failure %v, output %s, event %v", res.Failure, res.Output, evs[0])
	}

	res, evs = fetchURL("https://api.test/admin")
	d, _ := evs[0]["denied"].(map[string]any)
	if res.Failure == nil || d == nil || d["grant"] != "http" || !strings.HasPrefix(d["reason"].(string), "no fixture rule allows") {
		t.Fatalf("refused: failure %v, event %v; want the Egress's refusal as data", res.Failure, evs[0])
	}

	res, evs = fetchURL("https://api.test/v1/other")
	e, _ := evs[0]["error"].(map[string]any)
	if res.Failure == nil || e == nil || e["code"] != "upstream" || e["message"] != "no fixture for https://api.test/v1/other" {
		t.Fatalf("failed: failure %v, event %v; want an upstream error", res.Failure, evs[0])
	}
	if len(fx.seen) != 3 {
		t.Fatalf("the Egress saw %q, want the three requests", fx.seen)
	}
}
