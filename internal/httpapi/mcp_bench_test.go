package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/stream"
)

// BenchmarkMCPvsREST measures one echo call four ways, side by side in one
// run, by N concurrent clients with keep-alive connections, each its own
// principal (role analyst), as BenchmarkHTTPEcho does:
//
//   - path=rest: POST /v1/tools/echo/calls with Accept: text/event-stream,
//     read to the terminal event (echoCall).
//   - path=mcp-stateless: MCP 2026-07-28, one POST /mcp per tools/call,
//     with MCP-Protocol-Version, Mcp-Method and Mcp-Name, and the _meta the
//     revision requires; mcpFast answers it.
//   - path=mcp-stateless-sdk: the same, on a server where SetMCPFastPath
//     turned mcpFast off: the SDK's own handling.
//   - path=mcp-session: MCP 2025-11-25, one session per client, initialized
//     outside the timing, then one POST /mcp per tools/call with
//     Mcp-Session-Id and MCP-Protocol-Version.
//
// All four are hand-written HTTP on the same kind of client, so that the
// client's own cost is small and alike; each call is read to its end and
// must carry the echo's output (for MCP: a result, not an error, without
// isError, with the structured output), or the benchmark fails. It reports
// calls/s, per-call latency p50 and p99, and the process's CPU time per
// call ("cpu-us/call"); CPU time and allocations are those of the client
// and the server together, which share the process.
func BenchmarkMCPvsREST(b *testing.B) {
	e := newEnv(b, withHeartbeat(stream.DefaultHeartbeat))

	// Once, in full, each path: the call completes with the right output,
	// so the loops below may check less.
	checkEcho(b, e)
	body, h := mcpEchoStateless(0)
	checkMCPEcho(b, "stateless", e.mcpPost(alice(b), body, h...), 0)
	if id, refused := e.initialize(alice(b)); id == "" {
		b.Fatalf("initialize: %+v", refused)
	} else {
		checkMCPEcho(b, "session", e.mcpPost(alice(b), mcpEchoBody(2), "Mcp-Session-Id", id, "MCP-Protocol-Version", "2025-11-25"), 2)
		e.do("DELETE", "/mcp", alice(b), "", "Mcp-Session-Id", id, "MCP-Protocol-Version", "2025-11-25").Body.Close()
	}

	sdk := newEnv(b, withHeartbeat(stream.DefaultHeartbeat))
	httpapi.SetMCPFastPath(sdk.api, false)
	body, h = mcpEchoStateless(0)
	checkMCPEcho(b, "stateless through the SDK", sdk.mcpPost(alice(b), body, h...), 0)
	if httpapi.MCPFastCalls(sdk.api) != 0 || httpapi.MCPFastCalls(e.api) != 1 {
		b.Fatalf("fast path calls: %d with it off, %d with it on", httpapi.MCPFastCalls(sdk.api), httpapi.MCPFastCalls(e.api))
	}

	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("path=rest/clients=%d", clients), func(b *testing.B) { benchEcho(b, e, clients) })

		// The stateless path as capstream serves it (mcpFast), and through
		// the SDK alone, on a server of its own: what mcpFast saves. Each
		// request stands alone: one body, one id, will do.
		for _, path := range []struct {
			name string
			env  *env
		}{{"mcp-stateless", e}, {"mcp-stateless-sdk", sdk}} {
			b.Run(fmt.Sprintf("path=%s/clients=%d", path.name, clients), func(b *testing.B) {
				hc := keepAliveClient(clients)
				defer hc.CloseIdleConnections()
				tokens := benchTokens(b, clients)
				endpoint := path.env.srv.URL + "/mcp"
				const id = 1
				body, h := mcpEchoStateless(id)
				measureCalls(b, clients, func(i int, buf *bytes.Buffer) error {
					return mcpEchoCall(hc, endpoint, tokens[i], body, id, buf, h...)
				})
			})
		}

		b.Run(fmt.Sprintf("path=mcp-session/clients=%d", clients), func(b *testing.B) {
			hc := keepAliveClient(clients)
			defer hc.CloseIdleConnections()
			tokens := benchTokens(b, clients)
			endpoint := e.srv.URL + "/mcp"
			sessions := make([]string, clients) // opened outside the timing
			for i := range sessions {
				id, err := mcpInitialize(hc, endpoint, tokens[i])
				if err != nil {
					b.Fatalf("client %d: %v", i, err)
				}
				sessions[i] = id
			}
			defer func() {
				for i, id := range sessions {
					mcpEndSession(b, hc, endpoint, tokens[i], id)
				}
			}()
			ids := make([]int, clients) // each session's last request id
			for i := range ids {
				ids[i] = 1 // initialize
			}
			measureCalls(b, clients, func(i int, buf *bytes.Buffer) error {
				ids[i]++
				return mcpEchoCall(hc, endpoint, tokens[i], mcpEchoBody(ids[i]), ids[i], buf,
					"Mcp-Session-Id", sessions[i], "MCP-Protocol-Version", "2025-11-25")
			})
		})
	}
}

// mcpEchoBody is a tools/call of echo, with no _meta: the session era's.
func mcpEchoBody(id int) string {
	return `{"jsonrpc":"2.0","id":` + strconv.Itoa(id) + `,"method":"tools/call","params":{"name":"echo","arguments":{"text":"bench"}}}`
}

