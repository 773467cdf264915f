package stream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Event types the package gives a meaning to. The others (call.started,
// host.log, ...) are the producer's business.
const (
	TypeCompleted   = "call.completed" // terminal: the tool returned a result
	TypeFailed      = "call.failed"    // terminal: the call failed
	TypeCancelled   = "call.cancelled" // terminal: the call was cancelled
	TypeStreamError = "stream.error"   // about one subscription, not the call
)

// timeFormat is RFC 3339 in UTC with millisecond precision, the date format
// JavaScript's Date parses everywhere.
const timeFormat = "2006-01-02T15:04:05.000Z"

// Event is one event of a call.
//
// Events handed out by a [Log] share their Data with every reader: treat it
// as read-only.
type Event struct {
	Type string          // "call.started", "host.log", ..., "call.completed"
	Call string          // call id
	Seq  uint64          // 1, 2, 3, ... within the call, assigned by the Log; 0 for events outside it
	Time time.Time       // when it happened, UTC
	Data json.RawMessage // the event's data, JSON; empty means {}
}

// IsTerminal reports whether typ ends a call: call.completed, call.failed or
// call.cancelled.
func IsTerminal(typ string) bool {
	return typ == TypeCompleted || typ == TypeFailed || typ == TypeCancelled
}

// ErrorEvent returns a stream.error event with data {"code","message"}. It
// concerns one subscription only, so it has no Seq and is never appended to a
// Log; write it with [Writer.Event] just before ending that subscription.
func ErrorEvent(call, code, message string, t time.Time) Event {
	data, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message})
	return Event{Type: TypeStreamError, Call: call, Time: t.UTC(), Data: data}
}

// envelope is the JSON shape of an Event.
type envelope struct {
	Type string          `json:"type"`
	Call string          `json:"call"`
	Seq  uint64          `json:"seq,omitempty"`
	Time string          `json:"time"`
	Data json.RawMessage `json:"data"`
}

// MarshalJSON returns the envelope
// {"type","call","seq","time","data"} on one line: time is RFC 3339 in UTC
// with milliseconds, seq is left out when zero. Data is compacted, invalid
// UTF-8 in it is replaced byte by byte with U+FFFD (as encoding/json does for
// strings), and U+2028 and U+2029 are escaped. It fails with [ErrInvalidData]
// if Data is not valid JSON.
func (e Event) MarshalJSON() ([]byte, error) {
	data, err := normalizeData(e.Data)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err = enc.Encode(envelope{
		Type: e.Type,
		Call: e.Call,
		Seq:  e.Seq,
		Time: e.Time.UTC().Format(timeFormat),
		Data: data,
	})
	if err != nil {
		return nil, fmt.Errorf("stream: encoding event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// UnmarshalJSON decodes the envelope written by MarshalJSON.
func (e *Event) UnmarshalJSON(b []byte) error {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, env.Time)
	if err != nil {
		return fmt.Errorf("stream: decoding event time: %w", err)
	}
	*e = Event{Type: env.Type, Call: env.Call, Seq: env.Seq, Time: t.UTC(), Data: env.Data}
	return nil
}

// checkType reports whether typ can be the event line of an SSE frame and an
// addEventListener name: one or more printable ASCII characters, no space.
func checkType(typ string) error {
	if typ == "" {
		return fmt.Errorf("%w: empty", ErrInvalidType)
	}
	for i := 0; i < len(typ); i++ {
		if c := typ[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: %q", ErrInvalidType, typ)
		}
	}
	return nil
}

var (
	lineSep     = []byte("\u2028")
	paraSep     = []byte("\u2029")
	lineSepJSON = []byte(`\u2028`)
	paraSepJSON = []byte(`\u2029`)
)

// normalizeData returns data as one line of valid UTF-8 JSON, in a new
// slice. Empty data becomes {}.
func normalizeData(data []byte) (json.RawMessage, error) {
	if len(data) == 0 {
		return json.RawMessage("{}"), nil
	}
	var buf bytes.Buffer
	buf.Grow(len(data))
	if err := json.Compact(&buf, data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidData, err)
	}
	b := buf.Bytes()
	if !utf8.Valid(b) {
		b = replaceInvalidUTF8(b)
	}
	// In valid JSON, raw U+2028 and U+2029 can only be inside strings, where
	// the escape means the same. Some JavaScript line readers split on them.
	if bytes.Contains(b, lineSep) {
		b = bytes.ReplaceAll(b, lineSep, lineSepJSON)
	}
	if bytes.Contains(b, paraSep) {
		b = bytes.ReplaceAll(b, paraSep, paraSepJSON)
	}
	return b, nil
}

// replaceInvalidUTF8 replaces each byte that is not part of valid UTF-8 with
// U+FFFD, as json.Unmarshal does. In valid JSON such bytes can only be inside
// strings, so the result is still valid JSON.
func replaceInvalidUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}
