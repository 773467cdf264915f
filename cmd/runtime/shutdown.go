package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// defaultShutdownGrace is --shutdown-grace's default.
const defaultShutdownGrace = 10 * time.Second

// errAbandoned is returned by shutdown when calls were still running at
// the end of the grace; the process then exits 1 without closing what
// those calls still use.
var errAbandoned = errors.New("shutdown: calls did not end within --shutdown-grace after they were cancelled, and were abandoned")

// drainer is the API's part of shutdown (httpapi.Server.Shutdown): it stops
// admitting calls, waits for the running ones until its context is done,
// then cancels them and waits for them to end. That last wait has no bound
// of its own: a call whose guest is blocked in a host function that does
// not heed cancellation (a KV write on a disk that hangs, say) would hold
// it for ever.
type drainer interface {
	Shutdown(ctx context.Context) error
}

// shutdown stops the server in bounded time. Running calls get drain to
// finish; then they are cancelled (each ends with call.cancelled, reason
// shutdown), and the calls and the open streams get grace, counted from
// the moment the drain ended, to end: streams get their terminal event and
// close. srv stops listening once the calls have ended. At the end of the
// grace, srv's connections still open are closed, and calls still running
// are abandoned: shutdown then returns errAbandoned, and the caller must
// not close what those calls may still use (the engine, the KV store).
func shutdown(ctx context.Context, log *zap.Logger, api drainer, srv *http.Server, drain, grace time.Duration) error {
	log.Info("shutting down", zap.Duration("drain", drain), zap.Duration("grace", grace))
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- api.Shutdown(drainCtx) }()

	var graceEnd time.Time
	select {
	case err := <-drained:
		graceEnd = time.Now().Add(grace)
		drained <- err
	case <-drainCtx.Done():
		// api.Shutdown cancels the calls now.
		graceEnd = time.Now().Add(grace)
	}
	graceTimer := time.NewTimer(time.Until(graceEnd))
	defer graceTimer.Stop()
	var abandoned error
	select {
	case err := <-drained:
		if err != nil {
			log.Info("drain", zap.Error(err))
		}
	case <-graceTimer.C:
		abandoned = errAbandoned
		log.Error("calls still running after --shutdown-grace; abandoning them, and exiting without closing the engine and the KV store they use",
			zap.Duration("grace", grace))
	}

	// Stop accepting connections; the handlers of open streams end once
	// their call's terminal event is written.
	httpCtx, cancelHTTP := context.WithDeadline(context.WithoutCancel(ctx), graceEnd)
	defer cancelHTTP()
	if err := srv.Shutdown(httpCtx); err != nil {
		log.Warn("connections still open after --shutdown-grace; closing them", zap.Error(err))
		if err := srv.Close(); err != nil {
			return errors.Join(abandoned, fmt.Errorf("closing the listener: %w", err))
		}
	}
	return abandoned
}
