package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// stuckAPI is an API whose calls ignore cancellation: its Shutdown, like
// httpapi.Server's, cancels the calls when ctx is done, then waits for
// them, here for ever (until the test ends).
type stuckAPI struct {
	cancelled chan struct{} // closed when Shutdown's ctx is done
	release   chan struct{}
}

func (a *stuckAPI) Shutdown(ctx context.Context) error {
	<-ctx.Done()
	close(a.cancelled)
	<-a.release
	return errors.New("cancelled 1 call at shutdown")
}

// quickAPI is an API whose calls end as soon as they are cancelled.
type quickAPI struct{}

func (quickAPI) Shutdown(ctx context.Context) error { return nil }

// startStuckHTTP serves a handler that never returns, ignoring its
// request's cancellation, and sends it one request; it returns once the
// handler runs.
func startStuckHTTP(t *testing.T, release chan struct{}) *http.Server {
	t.Helper()
	entered := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-entered:
	case <-time.After(time.Minute):
		t.Fatal("the handler did not run")
	}
	return srv
}

// TestShutdownAbandonsCallsThatIgnoreCancellation: calls that do not end
// when cancelled at the end of the drain, and a handler that never
// returns, hold shutdown for no more than the grace: shutdown returns
// errAbandoned (the process exits 1) and logs what it abandoned.
func TestShutdownAbandonsCallsThatIgnoreCancellation(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	api := &stuckAPI{cancelled: make(chan struct{}), release: release}
	srv := startStuckHTTP(t, release)
	core, logs := observer.New(zap.InfoLevel)

	const drain, grace = 100 * time.Millisecond, 300 * time.Millisecond
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- shutdown(context.Background(), zap.New(core), api, srv, drain, grace) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("shutdown did not return within a minute of a 100ms drain and a 300ms grace")
	}
	took := time.Since(start)
	if !errors.Is(err, errAbandoned) {
		t.Errorf("shutdown: %v, want errAbandoned", err)
	}
	select {
	case <-api.cancelled:
	default:
		t.Error("the drain's context was never done: the calls were not cancelled")
	}
	if took < drain+grace {
		t.Errorf("shutdown returned after %v, before the drain and the grace (%v) had passed", took, drain+grace)
	}
	if n := logs.FilterMessageSnippet("abandoning them").Len(); n != 1 {
		t.Errorf("%d log lines about abandoned calls, want 1: %v", n, logs.All())
	}
	if n := logs.FilterMessageSnippet("connections still open").Len(); n != 1 {
		t.Errorf("%d log lines about connections closed, want 1: %v", n, logs.All())
	}
}

// TestShutdownEndsCleanly: when the calls end within the drain and no
// stream is open, shutdown returns nil, at once.
func TestShutdownEndsCleanly(t *testing.T) {
	srv := &http.Server{Handler: http.NotFoundHandler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	core, logs := observer.New(zap.InfoLevel)
	done := make(chan error, 1)
	go func() { done <- shutdown(context.Background(), zap.New(core), quickAPI{}, srv, time.Hour, time.Hour) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("shutdown waited for the drain although no call was running")
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "abandon") || strings.Contains(e.Message, "still open") {
			t.Errorf("log: %q", e.Message)
		}
	}
}
