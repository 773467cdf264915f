package host

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/capstream/capstream/internal/capability"
)

// stateKey is the context key of a call's *callState.
type stateKey struct{}

// callState is everything one call owns. It is created by Call, reached by
// host functions through the context wazero passes them, and dropped when
// the call returns. Host functions of one instance run on the goroutine that
// called the guest, one at a time, so the state needs no lock.
type callState struct {
	e        *Engine
	cap      *capability.Capability // nil while reading a manifest
	manifest bool                   // reading a manifest: acting host functions are denied
	input    []byte
	sink     Sink
	mod      api.Module
	mem      *memoryLimit
	stderr   stderrBuffer

	staged     []byte          // what read copies out
	output     json.RawMessage // set_output
	toolErr    string          // set_error
	usage      Usage
	failure    *Failure // set when a host function ends the call
	progress   float64  // last progress reported
	progressed bool     // progress was reported before
	claims     []byte   // the capability claims as JSON, made on first read
}

// emit sends one event to the sink and returns it.
func (st *callState) emit(typ string, data any) Event {
	b, err := json.Marshal(data)
	if err != nil { // every data type is a plain struct; this is a bug
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	ev := Event{Type: typ, Time: time.Now().UTC(), Data: b}
	if d, ok := data.(decided); ok {
		ev.Decision = d.decision()
	}
	st.sink.Emit(ev)
	return ev
}

// hostCall counts one acting host call against the budgets, ending the
// call if it would exceed one. Call it before doing the work.
func (st *callState) hostCall() {
	st.usage.HostCalls++
	if st.usage.HostCalls > st.cap.Limits.HostCalls {
		st.abort(CodeHostCallLimit, fmt.Sprintf("more than %d host calls", st.cap.Limits.HostCalls))
	}
	st.usage.Events++
	if st.usage.Events > st.cap.Limits.Events {
		st.abort(CodeOutputLimit, fmt.Sprintf("more than %d events", st.cap.Limits.Events))
	}
}

// addOutput counts n bytes of output, ending the call past the limit.
func (st *callState) addOutput(n int) {
	st.usage.OutputBytes += int64(n)
	if st.usage.OutputBytes > st.cap.Limits.Output {
		st.abort(CodeOutputLimit, fmt.Sprintf("more than %d bytes of output", st.cap.Limits.Output))
	}
}

// fail records the failure the call ends with; the first one wins.
func (st *callState) fail(code, msg string) {
	if st.failure == nil {
		st.failure = &Failure{Code: code, Message: msg}
	}
}

// abort records a failure and unwinds the guest: the host function does
// not return to it. wazero turns the panic into the error of the export call.
func (st *callState) abort(code, msg string) {
	st.fail(code, msg)
	panic(errAbort)
}

// bytes returns the guest memory at ptr, len, or aborts the call with
// abi_violation. The slice aliases guest memory: copy what you keep.
func (st *callState) bytes(fn string, ptr, n uint32) []byte {
	b, ok := st.mod.Memory().Read(ptr, n)
	if !ok {
		st.abort(CodeABIViolation, fmt.Sprintf("%s: pointer %d and length %d lie outside the memory of %d bytes", fn, ptr, n, st.mod.Memory().Size()))
	}
	return b
}

// stage sets what the next read returns.
func (st *callState) stage(b []byte) { st.staged = b }

// stderrBuffer keeps the beginning and the end of what a guest writes to
// stderr, for trap messages: a Go runtime says what went wrong first, then
// dumps its goroutines.
type stderrBuffer struct {
	head, tail []byte
	dropped    int
}

const stderrKeep = 2 << 10 // bytes kept at each end

func (b *stderrBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := stderrKeep - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	b.tail = append(b.tail, p...)
	if over := len(b.tail) - stderrKeep; over > 0 {
		b.dropped += over
		b.tail = append(b.tail[:0], b.tail[over:]...)
	}
	return n, nil
}

func (b *stderrBuffer) String() string {
	if b.dropped == 0 {
		return string(b.head) + string(b.tail)
	}
	return fmt.Sprintf("%s\n… %d bytes …\n%s", b.head, b.dropped, b.tail)
}
