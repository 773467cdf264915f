// Command conform is the Go SDK's conformance tool: it does what
// sdk/conformance/SPEC.md says, as every other language's conform does, so
// that one table of scenarios checks them all.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o conform.wasm .
package main

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/capstream/capstream/sdk"
)

// Input holds the arguments of every op; each op reads its own.
type Input struct {
	Op      string  `json:"op"`
	Text    string  `json:"text"`
	URL     string  `json:"url"`
	Method  string  `json:"method"`
	Key     string  `json:"key"`
	Value   string  `json:"value"`
	Prefix  string  `json:"prefix"`
	Message string  `json:"message"`
	MiB     float64 `json:"mib"`
}

var tool = sdk.Tool[json.RawMessage, any]{
	Name:        "conform",
	Title:       "Conformance",
	Description: "Runs one scenario of capstream's cross-language conformance suite.",
	InputSchema: json.RawMessage(`{"type":"object","properties":{"op":{"type":"string"}},"required":["op"]}`),
	Needs: sdk.Needs{
		HTTP: []sdk.HTTPNeed{{URL: "*", Methods: []string{"GET"}}},
		KV:   &sdk.KVNeed{Write: true},
	},
	Run: run,
}

func init() { sdk.Register(tool) }

func main() {}

// ok is the output of an op that succeeded with nothing to say.
var ok = map[string]bool{"ok": true}

func run(c *sdk.Call, raw json.RawMessage) (any, error) {
	var in Input
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, err
	}
	switch in.Op {
	case "echo":
		return map[string]string{"echo": in.Text}, nil
	case "input":
		return raw, nil
	case "events":
		for level, msg := range []string{"debug", "info", "warn", "error ü"} {
			if err := c.Log(sdk.Level(level), msg); err != nil {
				return nil, err
			}
		}
		for _, p := range []struct {
			progress, total float64
			msg             string
		}{{1, 3, "one"}, {2, 3, ""}, {3, 0, ""}} {
			if err := c.Progress(p.progress, p.total, p.msg); err != nil {
				return nil, err
			}
		}
		if err := c.Output("partial é"); err != nil {
			return nil, err
		}
		return ok, nil
	case "http":
		resp, err := c.HTTP(sdk.HTTPRequest{Method: in.Method, URL: in.URL})
		if err != nil {
			return refusal(err)
		}
		var contentType *string
		if v, found := resp.Headers["Content-Type"]; found {
			contentType = &v
		}
		return map[string]any{"status": resp.Status, "url": resp.URL, "body": resp.Body, "contentType": contentType}, nil
	case "kv_set":
		if err := c.KVSet(in.Key, []byte(in.Value)); err != nil {
			return refusal(err)
		}
		return ok, nil
	case "kv_get":
		v, err := c.KVGet(in.Key)
		if err != nil {
			return refusal(err)
		}
		return map[string]string{"value": string(v)}, nil
	case "kv_delete":
		if err := c.KVDelete(in.Key); err != nil {
			return refusal(err)
		}
		return ok, nil
	case "kv_list":
		keys, err := c.KVList(in.Prefix)
		if err != nil {
			return refusal(err)
		}
		return map[string][]string{"keys": keys}, nil
	case "capability":
		claims, err := c.Capability()
		if err != nil {
			return refusal(err)
		}
		return map[string]any{"claims": claims}, nil
	case "fail":
		return nil, errors.New(in.Message)
	case "trap":
		panic(in.Message)
	case "badptr":
		rawLog(1, 0xFFFFFF00, 512)
		return ok, nil
	case "alloc":
		b := make([]byte, int(in.MiB)<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		return ok, nil
	case "spin":
		for {
		}
	case "flood":
		chunk := strings.Repeat("x", 1024)
		for {
			if err := c.Output(chunk); err != nil {
				return nil, err
			}
		}
	case "calls":
		for {
			if err := c.Log(sdk.LevelDebug, "tick"); err != nil {
				return nil, err
			}
		}
	}
	return nil, errors.New("unknown op: " + in.Op)
}

// refusal makes a host function's refusal the call's output.
func refusal(err error) (any, error) {
	var e *sdk.Error
	if !errors.As(err, &e) {
		return nil, err
	}
	return map[string]any{"error": map[string]any{"code": e.Code, "message": e.Message}}, nil
}
