// Command extism-echo is capstream's echo tool (plugins/echo) written for
// Extism's Go PDK, so that bench/peers can compare the two runtimes on the
// same work: decode the JSON input, log one line, encode the same output
// the same way.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o extism-echo.wasm .
package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/extism/go-pdk"
)

// Input is what echo takes, as in plugins/echo.
type Input struct {
	Text string `json:"text"`
}

// Output is what echo returns, as in plugins/echo.
type Output struct {
	Text string `json:"text"`
}

// echo is the export the host calls, once per instance.
//
//go:wasmexport echo
func echo() int32 {
	var in Input
	if err := json.Unmarshal(pdk.Input(), &in); err != nil {
		pdk.SetError(fmt.Errorf("reading input: %w", err))
		return 1
	}
	pdk.Log(pdk.LogInfo, fmt.Sprintf("echoing %d bytes", len(in.Text)))
	out, err := marshal(Output{Text: in.Text})
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	pdk.Output(out)
	return 0
}

// marshal encodes v as capstream's SDK encodes a tool's output: JSON
// without HTML escaping and without a trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func main() {}
