// Command go-client calls a capstream tool and prints its events as they
// stream, resuming with Last-Event-ID when the connection drops.
//
//	go run ./examples/go-client -token "$ALICE" slow '{"steps":5,"delayMs":300}'
//
// It starts the call detached (POST ?detach=1), then follows
// GET /v1/calls/{id}/events: the direct stream of a POST is the call's own
// lifeline, and closing it cancels the call, whereas a subscription can drop
// and resume while the call runs on. Ctrl-C cancels the call (DELETE).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/capstream/capstream/stream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "go-client:", err)
		os.Exit(1)
	}
}

// run calls the tool named in args and prints each event as
// "SEQ TYPE DATA"; it fails unless the call completes.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("go-client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the capstream server")
	token := fs.String("token", os.Getenv("CAPSTREAM_TOKEN"), "bearer token (default $CAPSTREAM_TOKEN)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: go-client [-url URL] [-token TOKEN] TOOL [INPUT-JSON]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		fs.Usage()
		return errors.New("want a tool name and, optionally, its input")
	}
	input := "{}"
	if fs.NArg() == 2 {
		input = fs.Arg(1)
	}
	c := &Client{Base: *base, Token: *token, HTTP: http.DefaultClient, Log: stderr}
	end, err := c.Call(ctx, fs.Arg(0), []byte(input), func(e stream.Event) {
		fmt.Fprintf(stdout, "%d %s %s\n", e.Seq, e.Type, e.Data)
	})
	if err != nil {
		return err
	}
	if end.Type != stream.TypeCompleted {
		return fmt.Errorf("the call ended with %s", end.Type)
	}
	return nil
}

// Client calls tools on a capstream server.
type Client struct {
	Base  string       // e.g. "http://127.0.0.1:8080"
	Token string       // bearer token
	HTTP  *http.Client // the HTTP client to use
	Log   io.Writer    // where reconnects are reported; nil: nowhere
	// Retries is how many times in a row a dropped stream is resumed
	// without getting a new event. Zero: 5.
	Retries int
	// Backoff is the wait before resuming. Zero: 500ms.
	Backoff time.Duration
}

// Call starts a call of tool with input, hands each event to onEvent in
// order, exactly once, and returns the terminal event. If ctx is cancelled
// first, it cancels the call.
func (c *Client) Call(ctx context.Context, tool string, input []byte, onEvent func(stream.Event)) (stream.Event, error) {
	// 202 {"callId", "events", "ticket", "ticketExpiresAt"}
	var started struct{ CallID, Events string }
	resp, err := c.do(ctx, http.MethodPost, "/v1/tools/"+url.PathEscape(tool)+"/calls?detach=1", input, nil)
	if err != nil {
		return stream.Event{}, err
	}
	err = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if err != nil {
		return stream.Event{}, fmt.Errorf("reading the call: %w", err)
	}
	end, err := c.follow(ctx, started.Events, onEvent)
	if ctx.Err() != nil {
		// Interrupted: the call runs on unless we cancel it.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if resp, err := c.do(dctx, http.MethodDelete, "/v1/calls/"+started.CallID, nil, nil); err == nil {
			resp.Body.Close()
		}
	}
	return end, err
}

// follow reads the events at path until the terminal event, resuming after
// the last event it saw whenever the stream breaks off.
func (c *Client) follow(ctx context.Context, path string, onEvent func(stream.Event)) (stream.Event, error) {
	lastID := "" // the id of the last event handed on: where to resume
	retries, backoff := c.Retries, c.Backoff
	if retries == 0 {
		retries = 5
	}
	if backoff == 0 {
		backoff = 500 * time.Millisecond
	}
	for failures := 0; ; failures++ {
		if failures > retries {
			return stream.Event{}, fmt.Errorf("giving up after %d attempts to resume after event %q", failures, lastID)
		}
		if failures > 0 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return stream.Event{}, ctx.Err()
			}
		}
		h := http.Header{"Accept": {"text/event-stream"}}
		if lastID != "" {
			h.Set("Last-Event-ID", lastID)
		}
		resp, err := c.do(ctx, http.MethodGet, path, nil, h)
		var apiErr *APIError
		switch {
		case ctx.Err() != nil:
			return stream.Event{}, ctx.Err()
		case errors.As(err, &apiErr):
			return stream.Event{}, err // 401, 404: resuming will not help
		case err != nil:
			c.logf("connecting: %v; retrying", err)
			continue
		case resp.StatusCode == http.StatusNoContent:
			// Only after the terminal event, which ends the loop below.
			resp.Body.Close()
			return stream.Event{}, errors.New("the call had ended before event " + lastID)
		}
		r := stream.NewReader(resp.Body)
		for {
			e, err := r.Next()
			if err != nil {
				resp.Body.Close()
				if ctx.Err() != nil {
					return stream.Event{}, ctx.Err()
				}
				if errors.Is(err, io.EOF) {
					err = errors.New("the stream ended before the call did")
				}
				c.logf("stream broke off after event %q: %v; resuming", lastID, err)
				break
			}
			if e.Type == stream.TypeStreamError {
				// About this subscription only (token_expired): the call
				// runs on. A real client re-authenticates and resumes.
				resp.Body.Close()
				return stream.Event{}, fmt.Errorf("stream.error: %s", e.Data)
			}
			onEvent(e)
			lastID, failures = r.LastEventID(), 0
			if stream.IsTerminal(e.Type) {
				resp.Body.Close()
				return e, nil
			}
		}
	}
}

// APIError is an error the server answered before a stream started.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// do sends a request with the bearer token; a status of 300 or more is an
// *APIError.
func (c *Client) do(ctx context.Context, method, path string, body []byte, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct{ Error APIError }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil {
			e.Error.Message = string(b)
		}
		e.Error.Status = resp.StatusCode
		return nil, &e.Error
	}
	return resp, nil
}

func (c *Client) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "go-client: "+format+"\n", args...)
	}
}
