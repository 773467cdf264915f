// Command fetch is the capstream tool that makes one HTTP request through
// the host, which checks it against the caller's allowlist.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o fetch.wasm .
package main

import (
	"fmt"

	"github.com/capstream/capstream/sdk"
)

// Input is what fetch takes.
type Input struct {
	URL     string            `json:"url" jsonschema:"description=Absolute http or https URL,format=uri,minLength=1"`
	Method  string            `json:"method,omitempty" jsonschema:"description=HTTP method; GET when absent,enum=GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS"`
	Headers map[string]string `json:"headers,omitempty" jsonschema:"description=Request headers; a value {{secret:NAME}} is filled in by the host where the policy allows"`
	Body    string            `json:"body,omitempty" jsonschema:"description=Request body, as text"`
}

// Output is the response.
type Output struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

var tool = sdk.Tool[Input, Output]{
	Name:        "fetch",
	Title:       "Fetch",
	Description: "Makes one HTTP request to a URL the caller's policy allows and returns the status, headers and body.",
	Needs: sdk.Needs{HTTP: []sdk.HTTPNeed{
		{URL: "*", Methods: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}},
	}},
	Annotations: &sdk.Annotations{OpenWorldHint: new(true)},
	Run: func(c *sdk.Call, in Input) (Output, error) {
		resp, err := c.HTTP(sdk.HTTPRequest{Method: in.Method, URL: in.URL, Headers: in.Headers, Body: in.Body})
		if err != nil {
			// A refusal reads "fetching URL: denied: <reason>".
			return Output{}, fmt.Errorf("fetching %s: %w", in.URL, err)
		}
		if resp.Headers == nil {
			resp.Headers = map[string]string{}
		}
		return Output{Status: resp.Status, Headers: resp.Headers, Body: resp.Body}, nil
	},
}

func init() { sdk.Register(tool) }

func main() {}
