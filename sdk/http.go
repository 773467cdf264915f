package sdk

import (
	"encoding/json"
	"fmt"
)

// HTTPRequest is an outbound request, performed by the host.
type HTTPRequest struct {
	// Method is the HTTP method; empty means GET.
	Method string `json:"method,omitempty"`
	// URL is absolute, http or https. The host checks it, and every
	// redirect, against the capability's http rules.
	URL string `json:"url"`
	// Headers are sent as given, one value each. A value
	// "{{secret:NAME}}" is filled in by the host, for URLs whose rule lists
	// NAME; the tool never sees the secret.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body, as text.
	Body string `json:"body,omitempty"`
}

// HTTPResponse is the answer to an HTTPRequest.
type HTTPResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body"`
	URL     string            `json:"url,omitempty"` // the final URL, after redirects
}

// HTTP performs req through the host and returns its response, whatever
// its status. A URL or method the capability does not allow is refused with
// ErrDenied (the host.http event carries the reason); a failed request
// (connect, timeout, a response over the size cap) is ErrUpstream.
func (c *Call) HTTP(req HTTPRequest) (HTTPResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return HTTPResponse{}, fmt.Errorf("sdk: encoding http request: %w", err)
	}
	staged, err := c.fetch(func() int32 { return c.h.HTTP(body) })
	if err != nil {
		return HTTPResponse{}, err
	}
	var resp HTTPResponse
	if err := json.Unmarshal(staged, &resp); err != nil {
		return HTTPResponse{}, fmt.Errorf("sdk: decoding http response: %w", err)
	}
	return resp, nil
}
