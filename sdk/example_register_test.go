package sdk_test

import (
	"fmt"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/sdktest"
)

// Input is the echo tool's input. Its JSON Schema comes from its fields.
type Input struct {
	Text string `json:"text" jsonschema:"description=Text to echo back"`
}

// Output is the echo tool's result.
type Output struct {
	Text string `json:"text"`
}

// In a tool's package main, Register is called from init, and main is
// empty:
//
//	func init() { sdk.Register(sdk.Tool[Input, Output]{…}) }
//
//	func main() {}
//
// Built with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, the
// module exports the tool to the runtime. Natively, sdktest calls it as the
// runtime would and shows the events the call streams.
func ExampleRegister() {
	sdk.Register(sdk.Tool[Input, Output]{
		Name:        "echo",
		Title:       "Echo",
		Description: "Returns its input.",
		Run: func(c *sdk.Call, in Input) (Output, error) {
			c.Logf(sdk.LevelInfo, "echoing %d bytes", len(in.Text))
			return Output{Text: in.Text}, nil
		},
	})

	manifest, _ := sdktest.Manifest()
	fmt.Println(string(manifest))

	out, events, err := (&sdktest.Host{}).Call(`{"text":"hello"}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range events {
		fmt.Println(e)
	}
	fmt.Println(string(out))
	// Output:
	// {"name":"echo","title":"Echo","description":"Returns its input.","inputSchema":{"type":"object","properties":{"text":{"type":"string","description":"Text to echo back"}},"required":["text"],"additionalProperties":false}}
	// host.log {"level":"info","message":"echoing 5 bytes"}
	// {"text":"hello"}
}
