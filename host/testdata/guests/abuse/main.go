// Command abuse is a test guest for host/abuse_test.go: it misbehaves in
// the way its input asks, or behaves. One module holds every abuse that
// needs a Go guest, so the test compiles one module (slow under -race)
// rather than one per kind.
package main

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/capstream/capstream/sdk"
)

// Input chooses the behaviour.
type Input struct {
	Kind string `json:"kind" jsonschema:"description=ok: echo text; spin: loop forever; membomb: keep 1 MiB slices forever; recurse: unbounded recursion on a 1 MiB stack; recurse-uncapped: the same on Go's default stack cap; output|progress|hostcalls: call that host function forever; sleep: sleep an hour; sleepwrite: sleep an hour then write the KV key late; fetch: GET url,enum=ok|spin|membomb|recurse|recurse-uncapped|output|progress|hostcalls|sleep|sleepwrite|fetch"`
	Text string `json:"text,omitempty" jsonschema:"description=ok: the text to return"`
	URL  string `json:"url,omitempty" jsonschema:"description=fetch: the URL"`
}

// Output is what the well-behaved kinds return.
type Output struct {
	Text string `json:"text,omitempty"`
	Body string `json:"body,omitempty"`
}

// kept holds what membomb allocates, so none of it can be collected.
var kept [][]byte

// spins keeps the spin loop observable, so the compiler keeps it.
var spins uint64

//go:noinline
func deeper(n int) int {
	var frame [64]byte
	frame[n%len(frame)] = byte(n)
	return deeper(n+1) + int(frame[(n+1)%len(frame)])
}

func run(c *sdk.Call, in Input) (Output, error) {
	switch in.Kind {
	case "ok":
		c.Logf(sdk.LevelInfo, "echoing %d bytes", len(in.Text))
		return Output{Text: in.Text}, nil
	case "spin":
		for {
			spins++
		}
	case "membomb":
		for {
			b := make([]byte, 1<<20)
			b[len(b)-1] = 1
			kept = append(kept, b)
		}
	case "recurse":
		// A 1 MiB goroutine stack ends in Go's "stack overflow" whatever
		// the memory limit.
		debug.SetMaxStack(1 << 20)
		return Output{Body: fmt.Sprint(deeper(0))}, nil
	case "recurse-uncapped":
		// Go's own cap is far above any memory limit: the doubling stack
		// runs into the memory limit first.
		return Output{Body: fmt.Sprint(deeper(0))}, nil
	case "output":
		for {
			c.Output("flood\n")
		}
	case "progress":
		for i := 1; ; i++ {
			c.Progress(float64(i), 0, "")
		}
	case "hostcalls":
		for {
			c.Capability()
		}
	case "sleep":
		time.Sleep(time.Hour)
		return Output{}, nil
	case "sleepwrite":
		time.Sleep(time.Hour)
		return Output{}, c.KVSet("late", []byte("written after the call ended"))
	case "fetch":
		resp, err := c.HTTP(sdk.HTTPRequest{URL: in.URL})
		if err != nil {
			return Output{}, fmt.Errorf("fetching %s: %w", in.URL, err)
		}
		return Output{Body: resp.Body}, nil
	}
	return Output{}, fmt.Errorf("unknown kind %q", in.Kind)
}

func init() {
	sdk.Register(sdk.Tool[Input, Output]{
		Name:        "abuse",
		Description: "Test guest: misbehaves as asked (loops, bombs, floods, sleeps, fetches), or echoes text.",
		Needs: sdk.Needs{
			HTTP: []sdk.HTTPNeed{{URL: "*", Methods: []string{"GET"}}},
			KV:   &sdk.KVNeed{Write: true},
		},
		Run: run,
	})
}

func main() {}
