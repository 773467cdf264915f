package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/sdk/abi"
)

// Invocation is one call of a tool.
type Invocation struct {
	Tool       *Tool
	Capability *capability.Capability // bound to the call; never nil
	Token      string                 // the signed capability, reported in call.started; optional
	Input      json.RawMessage        // the tool's input object, already validated
	Sink       Sink                   // receives every event of the call; nil discards them
}

// Result is how a call ended: the terminal event and its parts.
type Result struct {
	Event    Event           // the terminal event, exactly as emitted
	Output   json.RawMessage // call.completed: the tool's output
	Failure  *Failure        // call.failed: why
	Reason   string          // call.cancelled: why
	Duration time.Duration
	Usage    Usage
}

// CancelReason is the cause to give context.WithCancelCause's cancel
// function to say why a call is cancelled; the call then ends with
// call.cancelled and this reason. Any other cause of cancellation is
// reported as CancelClientGone.
type CancelReason string

// Reasons for call.cancelled.
const (
	CancelClientGone CancelReason = "client_gone"
	CancelDeleted    CancelReason = "deleted"
	CancelShutdown   CancelReason = "shutdown"
	// CancelLeaseLost: the replica running the call lost its lease in a
	// cluster (internal/cluster), so its peers may presume it dead.
	CancelLeaseLost CancelReason = "lease_lost"
)

func (r CancelReason) Error() string { return "host: call cancelled: " + string(r) }

// errTimeout is the cause of a call's context when its deadline passes.
var errTimeout = errors.New("host: call deadline exceeded")

// errAbort is the panic with which a host function ends the call after
// recording a failure in the call state (limits, ABI violations).
var errAbort = errors.New("host: call aborted")

// Call runs one call of a tool in a fresh instance, reporting its events to
// inv.Sink, and returns when the call has ended and its instance is closed.
// It emits call.started first and exactly one terminal event last, whatever
// happens. The call's deadline is the capability's timeout, counted from now;
// cancelling ctx cancels the call (see CancelReason).
func (e *Engine) Call(ctx context.Context, inv Invocation) Result {
	start := time.Now()
	c := inv.Capability
	st := &callState{
		e:     e,
		cap:   c,
		input: inv.Input,
		sink:  inv.Sink,
	}
	if st.sink == nil {
		st.sink = SinkFunc(func(Event) {})
	}
	st.emit(EventStarted, startedData{
		Tool:    inv.Tool.Name,
		Digest:  inv.Tool.Digest,
		Subject: c.Subject,
		Capability: startedCapability{
			ID: c.ID, ExpiresAt: c.ExpiresAt, Token: inv.Token,
			Grants: startedGrants{HTTP: orEmpty(c.HTTP), KV: c.Claims().Cap.KV},
		},
		Limits: capability.ClaimLimits{TimeoutMs: c.Limits.Timeout.Milliseconds(), Limits: c.Limits},
	})

	ctx, cancel := context.WithTimeoutCause(ctx, c.Limits.Timeout, errTimeout)
	defer cancel()
	var rc int32
	var err error
	if inv.Tool.minMemory > uint64(c.Limits.Memory) {
		st.fail(CodeMemoryLimit, fmt.Sprintf("the module starts with %d bytes of memory; the limit is %d", inv.Tool.minMemory, c.Limits.Memory))
	} else {
		rc, err = e.run(ctx, inv.Tool, st, abi.ExportRun)
	}
	return st.finish(ctx, rc, err, time.Since(start))
}

