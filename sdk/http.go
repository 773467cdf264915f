package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/capstream/capstream/sdk/abi"
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

// HTTPResponse is the answer to an HTTPRequest. Its JSON is the one the
// http host function stages (sdk/ABI.md).
type HTTPResponse struct {
	Status int `json:"status"`
	// Headers has canonical header names ("Content-Type"), the first
	// value of each.
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	URL     string            `json:"url"` // the final URL, after redirects
}

// HTTP performs req through the host and returns its response, whatever
// its status. A URL or method the capability does not allow is refused with
// ErrDenied (the host.http event carries the reason); a failed request
// (connect, timeout, a response over the size cap) is ErrUpstream.
func (c *Call) HTTP(req HTTPRequest) (HTTPResponse, error) {
	// The conversions to and from package abi's wire types, which need
	// the same fields, keep these types and the ABI's JSON in step.
	body, err := json.Marshal(abi.HTTPRequest(req))
	if err != nil {
		return HTTPResponse{}, fmt.Errorf("sdk: encoding http request: %w", err)
	}
	staged, err := c.fetch(func() int32 { return c.h.HTTP(body) })
	if err != nil {
		return HTTPResponse{}, err
	}
	var resp abi.HTTPResponse
	if err := json.Unmarshal(staged, &resp); err != nil {
		return HTTPResponse{}, fmt.Errorf("sdk: decoding http response: %w", err)
	}
	return HTTPResponse(resp), nil
}
