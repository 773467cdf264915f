package main

import (
	"testing"

	"github.com/capstream/capstream/sdk/sdktest"
)

// TestHello runs the tool natively, against sdktest's in-memory host.
func TestHello(t *testing.T) {
	out, events, err := sdktest.Run(tool, Input{Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Greeting != "Hello, Ada!" {
		t.Errorf("greeting %q", out.Greeting)
	}
	if len(events) != 1 || events[0].String() != `host.log {"level":"info","message":"greeting Ada"}` {
		t.Errorf("events %v, want one log line", events)
	}
}

// TestManifest checks what the runtime will read from the module: the
// name callers and policies use, and the input schema.
func TestManifest(t *testing.T) {
	m, err := sdktest.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"hello","title":"Hello","description":"Greets someone by name.",` +
		`"inputSchema":{"type":"object","properties":{"name":{"type":"string","description":"Who to greet","minLength":1,"maxLength":100}},"required":["name"],"additionalProperties":false},` +
		`"annotations":{"readOnlyHint":true,"openWorldHint":false}}`
	if string(m) != want {
		t.Errorf("manifest\n got %s\nwant %s", m, want)
	}
}
