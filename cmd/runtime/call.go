package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/capstream/capstream/stream"
)

// runCall calls a tool on a running server and shows its events live. It
// exits 0 when the call completes, 1 when it fails or is cancelled; Ctrl-C
// closes the stream, which cancels the call.
func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("call", "call TOOL [--input JSON] [flags]", stderr)
	input := fs.String("input", "{}", "the tool's input, a JSON object (@FILE reads a file, - reads stdin)")
	url := fs.String("url", "http://127.0.0.1:8080", "the server")
	token := fs.String("token", "", "bearer token (default $CAPSTREAM_TOKEN)")
	raw := fs.Bool("json", false, "print the raw events, one JSON envelope per line")
	noColor := fs.Bool("no-color", false, "no colours")
	// The tool name comes first; flags follow it.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		fs.Usage()
		return &exitError{2}
	}
	tool, rest := args[0], args[1:]
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("CAPSTREAM_TOKEN")
	}
	body, err := readInputArg(*input)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*url, "/")+"/v1/tools/"+tool+"/calls", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("%s: %s (%s)", resp.Status, e.Error.Message, e.Error.Code)
		}
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	p := &printer{w: stdout, color: !*noColor && isTerminal(stdout), raw: *raw}
	r := stream.NewReader(resp.Body)
	for {
		e, err := r.Next()
		if err != nil {
			if ctx.Err() != nil {
				p.finish("cancelled (interrupted)", false)
				return &exitError{130}
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading the stream: %w", err)
		}
		if ok, done := p.event(e); done {
			if !ok {
				return &exitError{1}
			}
			return nil
		}
	}
}

func readInputArg(s string) ([]byte, error) {
	switch {
	case s == "-":
		return io.ReadAll(os.Stdin)
	case strings.HasPrefix(s, "@"):
		return os.ReadFile(s[1:])
	}
	if !json.Valid([]byte(s)) {
		return nil, fmt.Errorf("--input is not valid JSON: %s", s)
	}
	return []byte(s), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// printer shows events for people, or raw for scripts.
type printer struct {
	w       io.Writer
	color   bool
	raw     bool
	barOpen bool // a progress bar is on the current line
}

const (
	red, green, yellow, dim, reset = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[2m", "\x1b[0m"
)

func (p *printer) paint(c, s string) string {
	if !p.color {
		return s
	}
	return c + s + reset
}

// line prints one line, below any progress bar.
func (p *printer) line(s string) {
	if p.barOpen {
		fmt.Fprintln(p.w)
		p.barOpen = false
	}
	fmt.Fprintln(p.w, s)
}

// event shows one event and reports whether the call ended, and well.
func (p *printer) event(e stream.Event) (ok, done bool) {
	if p.raw {
		b, _ := json.Marshal(e)
		fmt.Fprintln(p.w, string(b))
		return e.Type == stream.TypeCompleted, stream.IsTerminal(e.Type)
	}
	var d map[string]any
	json.Unmarshal(e.Data, &d)
	if denied, ok := d["denied"].(map[string]any); ok {
		p.line(p.paint(yellow, fmt.Sprintf("✗ %s denied (%v): %v", e.Type, denied["grant"], denied["reason"])))
		return false, false
	}
	switch e.Type {
	case "call.started":
		p.line(p.paint(dim, fmt.Sprintf("▶ %v as %v  (call %s)", d["tool"], d["subject"], e.Call)))
	case "host.log":
		p.line(fmt.Sprintf("  [%v] %v", d["level"], d["message"]))
	case "host.output":
		p.line(fmt.Sprintf("  » %v", d["chunk"]))
	case "host.progress":
		p.progress(d)
	case "host.http":
		p.line(p.paint(dim, fmt.Sprintf("  ⇄ %v %v → %v (%vms, %v bytes)", d["method"], d["url"], orDash(d["status"]), d["durationMs"], d["bytes"])))
	case "host.kv":
		p.line(p.paint(dim, fmt.Sprintf("  ⛁ kv %v %v", d["op"], d["key"])))
	case stream.TypeCompleted:
		out, _ := json.Marshal(d["output"])
		p.finish(fmt.Sprintf("✓ completed in %vms: %s", d["durationMs"], out), true)
		return true, true
	case stream.TypeFailed:
		e, _ := d["error"].(map[string]any)
		p.finish(fmt.Sprintf("✗ failed (%v) after %vms: %v", e["code"], d["durationMs"], e["message"]), false)
		return false, true
	case stream.TypeCancelled:
		p.finish(fmt.Sprintf("✗ cancelled (%v) after %vms", d["reason"], d["durationMs"]), false)
		return false, true
	default:
		p.line(p.paint(dim, fmt.Sprintf("  %s %s", e.Type, e.Data)))
	}
	return false, false
}

func (p *printer) progress(d map[string]any) {
	done, _ := d["progress"].(float64)
	total, _ := d["total"].(float64)
	msg, _ := d["message"].(string)
	if total <= 0 {
		p.line(fmt.Sprintf("  … %v %s", done, msg))
		return
	}
	const width = 30
	n := min(int(done/total*width), width)
	bar := strings.Repeat("█", n) + strings.Repeat("░", width-n)
	text := fmt.Sprintf("  %s %3.0f%% %s", bar, 100*done/total, msg)
	if p.color {
		fmt.Fprintf(p.w, "\r\x1b[K%s", text)
		p.barOpen = true
		return
	}
	p.line(text)
}

func (p *printer) finish(s string, ok bool) {
	c := red
	if ok {
		c = green
	}
	p.line(p.paint(c, s))
}

func orDash(v any) any {
	if v == nil {
		return "-"
	}
	return v
}
