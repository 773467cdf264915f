package httpapi

import (
	"log"
	"net/http"
	"time"
)

// Settings of the http.Server that NewHTTPServer returns.
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers, so a
	// client that trickles them is disconnected.
	DefaultReadHeaderTimeout = 10 * time.Second

	// DefaultReadTimeout bounds reading a whole request, headers and body,
	// so a client that trickles a body is answered 408. It does not bound
	// the response: net/http lifts the deadline once the body is read, so
	// a stream, or a wait for a call's result, may last longer.
	DefaultReadTimeout = time.Minute

	// DefaultIdleTimeout bounds how long a kept-alive connection waits for
	// its next request.
	DefaultIdleTimeout = 2 * time.Minute

	// DefaultMaxHeaderBytes bounds a request's headers; net/http answers
	// 431 beyond it.
	DefaultMaxHeaderBytes = 64 << 10
)

// NewHTTPServer returns the http.Server that serves h (the API's Handler)
// as capstream serve runs it: with the Default* timeouts and header bound
// above, and errorLog for net/http's own errors (nil: the log package's
// standard logger). Callers may change its fields before serving.
//
// It sets no WriteTimeout: that would be an absolute deadline for a whole
// response, and would cut streams. SSE responses have rolling per-write
// deadlines instead (stream.WriterConfig.WriteTimeout).
func NewHTTPServer(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}
