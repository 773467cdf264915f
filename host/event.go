package host

import (
	"encoding/json"
	"time"

	"github.com/capstream/capstream/internal/capability"
)

// Event types, the vocabulary of a call's events (docs/design.md §5).
const (
	EventStarted    = "call.started"
	EventLog        = "host.log"
	EventProgress   = "host.progress"
	EventOutput     = "host.output"
	EventHTTP       = "host.http"
	EventKV         = "host.kv"
	EventCapability = "host.capability"
	EventCompleted  = "call.completed"
	EventFailed     = "call.failed"
	EventCancelled  = "call.cancelled"
)

// Event is one thing that happened in a call. Data is the JSON object of
// the event's fields; sequence numbers and the call id are added by whoever
// keeps the call's log.
type Event struct {
	Type     string
	Time     time.Time
	Data     json.RawMessage
	Decision Decision // host events only
}

// Decision is what became of a host call, for metrics and audit.
type Decision string

// Decisions of host events; call events have none.
const (
	Allowed Decision = "allowed" // the host call did its work
	Denied  Decision = "denied"  // the capability refused it; the event has "denied"
	Errored Decision = "error"   // it was made but failed; the event has "error"
)

// Sink receives the events of one call, in order, from the goroutine that
// runs the call. Emit must not block for long: the guest waits while it runs.
// A call's last event is always exactly one of call.completed, call.failed
// and call.cancelled.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }

// Denial is the "denied" field of a host event whose host call the
// capability refused.
type Denial struct {
	Grant  string `json:"grant"` // http, kv, limits
	Reason string `json:"reason"`
}

// HostError is the "error" field of a host event whose host call was made
// but failed: an invalid argument, an upstream failure, a store error.
type HostError struct {
	Code    string `json:"code"` // the ABI error name: invalid, upstream, quota, too_large, storage
	Message string `json:"message"`
}

// Usage counts what a call consumed.
type Usage struct {
	HostCalls   int   `json:"hostCalls"`
	Events      int   `json:"events"`
	OutputBytes int64 `json:"outputBytes"`
}

// Failure is the error of a failed call: a stable code and a message for people.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message }

// Failure codes of call.failed (docs/design.md §5). Codes are stable; messages are not.
const (
	CodeTimeout       = "timeout"
	CodeMemoryLimit   = "memory_limit"
	CodeOutputLimit   = "output_limit"
	CodeHostCallLimit = "host_call_limit"
	CodeTrap          = "trap"
	CodeToolError     = "tool_error"
	CodeABIViolation  = "abi_violation"
	CodeInternal      = "internal"
	// CodeNodeLost is written by a surviving replica of a cluster, not by
	// the engine, when the replica running the call stopped
	// (internal/cluster).
	CodeNodeLost = "node_lost"
)

type startedData struct {
	Tool       string                 `json:"tool"`
	Digest     string                 `json:"digest"`
	Subject    string                 `json:"subject"`
	Capability startedCapability      `json:"capability"`
	Limits     capability.ClaimLimits `json:"limits"`
}

type startedCapability struct {
	ID        string        `json:"id"`
	ExpiresAt time.Time     `json:"expiresAt"`
	Grants    startedGrants `json:"grants"`
	Token     string        `json:"token,omitempty"` // the signed capability (a JWT)
}

type startedGrants struct {
	HTTP []capability.HTTPRule `json:"http"`
	KV   *capability.ClaimKV   `json:"kv,omitempty"`
}

type logData struct {
	Level   string     `json:"level"`
	Message string     `json:"message"`
	Error   *HostError `json:"error,omitempty"`
}

type progressData struct {
	Progress float64    `json:"progress"`
	Total    float64    `json:"total,omitempty"`
	Message  string     `json:"message,omitempty"`
	Error    *HostError `json:"error,omitempty"`
}

type outputData struct {
	Chunk  string  `json:"chunk"`
	Denied *Denial `json:"denied,omitempty"`
}

type httpData struct {
	Method     string     `json:"method"`
	URL        string     `json:"url"`
	Status     int        `json:"status,omitempty"`
	DurationMs int64      `json:"durationMs"`
	Bytes      int64      `json:"bytes"`
	Denied     *Denial    `json:"denied,omitempty"`
	Error      *HostError `json:"error,omitempty"`
}

type kvData struct {
	Op     string     `json:"op"`
	Key    string     `json:"key"`
	Hit    *bool      `json:"hit,omitempty"`
	Bytes  *int       `json:"bytes,omitempty"`
	Count  *int       `json:"count,omitempty"` // list: number of keys
	Denied *Denial    `json:"denied,omitempty"`
	Error  *HostError `json:"error,omitempty"`
}

type capabilityData struct {
	Bytes int `json:"bytes"`
}

type completedData struct {
	Output     json.RawMessage `json:"output"`
	DurationMs int64           `json:"durationMs"`
	Usage      Usage           `json:"usage"`
}

type failedData struct {
	Error      *Failure `json:"error"`
	DurationMs int64    `json:"durationMs"`
	Usage      Usage    `json:"usage"`
}

type cancelledData struct {
	Reason     string `json:"reason"`
	DurationMs int64  `json:"durationMs"`
}

// decided is implemented by the data of host events.
type decided interface{ decision() Decision }

func decide(d *Denial, e *HostError) Decision {
	switch {
	case d != nil:
		return Denied
	case e != nil:
		return Errored
	}
	return Allowed
}

func (d logData) decision() Decision        { return decide(nil, d.Error) }
func (d progressData) decision() Decision   { return decide(nil, d.Error) }
func (d outputData) decision() Decision     { return decide(d.Denied, nil) }
func (d httpData) decision() Decision       { return decide(d.Denied, d.Error) }
func (d kvData) decision() Decision         { return decide(d.Denied, d.Error) }
func (d capabilityData) decision() Decision { return Allowed }
