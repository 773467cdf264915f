package main

import (
	"strings"
	"testing"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/sdktest"
)

func TestFetch(t *testing.T) {
	var got sdk.HTTPRequest
	h := &sdktest.Host{HTTP: func(req sdk.HTTPRequest) (sdk.HTTPResponse, error) {
		got = req
		return sdk.HTTPResponse{Status: 404, Headers: map[string]string{"Content-Type": "text/plain"}, Body: "not here"}, nil
	}}
	out, events, err := h.Call(`{"url":"https://api.example.com/v1/x","method":"POST","headers":{"Authorization":"Bearer {{secret:API_KEY}}"},"body":"{}"}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"status":404,"headers":{"Content-Type":"text/plain"},"body":"not here"}`; string(out) != want {
		t.Errorf("output %s, want %s", out, want)
	}
	if got.Method != "POST" || got.Headers["Authorization"] != "Bearer {{secret:API_KEY}}" || got.Body != "{}" {
		t.Errorf("request %+v", got)
	}
	if len(events) != 1 || events[0].Data["status"] != float64(404) {
		t.Errorf("events %v", events)
	}
}

func TestFetchDenied(t *testing.T) {
	h := &sdktest.Host{HTTP: func(sdk.HTTPRequest) (sdk.HTTPResponse, error) {
		return sdk.HTTPResponse{}, sdktest.Deny("url is not in the allowlist")
	}}
	_, events, err := h.Call(`{"url":"https://evil.example.net/"}`)
	want := "tool_error: fetching https://evil.example.net/: denied: url is not in the allowlist"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if len(events) != 1 || !strings.Contains(events[0].String(), `"denied":{"grant":"http","reason":"url is not in the allowlist"}`) {
		t.Errorf("events %v", events)
	}
}
