package main

import (
	"context"
	"time"

	"github.com/capstream/capstream/internal/capability"
)

// A path is one runtime's way of running a call of the echo tool, set up
// once (engine, compiled module) and then called once per iteration.
type path struct {
	name string
	// call runs one call with input in a fresh instance and returns the
	// tool's output. The instance is closed when call returns.
	call func(ctx context.Context, input []byte) ([]byte, error)
	// close releases what the path set up.
	close func(ctx context.Context) error
	// onLog, if set, receives every log line the guest sends. Both
	// runtimes deliver the line to a host-side callback whether or not it
	// is set; verify sets it to check the line, timed calls leave it nil.
	onLog func(msg string)
}

// limits bound every call of both runtimes alike: the capstream
// capability's limits, and Extism's manifest timeout and memory pages.
var limits = capability.Limits{
	Timeout:   10 * time.Second,
	Memory:    64 << 20,
	Output:    1 << 20,
	Events:    1000,
	HostCalls: 500,
}
