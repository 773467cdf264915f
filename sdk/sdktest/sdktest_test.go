package sdktest_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/sdktest"
)

type greetIn struct {
	Name string `json:"name"`
}

// greet is registered, as a tool's package main would register it.
var greet = sdk.Tool[greetIn, string]{
	Name: "greet",
	Run: func(c *sdk.Call, in greetIn) (string, error) {
		if in.Name == "" {
			return "", errors.New("no name")
		}
		c.Output("thinking\n")
		return "hello, " + in.Name, nil
	},
}

func init() { sdk.Register(greet) }

func TestCallRegistered(t *testing.T) {
	h := &sdktest.Host{}
	out, events, err := h.Call(`{"name":"ada"}`)
	if err != nil || string(out) != `"hello, ada"` {
		t.Fatalf("Call: %s, %v", out, err)
	}
	if len(events) != 1 || events[0].String() != `host.output {"chunk":"thinking\n"}` {
		t.Errorf("events %v", events)
	}
	_, events, err = h.Call(`{}`)
	var f *sdktest.Failure
	if !errors.As(err, &f) || f.Code != "tool_error" || f.Message != "no name" || len(events) != 0 {
		t.Errorf("failing call: %v, events %v", err, events)
	}
	m, err := sdktest.Manifest()
	if err != nil || !strings.HasPrefix(string(m), `{"name":"greet","inputSchema":`) {
		t.Errorf("Manifest: %s, %v", m, err)
	}
}

func TestNullOutput(t *testing.T) {
	var c *sdk.Call
	out, _, err := sdktest.Run(sdk.Tool[struct{}, *int]{
		Name: "nil",
		Run:  func(call *sdk.Call, _ struct{}) (*int, error) { c = call; return nil, nil },
	}, struct{}{})
	if err != nil || out != nil || c == nil {
		t.Errorf("Run: %v, %v", out, err)
	}
}

func TestEventData(t *testing.T) {
	_, events, err := sdktest.Run(sdk.Tool[struct{}, struct{}]{
		Name:  "kv",
		Needs: sdk.Needs{KV: &sdk.KVNeed{Write: true}},
		Run:   func(c *sdk.Call, _ struct{}) (struct{}, error) { return struct{}{}, c.KVSet("k", []byte("abc")) },
	}, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	// Data is as a client decodes it from JSON: numbers are float64.
	if got := events[0].Data["bytes"]; got != float64(3) {
		t.Errorf("bytes = %#v, want float64(3)", got)
	}
}

// TestConcurrentCalls runs calls at once against one Host, for the race
// detector: each call sees its own input and the namespace stays whole.
func TestConcurrentCalls(t *testing.T) {
	h := &sdktest.Host{}
	tool := sdk.Tool[greetIn, string]{
		Name:  "keep",
		Needs: sdk.Needs{KV: &sdk.KVNeed{Write: true}},
		Run: func(c *sdk.Call, in greetIn) (string, error) {
			if err := c.KVSet("name/"+in.Name, []byte(in.Name)); err != nil {
				return "", err
			}
			v, err := c.KVGet("name/" + in.Name)
			return string(v), err
		},
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			name := fmt.Sprint("p", i)
			out, _, err := sdktest.RunWith(h, tool, greetIn{Name: name})
			if err != nil || out != name {
				t.Errorf("call %d: %q, %v", i, out, err)
			}
		})
	}
	wg.Wait()
	if len(h.KV) != 50 {
		t.Errorf("%d keys, want 50", len(h.KV))
	}
}

func TestInvalidManifest(t *testing.T) {
	_, _, err := sdktest.Run(sdk.Tool[int, int]{Name: "n", Run: func(*sdk.Call, int) (int, error) { return 0, nil }}, 1)
	if err == nil || !strings.Contains(err.Error(), "input type int is not a JSON object") {
		t.Errorf("Run of a tool with a bad manifest: %v", err)
	}
}
