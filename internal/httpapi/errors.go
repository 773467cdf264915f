package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// apiError is an error answered before a stream starts, as
// {"error":{"code","message"}} with its HTTP status. Every status the API
// returns for an error is chosen here.
type apiError struct {
	Status     int    `json:"-"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter int    `json:"-"` // seconds, for 429 and 503
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errInvalidJSON(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: msg}
}

func errInvalidInput(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_input", Message: msg}
}

// errUnauthenticated never says which check failed: that goes to the log.
var errUnauthenticated = &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "a valid bearer token is required"}

func errToolNotPermitted(tool string) *apiError {
	return &apiError{Status: http.StatusForbidden, Code: "tool_not_permitted", Message: "you may not call tool " + strconv.Quote(tool)}
}

func errToolNotFound(tool string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "tool_not_found", Message: "no tool named " + strconv.Quote(tool)}
}

// errCallNotFound is also the answer for another principal's call: its
// existence is not disclosed.
var errCallNotFound = &apiError{Status: http.StatusNotFound, Code: "call_not_found", Message: "no such call"}

var errNotFound = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such endpoint"}

var errMethodNotAllowed = &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "method not allowed on this endpoint"}

func errBodyTooLarge(limit int64) *apiError {
	return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: "the body is larger than " + strconv.FormatInt(limit, 10) + " bytes"}
}

// errRequestTimeout answers a body that did not arrive within the
// server's ReadTimeout.
var errRequestTimeout = &apiError{Status: http.StatusRequestTimeout, Code: "request_timeout", Message: "the body did not arrive in time"}

var errUnsupportedMediaType = &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "send the body as Content-Type: application/json"}

func errUnsupportedCharset(charset string) *apiError {
	return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
		Message: "send the body as JSON in UTF-8 (charset=utf-8, or none), not " + strconv.Quote(charset)}
}

func errTooManyCalls(msg string) *apiError {
	return &apiError{Status: http.StatusTooManyRequests, Code: "too_many_calls", Message: msg, RetryAfter: 1}
}

func errTooManyStreams(open int) *apiError {
	return &apiError{Status: http.StatusTooManyRequests, Code: "too_many_streams",
		Message: "you have " + strconv.Itoa(open) + " event streams open, the most allowed; close one and retry", RetryAfter: 1}
}

var errShuttingDown = &apiError{Status: http.StatusServiceUnavailable, Code: "shutting_down", Message: "the server is shutting down", RetryAfter: 5}

// errStoreUnavailable answers a request the call store could not serve (in
// a cluster: JetStream unreachable, or no leader during an election).
var errStoreUnavailable = &apiError{Status: http.StatusServiceUnavailable, Code: "store_unavailable",
	Message: "the call store is not reachable; retry shortly", RetryAfter: 2}

// errFenced refuses a call on a replica that lost its lease in a cluster.
var errFenced = &apiError{Status: http.StatusServiceUnavailable, Code: "not_ready",
	Message: "this replica lost its place in the cluster and admits no calls; retry (another replica may take it)", RetryAfter: 1}

func errNotReady(msg string) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: msg}
}

func errInternal(msg string) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: msg}
}

// writeError answers with e.
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	if e.Status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
