package sdk_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/sdktest"
)

type echoIn struct {
	Text string `json:"text" jsonschema:"description=Text to echo back"`
}

type echoOut struct {
	Text string `json:"text"`
}

func echoTool() sdk.Tool[echoIn, echoOut] {
	return sdk.Tool[echoIn, echoOut]{
		Name: "echo", Title: "Echo", Description: "Returns its input.",
		Run: func(c *sdk.Call, in echoIn) (echoOut, error) { return echoOut(in), nil },
	}
}

// mustPanic runs f and returns the message it panicked with.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		msg, _ = r.(string)
	}()
	f()
	return ""
}

func TestRegister(t *testing.T) {
	sdk.ResetRegistration()
	t.Cleanup(sdk.ResetRegistration)

	sdk.Register(echoTool())
	out, _, err := (&sdktest.Host{}).Call(`{"text":"hi"}`)
	if err != nil || string(out) != `{"text":"hi"}` {
		t.Fatalf("registered tool: %s, %v", out, err)
	}

	other := echoTool()
	other.Name = "other"
	msg := mustPanic(t, func() { sdk.Register(other) })
	if want := `sdk: Register("other"): tool "echo" is already registered`; !strings.Contains(msg, want) {
		t.Errorf("second Register panicked with %q, want it to contain %q", msg, want)
	}
}

func TestRegisterInvalid(t *testing.T) {
	sdk.ResetRegistration()
	t.Cleanup(sdk.ResetRegistration)

	bad := echoTool()
	bad.Name = "Echo"
	if msg := mustPanic(t, func() { sdk.Register(bad) }); !strings.Contains(msg, `tool name "Echo" does not match`) {
		t.Errorf("bad name: panic %q", msg)
	}
	noRun := echoTool()
	noRun.Run = nil
	if msg := mustPanic(t, func() { sdk.Register(noRun) }); !strings.Contains(msg, `tool "echo" has no Run function`) {
		t.Errorf("nil Run: panic %q", msg)
	}
}

func TestNothingRegistered(t *testing.T) {
	sdk.ResetRegistration()
	const want = "no tool is registered"
	if _, err := sdktest.Manifest(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Manifest: %v, want an error containing %q", err, want)
	}
	_, _, err := (&sdktest.Host{}).Call(`{}`)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Call: %v, want an error containing %q", err, want)
	}
}

func TestManifest(t *testing.T) {
	tool := echoTool()
	tool.Needs = sdk.Needs{
		HTTP: []sdk.HTTPNeed{{URL: "https://api.example.com/v1/", Methods: []string{"GET", "POST"}}},
		KV:   &sdk.KVNeed{Write: true},
	}
	tool.Annotations = &sdk.Annotations{Title: "Echo!", ReadOnlyHint: new(true), DestructiveHint: new(false)}
	tool.OutputSchema = json.RawMessage(`{ "type": "object" }`)
	got, err := tool.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"echo","title":"Echo","description":"Returns its input.",` +
		`"inputSchema":{"type":"object","properties":{"text":{"type":"string","description":"Text to echo back"}},"required":["text"],"additionalProperties":false},` +
		`"outputSchema":{"type":"object"},` +
		`"annotations":{"title":"Echo!","readOnlyHint":true,"destructiveHint":false},` +
		`"needs":{"http":[{"url":"https://api.example.com/v1/","methods":["GET","POST"]}],"kv":{"write":true}}}`
	if string(got) != want {
		t.Errorf("manifest\n got %s\nwant %s", got, want)
	}

	minimal, err := sdk.Tool[struct{}, struct{}]{Name: "min", Run: func(*sdk.Call, struct{}) (struct{}, error) { return struct{}{}, nil }}.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"min","inputSchema":{"type":"object","properties":{},"additionalProperties":false}}`; string(minimal) != want {
		t.Errorf("minimal manifest\n got %s\nwant %s", minimal, want)
	}
}

