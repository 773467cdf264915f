package sdk

import (
	"fmt"
	"sync"

	"github.com/capstream/capstream/sdk/abi"
	"github.com/capstream/capstream/sdk/internal/hostabi"
)

// Call is one invocation of a tool, handed to its Run function. Its methods
// are the host functions a tool acts through: logging, progress, output
// chunks, outbound HTTP, the KV namespace and the capability. Each is a host
// call: it counts against the capability's limits, emits one host.* event,
// and returns a refusal or failure as an *Error.
//
// A Call is valid only until Run returns; it must not be kept. Its methods
// may be called from several goroutines that Run waits for.
type Call struct {
	h hostabi.Host
	// mu holds the instance's staging buffer from a host call until its
	// result or error message is read, so that another goroutine's host
	// call cannot replace it in between.
	mu sync.Mutex
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
	return c.do(func() int32 { return c.h.Log(int32(level), msg) })
}

// Logf is Log with a message formatted as by fmt.Sprintf.
func (c *Call) Logf(level Level, format string, args ...any) error {
	return c.Log(level, fmt.Sprintf(format, args...))
}

// Progress emits a host.progress event. progress must increase from one
// call to the next (ErrInvalid otherwise); total <= 0 means the total is
// unknown; an empty msg sends no message.
func (c *Call) Progress(progress, total float64, msg string) error {
	return c.do(func() int32 { return c.h.Progress(progress, total, msg) })
}

// Output emits a host.output event: a chunk of partial output, for clients
// to show while the tool runs. Chunks are not part of the result, but count
// against the output limit with it (as do log and progress messages).
func (c *Call) Output(chunk string) error {
	return c.do(func() int32 { return c.h.Output(chunk) })
}

// do makes one host call that returns no data, and returns its refusal
// or failure.
func (c *Call) do(call func() int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc := call(); rc < 0 {
		return hostError(c.h, rc)
	}
	return nil
}

// fetch makes one host call that stages data, and returns the data or the
// call's refusal or failure.
func (c *Call) fetch(call func() int32) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return readStaged(c.h, call())
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
