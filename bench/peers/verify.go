package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
)

// echoText is the input and the output of both echo tools.
type echoText struct {
	Text string `json:"text"`
}

// verify runs one call of p with an input it has never seen and checks
// that the guest did the work: the output is the echo of that input,
// encoded as both SDKs encode (no HTML escaping), and the log line reached
// the host. The input is sent HTML-escaped, so a guest that copied its
// input instead of decoding and encoding it would fail.
func verify(ctx context.Context, p *path) error {
	text := fmt.Sprintf("verify %s: <ünïcode & \"quotes\">", rand.Text())
	input, err := json.Marshal(echoText{Text: text}) // escapes <, > and &
	if err != nil {
		return err
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(echoText{Text: text}); err != nil {
		return err
	}
	wantOut := bytes.TrimSuffix(want.Bytes(), []byte("\n"))
	wantLog := fmt.Sprintf("echoing %d bytes", len(text))

	var logs []string
	p.onLog = func(msg string) { logs = append(logs, msg) }
	defer func() { p.onLog = nil }()
	got, err := p.call(ctx, input)
	if err != nil {
		return fmt.Errorf("%s: verifying: %w", p.name, err)
	}
	if !bytes.Equal(got, wantOut) {
		return fmt.Errorf("%s: verifying: output %s, want %s", p.name, got, wantOut)
	}
	if !slices.Equal(logs, []string{wantLog}) {
		return fmt.Errorf("%s: verifying: logs %q, want %q", p.name, logs, wantLog)
	}
	return nil
}
