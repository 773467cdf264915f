package sdktest

import (
	"fmt"
	"testing"

	"github.com/capstream/capstream/sdk"
)

// TestHTTPWireMatchesHost: sdktest stages the response of the http host
// function byte for byte as the host does. httpWireJSON is the JSON that
// host's TestHTTPWireWAT checks a WebAssembly guest reads, for the same
// upstream answer (the host canonicalizes header names, and has no Date
// here because that upstream sends none).
func TestHTTPWireMatchesHost(t *testing.T) {
	const httpWireJSON = `{"status":201,"headers":{"Content-Length":"19","Content-Type":"text/plain; charset=utf-8","X-Custom":"v"},"body":"hi \"there\" \u003cb\u003e \u0026 é","url":"http://api.test:8080/wire"}`
	h := &Host{HTTP: func(req sdk.HTTPRequest) (sdk.HTTPResponse, error) {
		body := `hi "there" <b> & é`
		return sdk.HTTPResponse{Status: 201, Body: body, Headers: map[string]string{
			"content-type":   "text/plain; charset=utf-8",
			"Content-Length": fmt.Sprint(len(body)),
			"x-custom":       "v",
		}}, nil
	}}
	claims := DefaultClaims("httpwire", sdk.Needs{HTTP: []sdk.HTTPNeed{{URL: "http://api.test:8080/"}}})
	c := &call{host: h, claims: claims}
	n := c.HTTP([]byte(`{"url":"http://api.test:8080/wire"}`))
	if n < 0 || string(c.staged) != httpWireJSON {
		t.Fatalf("staged %d bytes:\n%s\nwant\n%s", n, c.staged, httpWireJSON)
	}

	// No headers at all is an empty object, as from the host.
	h.HTTP = func(sdk.HTTPRequest) (sdk.HTTPResponse, error) { return sdk.HTTPResponse{Status: 204}, nil }
	c.HTTP([]byte(`{"url":"http://api.test:8080/none"}`))
	if want := `{"status":204,"headers":{},"body":"","url":"http://api.test:8080/none"}`; string(c.staged) != want {
		t.Fatalf("staged %s, want %s", c.staged, want)
	}
}
