package sdktest_test

import (
	"errors"
	"fmt"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/sdktest"
)

func ExampleRun() {
	type In struct {
		Steps int `json:"steps"`
	}
	count := sdk.Tool[In, int]{
		Name: "count",
		Run: func(c *sdk.Call, in In) (int, error) {
			for i := 1; i <= in.Steps; i++ {
				c.Progress(float64(i), float64(in.Steps), "")
			}
			return in.Steps, nil
		},
	}
	n, events, err := sdktest.Run(count, In{Steps: 2})
	fmt.Println(n, err)
	for _, e := range events {
		fmt.Println(e)
	}
	// Output:
	// 2 <nil>
	// host.progress {"progress":1,"total":2}
	// host.progress {"progress":2,"total":2}
}

// A Host holds a KV namespace across calls and answers outbound HTTP.
func ExampleHost() {
	type In struct {
		URL string `json:"url"`
	}
	cached := sdk.Tool[In, string]{
		Name: "cached",
		Needs: sdk.Needs{
			HTTP: []sdk.HTTPNeed{{URL: "https://api.example.com/"}},
			KV:   &sdk.KVNeed{Write: true},
		},
		Run: func(c *sdk.Call, in In) (string, error) {
			if v, err := c.KVGet(in.URL); err == nil {
				return string(v), nil
			} else if !errors.Is(err, sdk.ErrNotFound) {
				return "", err
			}
			resp, err := c.HTTP(sdk.HTTPRequest{URL: in.URL})
			if err != nil {
				return "", err
			}
			return resp.Body, c.KVSet(in.URL, []byte(resp.Body))
		},
	}
	h := &sdktest.Host{
		HTTP: func(req sdk.HTTPRequest) (sdk.HTTPResponse, error) {
			return sdk.HTTPResponse{Status: 200, Body: "fresh"}, nil
		},
	}
	for range 2 {
		body, events, err := sdktest.RunWith(h, cached, In{URL: "https://api.example.com/x"})
		fmt.Println(body, len(events), "events", err)
	}
	fmt.Printf("%q\n", h.KV)
	// Output:
	// fresh 3 events <nil>
	// fresh 1 events <nil>
	// map["https://api.example.com/x":"fresh"]
}
