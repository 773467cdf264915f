// Command bigoutput is a test guest: its result is a JSON string of a
// chosen size, for testing the output limit.
package main

import (
	"strings"

	"github.com/capstream/capstream/sdk"
)

// Input is the size of the result.
type Input struct {
	Bytes int `json:"bytes" jsonschema:"description=Length of the string; the result is that many bytes plus two quotes,minimum=0,maximum=268435456"`
}

func init() {
	sdk.Register(sdk.Tool[Input, string]{
		Name:        "bigoutput",
		Description: `Test guest: returns a JSON string of "bytes" x characters.`,
		Run: func(_ *sdk.Call, in Input) (string, error) {
			return strings.Repeat("x", in.Bytes), nil
		},
	})
}

func main() {}
