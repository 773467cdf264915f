package sdk

import (
	"fmt"

	"github.com/capstream/capstream/sdk/abi"
	"github.com/capstream/capstream/sdk/internal/hostabi"
)

// Call is one invocation of a tool, handed to its Run function. Its methods
// are the host functions a tool acts through: logging, progress, output
// chunks, outbound HTTP, the KV namespace and the capability. Each is a host
// call: it counts against the capability's limits, emits one host.* event,
// and returns a refusal or failure as an *Error.
//
// A Call is valid only until Run returns, and only on the goroutine that
// runs it or goroutines Run waits for; it must not be kept.
type Call struct {
	h hostabi.Host
}

// Level is the severity of a log line.
type Level int32

// Log levels, as the host.log event names them: "debug", "info", "warn",
// "error".
const (
	LevelDebug = Level(abi.LevelDebug)
	LevelInfo  = Level(abi.LevelInfo)
	LevelWarn  = Level(abi.LevelWarn)
	LevelError = Level(abi.LevelError)
)

// String returns the level's name as events carry it.
func (l Level) String() string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	}
	return fmt.Sprintf("Level(%d)", int32(l))
}

// Log emits a host.log event with the level and message. A message over
// 64 KiB is refused with ErrTooLarge.
func (c *Call) Log(level Level, msg string) error {
	return c.check(c.h.Log(int32(level), msg))
}

// Logf is Log with a message formatted as by fmt.Sprintf.
func (c *Call) Logf(level Level, format string, args ...any) error {
	return c.Log(level, fmt.Sprintf(format, args...))
}

// Progress emits a host.progress event. progress must increase from one
// call to the next (ErrInvalid otherwise); total <= 0 means the total is
// unknown; an empty msg sends no message.
func (c *Call) Progress(progress, total float64, msg string) error {
	return c.check(c.h.Progress(progress, total, msg))
}

// Output emits a host.output event: a chunk of partial output, for clients
// to show while the tool runs. Chunks count against the output limit, with
// the result; they are not part of the result.
func (c *Call) Output(chunk string) error {
	return c.check(c.h.Output(chunk))
}

// check turns a host function's return value into an error.
func (c *Call) check(rc int32) error {
	if rc >= 0 {
		return nil
	}
	return hostError(c.h, rc)
}

// staged returns the n bytes a host function staged, or its error when n is
// negative.
func (c *Call) staged(n int32) ([]byte, error) {
	return readStaged(c.h, n)
}

// readStaged copies the n bytes h staged into a new slice; a negative n is
// an error code, returned as an *Error with the staged message.
func readStaged(h hostabi.Host, n int32) ([]byte, error) {
	if n < 0 {
		return nil, hostError(h, n)
	}
	buf := make([]byte, n)
	if n == 0 {
		return buf, nil
	}
	if got := h.Read(buf); got != n {
		return nil, fmt.Errorf("sdk: host staged %d bytes but read returned %d", n, got)
	}
	return buf, nil
}

// hostError returns the *Error for code, with the message the host staged.
func hostError(h hostabi.Host, code int32) *Error {
	buf := make([]byte, abi.MaxErrorMessage)
	n := h.Read(buf)
	if n < 0 {
		n = 0
	}
	return &Error{Code: code, Message: string(buf[:n])}
}