func TestManifestInputSchema(t *testing.T) {
	tool := echoTool()
	tool.InputSchema = json.RawMessage("{\n  \"type\": \"object\",\n  \"properties\": {\"text\": {\"type\": \"string\"}}\n}")
	got, err := tool.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"inputSchema":{"type":"object","properties":{"text":{"type":"string"}}}`; !strings.Contains(string(got), want) {
		t.Errorf("manifest %s does not contain the given schema, compacted: %s", got, want)
	}
}

func TestManifestErrors(t *testing.T) {
	run := func(*sdk.Call, string) (string, error) { return "", nil }
	tests := []struct {
		name     string
		manifest func() (json.RawMessage, error)
		want     string
	}{
		{"input not an object", sdk.Tool[string, string]{Name: "x", Run: run}.Manifest,
			`tool "x": input type string is not a JSON object`},
		{"bad tag", sdk.Tool[struct {
			N int `json:"n" jsonschema:"enum=a"`
		}, string]{Name: "x", Run: func(*sdk.Call, struct {
			N int `json:"n" jsonschema:"enum=a"`
		}) (string, error) {
			return "", nil
		}}.Manifest, `field n: jsonschema tag: enum: "a" is not an integer`},
		{"InputSchema not JSON", sdk.Tool[string, string]{Name: "x", Run: run, InputSchema: json.RawMessage(`{`)}.Manifest,
			"InputSchema: not a JSON object"},
		{"InputSchema not type object", sdk.Tool[string, string]{Name: "x", Run: run, InputSchema: json.RawMessage(`{"type":"string"}`)}.Manifest,
			`InputSchema: the input schema must have "type": "object"`},
		{"OutputSchema not an object", sdk.Tool[string, string]{Name: "x", Run: run, InputSchema: json.RawMessage(`{"type":"object"}`), OutputSchema: json.RawMessage(`true`)}.Manifest,
			"OutputSchema: not a JSON object"},
		{"no name", sdk.Tool[string, string]{Run: run}.Manifest, `tool name "" does not match`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.manifest()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Manifest: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	type in struct {
		N     int   `json:"n"`
		Small uint8 `json:"small,omitempty"`
	}
	tool := sdk.Tool[in, int]{
		Name: "n",
		Run: func(_ *sdk.Call, in in) (int, error) {
			if in.N < 0 {
				return 0, errors.New("n is negative")
			}
			return in.N, nil
		},
	}
	tests := []struct {
		input string
		code  string
		msg   string
	}{
		{`{"n":"x"}`, "tool_error", `invalid input: field "n": want an integer, got string`},
		{`{"n":1,"small":300}`, "tool_error", `invalid input: field "small": want an integer from 0 to 255, got number 300`},
		{`[1]`, "tool_error", "invalid input: json: cannot unmarshal array into Go value of type sdk_test.in"},
		{`{"n":-1}`, "tool_error", "n is negative"},
	}
	for _, tt := range tests {
		_, _, err := sdktest.RunJSON(&sdktest.Host{}, tool, tt.input)
		var f *sdktest.Failure
		if !errors.As(err, &f) {
			t.Errorf("input %s: error %v, want a *sdktest.Failure", tt.input, err)
			continue
		}
		if f.Code != tt.code || f.Message != tt.msg {
			t.Errorf("input %s: failure %s: %q, want %s: %q", tt.input, f.Code, f.Message, tt.code, tt.msg)
		}
	}
	out, _, err := sdktest.RunJSON(&sdktest.Host{}, tool, `{"n":7,"extra":true}`)
	if err != nil || string(out) != "7" {
		t.Errorf("valid input: %s, %v", out, err)
	}
}

func TestOutputEncoding(t *testing.T) {
	tool := sdk.Tool[struct{}, map[string]any]{
		Name: "enc",
		Run: func(*sdk.Call, struct{}) (map[string]any, error) {
			return map[string]any{"html": "<b>&</b>", "n": 1.5}, nil
		},
	}
	out, _, err := sdktest.RunJSON(&sdktest.Host{}, tool, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"html":"<b>&</b>","n":1.5}`; string(out) != want {
		t.Errorf("output %s, want %s", out, want)
	}

	bad := sdk.Tool[struct{}, func()]{
		Name: "bad",
		Run:  func(*sdk.Call, struct{}) (func(), error) { return func() {}, nil },
	}
	_, _, err = sdktest.RunJSON(&sdktest.Host{}, bad, `{}`)
	if err == nil || !strings.Contains(err.Error(), "sdk: encoding output: json: unsupported type: func()") {
		t.Errorf("unencodable output: %v", err)
	}
}

func TestPanicIsNotRecovered(t *testing.T) {
	tool := sdk.Tool[struct{}, struct{}]{
		Name: "boom",
		Run:  func(*sdk.Call, struct{}) (struct{}, error) { panic("boom") },
	}
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the tool's panic", r)
		}
	}()
	sdktest.Run(tool, struct{}{})
	t.Error("Run returned after a panic")
}
