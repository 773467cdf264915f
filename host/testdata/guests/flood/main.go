// Command flood is a test guest: it calls one host function n times, or
// forever when n is 0, ignoring every error, for testing the event, output
// and host-call limits.
package main

import (
	"fmt"

	"github.com/capstream/capstream/sdk"
)

// Input chooses the host function and how often to call it.
type Input struct {
	Kind string `json:"kind" jsonschema:"description=output: output chunks; log: log lines; hostcalls: capability reads; progress: progress events,enum=output|log|hostcalls|progress"`
	N    int    `json:"n,omitempty" jsonschema:"description=Number of calls; 0 or absent for no end,minimum=0"`
}

// Output is the number of calls made.
type Output struct {
	Calls int `json:"calls"`
}

func init() {
	sdk.Register(sdk.Tool[Input, Output]{
		Name:        "flood",
		Description: "Test guest: calls one host function n times, or forever, ignoring errors.",
		Run: func(c *sdk.Call, in Input) (Output, error) {
			var call func(i int)
			switch in.Kind {
			case "output":
				call = func(int) { c.Output("flood\n") }
			case "log":
				call = func(i int) { c.Log(sdk.LevelInfo, "flood") }
			case "hostcalls":
				call = func(int) { c.Capability() }
			case "progress":
				call = func(i int) { c.Progress(float64(i+1), 0, "") }
			default:
				return Output{}, fmt.Errorf("unknown kind %q", in.Kind)
			}
			i := 0
			for ; in.N == 0 || i < in.N; i++ {
				call(i)
			}
			return Output{Calls: i}, nil
		},
	})
}

func main() {}