// mcpEchoStateless is a tools/call of echo in the stateless revision: its
// body, with the _meta it requires, and its headers (modern).
func mcpEchoStateless(id int) (string, []string) {
	return modern(id, "tools/call", "echo", map[string]any{"arguments": map[string]any{"text": "bench"}}, nil)
}

// What a successful echo's tools/call response holds, whichever the era
// (the SDK leaves isError out when false).
var (
	mcpEchoStructured = []byte(`"structuredContent":{"text":"bench"}`)
	mcpEchoText       = []byte(`"text":"{\"text\":\"bench\"}"`)
	mcpIsError        = []byte(`"isError":true`)
	mcpRPCError       = []byte(`"error":{`)
)

// mcpEchoCall posts one tools/call of echo to /mcp and reads the response
// to its end: an event stream whose last message, or a JSON body which,
// is the result of request id, with the echo's output and without isError.
func mcpEchoCall(hc *http.Client, endpoint, tok, body string, id int, buf *bytes.Buffer, headers ...string) error {
	resp, err := hc.Do(mcpRequest(endpoint, tok, body, headers...))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, buf.Bytes())
	}
	return checkEchoResult(resp.Header.Get("Content-Type"), buf.Bytes(), id)
}

// checkEchoResult is the check of every call: the response (an event
// stream's last message, or a JSON body) is the result of request id, with
// the echo's output as text and structured content, without isError.
func checkEchoResult(contentType string, body []byte, id int) error {
	msg := body
	if strings.HasPrefix(contentType, "text/event-stream") {
		i := bytes.LastIndex(msg, []byte("\ndata: {")) + 1 // after the newline
		if i == 0 && !bytes.HasPrefix(msg, []byte("data: {")) {
			return fmt.Errorf("no message in the stream:\n%s", body)
		}
		msg = msg[i+len("data: "):]
		if j := bytes.IndexByte(msg, '\n'); j >= 0 {
			msg = msg[:j]
		}
	}
	if !bytes.HasPrefix(msg, []byte(`{"jsonrpc":"2.0","id":`+strconv.Itoa(id)+`,"result":{`)) ||
		!bytes.Contains(msg, mcpEchoStructured) || !bytes.Contains(msg, mcpEchoText) ||
		bytes.Contains(msg, mcpIsError) || bytes.Contains(msg, mcpRPCError) {
		return fmt.Errorf("not a successful echo result for id %d:\n%s", id, body)
	}
	return nil
}

// checkMCPEcho reads a tools/call response of echo in full, decoding every
// message: one message, the result of request id, not an error, whose text
// and structured content are the echo's output.
func checkMCPEcho(b *testing.B, era string, resp *http.Response, id int) {
	b.Helper()
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %s: %s %v", era, resp.Status, raw, err)
	}
	// What the loop checks of every call holds of this one.
	if err := checkEchoResult(resp.Header.Get("Content-Type"), raw, id); err != nil {
		b.Fatalf("%s: %v", era, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	msgs, _ := rpcStream(b, resp)
	if len(msgs) != 1 || msgs[0].Error != nil || msgs[0].Result == nil || string(msgs[0].ID) != strconv.Itoa(id) {
		b.Fatalf("%s: %d messages: %+v", era, len(msgs), msgs)
	}
	var res struct {
		Content []struct {
			Type, Text string
		}
		StructuredContent json.RawMessage
		IsError           bool
	}
	if err := json.Unmarshal(msgs[0].Result, &res); err != nil || res.IsError || len(res.Content) != 1 ||
		res.Content[0].Type != "text" || res.Content[0].Text != `{"text":"bench"}` || string(res.StructuredContent) != `{"text":"bench"}` {
		b.Fatalf("%s: result %s: %v", era, msgs[0].Result, err)
	}
}

// mcpInitialize opens a session of the 2025-11-25 revision by hand, on hc:
// initialize, then notifications/initialized. It returns the session id.
func mcpInitialize(hc *http.Client, endpoint, tok string) (string, error) {
	post := func(body string, headers ...string) (*http.Response, []byte, error) {
		resp, err := hc.Do(mcpRequest(endpoint, tok, body, headers...))
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		return resp, raw, err
	}
	resp, raw, err := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	if err != nil {
		return "", err
	}
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || id == "" || !bytes.Contains(raw, []byte(`"protocolVersion":"2025-11-25"`)) {
		return "", fmt.Errorf("initialize: %s, session %q: %s", resp.Status, id, raw)
	}
	resp, raw, err = post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, "Mcp-Session-Id", id, "MCP-Protocol-Version", "2025-11-25")
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("notifications/initialized: %s: %s", resp.Status, raw)
	}
	return id, nil
}

// mcpEndSession ends a session with DELETE /mcp.
func mcpEndSession(b *testing.B, hc *http.Client, endpoint, tok, id string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodDelete, endpoint, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Mcp-Session-Id", id)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b.Fatalf("DELETE session %s: %s", id, resp.Status)
	}
}

// mcpRequest is a POST of one JSON-RPC message to an MCP endpoint, with a
// token and more headers, in pairs.
func mcpRequest(endpoint, tok, body string, headers ...string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}
