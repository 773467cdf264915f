// Command recurse is a test guest: it recurses without bound. Its goroutine
// stack is capped at 1 MiB, so it ends with Go's "fatal error: stack
// overflow", a trap, whatever the memory limit; uncapped, Go's doubling
// stack would run into the memory limit first.
package main

import (
	"runtime/debug"

	"github.com/capstream/capstream/sdk"
)

// Output is never produced.
type Output struct {
	Depth int `json:"depth"`
}

//go:noinline
func deeper(n int) int {
	var frame [64]byte
	frame[n%len(frame)] = byte(n)
	return deeper(n+1) + int(frame[(n+1)%len(frame)])
}

func init() {
	sdk.Register(sdk.Tool[struct{}, Output]{
		Name:        "recurse",
		Description: "Test guest: unbounded recursion.",
		Run: func(*sdk.Call, struct{}) (Output, error) {
			debug.SetMaxStack(1 << 20)
			return Output{Depth: deeper(0)}, nil
		},
	})
}

func main() {}
