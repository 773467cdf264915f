// Command whoami is the capstream tool that returns the caller's
// capability as the tool sees it: subject, roles, grants and limits.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o whoami.wasm .
package main

import "github.com/capstream/capstream/sdk"

// Input is empty: whoami takes no arguments.
type Input struct{}

var tool = sdk.Tool[Input, sdk.Claims]{
	Name:        "whoami",
	Title:       "Who am I",
	Description: "Returns the capability of the call as the tool sees it: the caller's subject and roles, and the HTTP, KV and limit grants of the call.",
	Annotations: &sdk.Annotations{ReadOnlyHint: new(true), OpenWorldHint: new(false)},
	Run: func(c *sdk.Call, _ Input) (sdk.Claims, error) {
		return c.Capability()
	},
}

func init() { sdk.Register(tool) }

func main() {}
