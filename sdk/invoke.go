package sdk

import (
	"fmt"

	"github.com/capstream/capstream/sdk/abi"
	"github.com/capstream/capstream/sdk/internal/hostabi"
)

func init() { hostabi.Invoke = invoke }

// invoke runs one export of a tool against h: the body of the module's
// exports on wasip1, and of sdktest's calls natively. tool is a Tool value
// or nil for the registered tool.
func invoke(h hostabi.Host, tool any, export string) int32 {
	t := registered
	if tool != nil {
		var ok bool
		if t, ok = tool.(handler); !ok {
			panic(fmt.Sprintf("sdk: %T is not an sdk.Tool", tool))
		}
	}
	if t == nil {
		return fail(h, "sdk: no tool is registered: call sdk.Register from an init function of package main")
	}
	switch export {
	case abi.ExportRun:
		return run(h, t)
	case abi.ExportManifest:
		return pushManifest(h, t)
	}
	panic("sdk: no export " + export)
}

// run is capstream_run: pull the input, run the tool, push its result or
// its error. A panic is not recovered: the guest traps and the host reports
// the call as failed with trap, quoting the panic from stderr.
func run(h hostabi.Host, t handler) int32 {
	input, err := readStaged(h, h.Input())
	if err != nil {
		return fail(h, "sdk: reading input: "+err.Error())
	}
	out, err := t.handle(&Call{h: h}, input)
	if err != nil {
		return fail(h, err.Error())
	}
	if rc := h.SetOutput(out); rc < 0 {
		return fail(h, "sdk: setting output: "+hostError(h, rc).Error())
	}
	return 0
}

// pushManifest is capstream_manifest.
func pushManifest(h hostabi.Host, t handler) int32 {
	m, err := t.manifest()
	if err != nil {
		return fail(h, "sdk: "+err.Error())
	}
	if rc := h.SetOutput(m); rc < 0 {
		return fail(h, "sdk: setting manifest: "+hostError(h, rc).Error())
	}
	return 0
}

// fail sets the tool error message and returns the non-zero result of an
// export that failed.
func fail(h hostabi.Host, msg string) int32 {
	if msg == "" {
		msg = "the tool failed without a message"
	}
	h.SetError(msg)
	return 1
}
