package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
)

// newCapstream loads the echo tool into an engine of its own and returns
// the path that calls it with host.Engine.Call: the production path, a
// fresh instance per call bound to a capability. disableSnapshots makes
// every call run the Go runtime's initialization again (host.Config's
// DisableSnapshots), for reference.
func newCapstream(ctx context.Context, name string, wasm []byte, disableSnapshots bool) (*path, error) {
	e, err := host.New(ctx, host.Config{DisableSnapshots: disableSnapshots})
	if err != nil {
		return nil, fmt.Errorf("%s: starting the engine: %w", name, err)
	}
	tool, err := e.Load(ctx, "echo.wasm", wasm)
	if err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// One capability for every call, as in host's BenchmarkCallEcho: the
	// engine counts its deadline from the start of each call.
	grants := capability.Grants{Tools: []string{tool.Name}, Limits: limits}
	c, err := capability.Derive(capability.Principal{Subject: "bench"}, grants, tool.Name, tool.Digest, tool.Needs, "bench", time.Now())
	if err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("%s: deriving the capability: %w", name, err)
	}

	p := &path{name: name, close: e.Close}
	sink := host.SinkFunc(func(ev host.Event) {
		if p.onLog == nil || ev.Type != host.EventLog {
			return
		}
		var d struct {
			Message string `json:"message"`
		}
		json.Unmarshal(ev.Data, &d)
		p.onLog(d.Message)
	})
	p.call = func(ctx context.Context, input []byte) ([]byte, error) {
		res := e.Call(ctx, host.Invocation{Tool: tool, Capability: &c, Input: input, Sink: sink})
		switch {
		case res.Failure != nil:
			return nil, res.Failure
		case res.Reason != "":
			return nil, fmt.Errorf("call cancelled: %s", res.Reason)
		}
		return res.Output, nil
	}
	return p, nil
}
