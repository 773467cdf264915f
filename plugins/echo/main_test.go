package main

import (
	"testing"

	"github.com/capstream/capstream/sdk/sdktest"
)

func TestEcho(t *testing.T) {
	out, events, err := (&sdktest.Host{}).Call(`{"text":"héllo <b>"}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"text":"héllo <b>"}`; string(out) != want {
		t.Errorf("output %s, want %s", out, want)
	}
	if len(events) != 1 || events[0].String() != `host.log {"level":"info","message":"echoing 10 bytes"}` {
		t.Errorf("events %v, want one log line", events)
	}
}

func TestEchoManifest(t *testing.T) {
	m, err := sdktest.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"echo","title":"Echo","description":"Returns its input text unchanged, and logs one line.",` +
		`"inputSchema":{"type":"object","properties":{"text":{"type":"string","description":"Text to echo back"}},"required":["text"],"additionalProperties":false},` +
		`"annotations":{"readOnlyHint":true,"openWorldHint":false}}`
	if string(m) != want {
		t.Errorf("manifest\n got %s\nwant %s", m, want)
	}
}
