// Command hello is a capstream tool template: it greets someone by name.
// Copy this directory, rename the tool and replace the logic (README.md).
//
// Build: make (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm .)
package main

import "github.com/capstream/capstream/sdk"

// Input is what the tool takes; the runtime checks every call's input
// against the JSON Schema the SDK derives from it.
type Input struct {
	Name string `json:"name" jsonschema:"description=Who to greet,minLength=1,maxLength=100"`
}

// Output is what the tool returns.
type Output struct {
	Greeting string `json:"greeting"`
}

var tool = sdk.Tool[Input, Output]{
	Name:        "hello",
	Title:       "Hello",
	Description: "Greets someone by name.",
	Annotations: &sdk.Annotations{ReadOnlyHint: new(true), OpenWorldHint: new(false)},
	Run: func(c *sdk.Call, in Input) (Output, error) {
		if err := c.Logf(sdk.LevelInfo, "greeting %s", in.Name); err != nil {
			return Output{}, err
		}
		return Output{Greeting: "Hello, " + in.Name + "!"}, nil
	},
}

func init() { sdk.Register(tool) }

func main() {}
