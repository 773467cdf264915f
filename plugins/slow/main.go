// Command slow is the capstream tool that takes its time: it sleeps between
// steps and reports each with a progress event and an output chunk, for
// watching a stream live.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o slow.wasm .
package main

import (
	"fmt"
	"time"

	"github.com/capstream/capstream/sdk"
)

// Input is what slow takes.
type Input struct {
	Steps   int `json:"steps" jsonschema:"description=Number of steps,minimum=1,maximum=1000"`
	DelayMs int `json:"delayMs" jsonschema:"description=Milliseconds to wait before each step,minimum=0,maximum=10000"`
}

// Output is the number of steps taken.
type Output struct {
	Steps int `json:"steps"`
}

var tool = sdk.Tool[Input, Output]{
	Name:        "slow",
	Title:       "Slow",
	Description: "Counts steps slowly: waits delayMs before each step, then reports it as progress and as an output chunk.",
	Annotations: &sdk.Annotations{ReadOnlyHint: new(true), OpenWorldHint: new(false)},
	Run: func(c *sdk.Call, in Input) (Output, error) {
		for i := 1; i <= in.Steps; i++ {
			time.Sleep(time.Duration(in.DelayMs) * time.Millisecond)
			if err := c.Progress(float64(i), float64(in.Steps), fmt.Sprintf("step %d of %d", i, in.Steps)); err != nil {
				return Output{}, err
			}
			if err := c.Output(fmt.Sprintf("step %d\n", i)); err != nil {
				return Output{}, err
			}
		}
		return Output{Steps: in.Steps}, nil
	},
}

func init() { sdk.Register(tool) }

func main() {}
