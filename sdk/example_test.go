package sdk_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/sdktest"
)

func ExampleSchema() {
	type Input struct {
		Op    string   `json:"op" jsonschema:"description=What to do,enum=add|list"`
		Text  string   `json:"text,omitempty" jsonschema:"maxLength=100"`
		Steps int      `json:"steps" jsonschema:"minimum=1,maximum=10"`
		Tags  []string `json:"tags,omitempty"`
	}
	s, err := sdk.Schema[Input]()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(s))
	// Output:
	// {"type":"object","properties":{"op":{"type":"string","description":"What to do","enum":["add","list"]},"text":{"type":"string","maxLength":100},"steps":{"type":"integer","minimum":1,"maximum":10},"tags":{"type":"array","items":{"type":"string"}}},"required":["op","steps"],"additionalProperties":false}
}

// A tool keeps a counter in its KV namespace: an absent key is an error
// matching ErrNotFound, not a failure of the call.
func ExampleCall_KVGet() {
	counter := sdk.Tool[struct{}, int]{
		Name:  "visits",
		Needs: sdk.Needs{KV: &sdk.KVNeed{Write: true}},
		Run: func(c *sdk.Call, _ struct{}) (int, error) {
			n := 0
			v, err := c.KVGet("visits")
			switch {
			case errors.Is(err, sdk.ErrNotFound):
			case err != nil:
				return 0, err
			default:
				fmt.Sscan(string(v), &n)
			}
			n++
			return n, c.KVSet("visits", fmt.Append(nil, n))
		},
	}
	h := &sdktest.Host{}
	for range 3 {
		n, _, err := sdktest.RunWith(h, counter, struct{}{})
		fmt.Println(n, err)
	}
	// Output:
	// 1 <nil>
	// 2 <nil>
	// 3 <nil>
}

// A refused request is an error the tool can wrap and return: the call
// fails with tool_error, and the host.http event says why.
func ExampleCall_HTTP() {
	fetch := sdk.Tool[struct{ URL string }, int]{
		Name:  "status",
		Needs: sdk.Needs{HTTP: []sdk.HTTPNeed{{URL: "*"}}},
		Run: func(c *sdk.Call, in struct{ URL string }) (int, error) {
			resp, err := c.HTTP(sdk.HTTPRequest{URL: in.URL})
			if err != nil {
				return 0, fmt.Errorf("fetching %s: %w", in.URL, err)
			}
			return resp.Status, nil
		},
	}
	h := &sdktest.Host{HTTP: func(req sdk.HTTPRequest) (sdk.HTTPResponse, error) {
		if !strings.HasPrefix(req.URL, "https://api.example.com/") {
			return sdk.HTTPResponse{}, sdktest.Deny("url is not in the allowlist")
		}
		return sdk.HTTPResponse{Status: 200}, nil
	}}
	for _, url := range []string{"https://api.example.com/v1", "https://evil.example.net/"} {
		status, events, err := sdktest.RunWith(h, fetch, struct{ URL string }{url})
		fmt.Println(status, err)
		fmt.Println(events[0])
	}
	// Output:
	// 200 <nil>
	// host.http {"bytes":0,"durationMs":0,"method":"GET","status":200,"url":"https://api.example.com/v1"}
	// 0 tool_error: fetching https://evil.example.net/: denied: url is not in the allowlist
	// host.http {"bytes":0,"denied":{"grant":"http","reason":"url is not in the allowlist"},"durationMs":0,"method":"GET","url":"https://evil.example.net/"}
}
