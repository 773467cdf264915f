// Package sdktest runs capstream tools natively, in plain go test, against
// an in-memory host: the same calls the runtime makes (the manifest, then
// one run with the input), the same host functions with the same checks and
// refusals, and the events the runtime would stream.
//
//	out, events, err := sdktest.Run(tool, Input{Text: "hi"})
//
// A Host configures what the fake host holds: the capability claims, the KV
// namespace, and an HTTP upstream. The fake enforces the capability's
// output, event and host-call limits, and its KV grant; it does not check
// the input against the tool's schema, match URLs against HTTP rules,
// measure memory or time, or fill in secrets. A panic in the tool is not
// recovered: it fails the test as it would trap the guest.
package sdktest

import (
	"encoding/json"
	"fmt"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/abi"
	"github.com/capstream/capstream/sdk/internal/hostabi"
)

// Failure is a call that failed, as its call.failed event would say: a
// failure code (tool_error, output_limit, host_call_limit) and a message.
type Failure struct {
	Code    string
	Message string
}

// Error returns the code and the message.
func (f *Failure) Error() string { return f.Code + ": " + f.Message }

// Run calls t once with in, against a new Host with default claims, and
// returns its decoded result and the host.* events it emitted. A call that
// fails returns a *Failure; a tool whose manifest is invalid returns the
// error the runtime would refuse the module with.
func Run[In, Out any](t sdk.Tool[In, Out], in In) (Out, []Event, error) {
	return RunWith(&Host{}, t, in)
}

// RunWith is Run against h, whose KV namespace persists from call to call.
func RunWith[In, Out any](h *Host, t sdk.Tool[In, Out], in In) (Out, []Event, error) {
	var out Out
	input, err := json.Marshal(in)
	if err != nil {
		return out, nil, fmt.Errorf("sdktest: encoding input: %w", err)
	}
	raw, events, err := h.invoke(t, input)
	if err != nil {
		return out, events, err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, events, fmt.Errorf("sdktest: decoding output %s: %w", raw, err)
	}
	return out, events, nil
}

// RunJSON is RunWith with the input and result as JSON text, for inputs the
// tool's type cannot express.
func RunJSON[In, Out any](h *Host, t sdk.Tool[In, Out], input string) (json.RawMessage, []Event, error) {
	return h.invoke(t, []byte(input))
}

// Call calls the tool registered with sdk.Register with the input JSON, as
// the runtime calls a module, and returns the result JSON and the events.
func (h *Host) Call(input string) (json.RawMessage, []Event, error) {
	return h.invoke(nil, []byte(input))
}

// Manifest returns the manifest of the tool registered with sdk.Register,
// or the error the runtime would refuse the module with.
func Manifest() (json.RawMessage, error) {
	return manifestOf(nil)
}

// Deny returns the error an HTTP upstream function returns to refuse a
// request as the runtime would: the tool gets an error matching
// sdk.ErrDenied and the host.http event carries the reason.
func Deny(reason string) error {
	return &sdk.Error{Code: abi.ErrDenied, Message: reason}
}

// manifest is what the fake host reads from a tool's manifest.
type manifest struct {
	Name  string    `json:"name"`
	Needs sdk.Needs `json:"needs"`
}

// manifestOf calls the manifest export of tool (nil: the registered one)
// and checks the result, as the runtime does when it loads a module.
func manifestOf(tool any) (json.RawMessage, error) {
	c := &call{host: &Host{}, manifest: true}
	if rc := hostabi.Invoke(c, tool, abi.ExportManifest); rc != 0 {
		return nil, fmt.Errorf("sdktest: the manifest export returned %d: %s", rc, c.errMsg)
	}
	var m manifest
	if err := json.Unmarshal(c.output, &m); err != nil || m.Name == "" {
		return nil, fmt.Errorf("sdktest: the manifest is not an object with a name: %s", c.output)
	}
	return c.output, nil
}

// invoke is one call of tool (nil: the registered one) against h.
func (h *Host) invoke(tool any, input []byte) (json.RawMessage, []Event, error) {
	raw, err := manifestOf(tool)
	if err != nil {
		return nil, nil, err
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("sdktest: reading the manifest: %w", err)
	}
	c := &call{host: h, claims: h.claimsFor(m), input: input}
	rc, failure := c.run(tool)
	if failure != nil {
		return nil, c.events, failure
	}
	if rc != 0 {
		return nil, c.events, &Failure{Code: "tool_error", Message: c.errMsg}
	}
	if c.output == nil {
		return json.RawMessage("null"), c.events, nil
	}
	return c.output, c.events, nil
}

// run calls the run export, turning a limit the fake host ended the call
// with into a Failure. Any other panic goes on.
func (c *call) run(tool any) (rc int32, failure *Failure) {
	defer func() {
		if r := recover(); r != nil {
			end, ok := r.(endCall)
			if !ok {
				panic(r)
			}
			failure = end.failure
		}
	}()
	return hostabi.Invoke(c, tool, abi.ExportRun), nil
}
