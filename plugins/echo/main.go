// Command echo is the capstream tool that returns its input text: the
// smallest useful tool, and the one the runtime's benchmarks call.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o echo.wasm .
package main

import "github.com/capstream/capstream/sdk"

// Input is what echo takes.
type Input struct {
	Text string `json:"text" jsonschema:"description=Text to echo back"`
}

// Output is what echo returns.
type Output struct {
	Text string `json:"text"`
}

var tool = sdk.Tool[Input, Output]{
	Name:        "echo",
	Title:       "Echo",
	Description: "Returns its input text unchanged, and logs one line.",
	Annotations: &sdk.Annotations{ReadOnlyHint: new(true), OpenWorldHint: new(false)},
	Run: func(c *sdk.Call, in Input) (Output, error) {
		if err := c.Logf(sdk.LevelInfo, "echoing %d bytes", len(in.Text)); err != nil {
			return Output{}, err
		}
		return Output{Text: in.Text}, nil
	},
}

func init() { sdk.Register(tool) }

func main() {}
