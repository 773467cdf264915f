package sdktest

import "encoding/json"

// Event is one host.* event of a call, as the runtime would stream it.
type Event struct {
	// Type is the event type: host.log, host.progress, host.output,
	// host.http, host.kv or host.capability.
	Type string
	// Data is the event's data object as a client decodes it from JSON
	// (numbers are float64). A refused call carries "denied": {grant,
	// reason}, a failed one "error": {code, message}.
	Data map[string]any
}

// String returns the type and the data as JSON with sorted keys, for
// printing and comparing: host.log {"level":"info","message":"hi"}.
func (e Event) String() string {
	b, err := json.Marshal(e.Data)
	if err != nil {
		return e.Type + " " + err.Error()
	}
	return e.Type + " " + string(b)
}
