package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The stream wrapper of /mcp: the SDK's headers are its own until it
// commits them; a heartbeat may open a quiet stream first, and then a
// reply the SDK meant as plain JSON is sent as an SSE message.
func TestMCPWriter(t *testing.T) {
	newWriter := func() (*mcpWriter, *httptest.ResponseRecorder) {
		rec := httptest.NewRecorder()
		return &mcpWriter{w: rec, rc: http.NewResponseController(rec), header: http.Header{},
			heartbeat: 20 * time.Millisecond, timeout: time.Second}, rec
	}

	t.Run("the SDK answers first", func(t *testing.T) {
		w, rec := newWriter()
		w.arm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":1}`))
		time.Sleep(100 * time.Millisecond) // no heartbeat on a JSON answer
		w.finish()
		if rec.Code != 400 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != `{"error":1}` {
			t.Fatalf("%d %v %q", rec.Code, rec.Header(), rec.Body.String())
		}
	})

	t.Run("a quiet stream opened by the heartbeat", func(t *testing.T) {
		w, rec := newWriter()
		w.arm()
		time.Sleep(70 * time.Millisecond) // the SDK has written nothing yet
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601}}\n"))
		w.finish()
		body := rec.Body.String()
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/event-stream" || !strings.HasPrefix(body, ": ping\n\n") ||
			!strings.HasSuffix(body, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601}}\n\n") {
			t.Fatalf("%d %v %q", rec.Code, rec.Header(), body)
		}
	})

	t.Run("an event stream gets heartbeats while idle, none after the handler", func(t *testing.T) {
		w, rec := newWriter()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("event: message\ndata: {}\n\n"))
		time.Sleep(70 * time.Millisecond)
		w.finish()
		n := strings.Count(rec.Body.String(), ": ping\n\n")
		time.Sleep(60 * time.Millisecond)
		if n < 2 || strings.Count(rec.Body.String(), ": ping\n\n") != n {
			t.Fatalf("%d heartbeats, then %q", n, rec.Body.String())
		}
	})
}