// run instantiates t, initializes it, calls one export and closes the
// instance. Host functions find st in the context.
func (e *Engine) run(ctx context.Context, t *Tool, st *callState, export string) (int32, error) {
	limit := uint64(manifestMemory)
	if st.cap != nil {
		limit = uint64(st.cap.Limits.Memory)
	}
	st.mem = &memoryLimit{limit: limit, image: t.image}
	defer st.mem.release() // after the instance is closed, below
	ctx = experimental.WithMemoryAllocator(ctx, st.mem)
	ctx = context.WithValue(ctx, stateKey{}, st)

	done := ctx.Done()
	cfg := e.modCfg.WithStderr(&st.stderr).WithNanosleep(func(ns int64) {
		timer := time.NewTimer(time.Duration(ns))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-done:
		}
	})
	// Instantiating is CPU work with nothing to wait for: at most one per
	// CPU at a time, so that a burst of calls queues here instead of
	// making the network goroutines wait behind it for seconds.
	select {
	case e.instantiating <- struct{}{}:
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	}
	mod, err := e.rt.InstantiateModule(ctx, t.compiled, cfg)
	<-e.instantiating
	if err != nil {
		return 0, err
	}
	defer mod.Close(context.WithoutCancel(ctx))
	if t.hasInit {
		if _, err := mod.ExportedFunction(abi.ExportInitialize).Call(ctx); err != nil {
			return 0, err
		}
	}
	res, err := mod.ExportedFunction(export).Call(ctx)
	if err != nil {
		return 0, err
	}
	return api.DecodeI32(res[0]), nil
}

// manifestMemory bounds an instance that reads a manifest at load time.
const manifestMemory = 256 << 20

// finish classifies how the call ended, in this order: a failure recorded
// by a host function; a guest that returned (completed or tool_error); the
// call's context (timeout or cancelled); the memory limit; a trap. It emits
// the one terminal event.
func (st *callState) finish(ctx context.Context, rc int32, runErr error, d time.Duration) Result {
	r := Result{Duration: d, Usage: st.usage}
	var exit *sys.ExitError
	if errors.As(runErr, &exit) && exit.ExitCode() == 0 && ctx.Err() == nil {
		runErr = nil // proc_exit(0): the guest finished
	}
	switch {
	case st.failure != nil:
		r.Failure = st.failure
	case runErr == nil && rc == 0:
		r.Output = st.output
		if r.Output == nil {
			r.Output = json.RawMessage("null")
		}
	case ctx.Err() != nil:
		cause := context.Cause(ctx)
		var reason CancelReason
		switch {
		case errors.Is(cause, errTimeout) || errors.Is(cause, context.DeadlineExceeded):
			r.Failure = &Failure{Code: CodeTimeout, Message: fmt.Sprintf("the call did not finish within %s", st.cap.Limits.Timeout)}
		case errors.As(cause, &reason):
			r.Reason = string(reason)
		default:
			r.Reason = string(CancelClientGone)
		}
	case runErr == nil:
		msg := st.toolErr
		if msg == "" {
			msg = fmt.Sprintf("the tool returned %d", rc)
		}
		r.Failure = &Failure{Code: CodeToolError, Message: msg}
	case st.mem.refused:
		// The trap that followed is quoted: a guest that went on after
		// the refusal may have stopped for another reason.
		r.Failure = &Failure{Code: CodeMemoryLimit, Message: fmt.Sprintf("memory would grow past the limit of %d bytes; then %s",
			st.mem.limit, trapMessage(runErr, st.stderr.String()))}
	default:
		r.Failure = &Failure{Code: CodeTrap, Message: trapMessage(runErr, st.stderr.String())}
	}

	r.Usage = st.usage
	ms := d.Milliseconds()
	switch {
	case r.Reason != "":
		r.Event = st.emit(EventCancelled, cancelledData{Reason: r.Reason, DurationMs: ms})
	case r.Failure != nil:
		r.Event = st.emit(EventFailed, failedData{Error: r.Failure, DurationMs: ms, Usage: r.Usage})
	default:
		r.Event = st.emit(EventCompleted, completedData{Output: r.Output, DurationMs: ms, Usage: r.Usage})
	}
	return r
}

// trapMessage describes a trap: what the guest wrote to stderr (a Go panic
// or fatal error says what happened there) before the engine's error.
func trapMessage(err error, stderr string) string {
	msg := err.Error()
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		msg = fmt.Sprintf("the guest exited with code %d", exit.ExitCode())
	}
	if stderr = strings.TrimSpace(stderr); stderr != "" {
		return stderr + "\n" + msg
	}
	return msg
}

func orEmpty(rules []capability.HTTPRule) []capability.HTTPRule {
	if rules == nil {
		return []capability.HTTPRule{}
	}
	return rules
}
