package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRun builds both guests and runs a short benchmark end to end: the
// table names every path and the last line is the speedup.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two Go guests for wasip1")
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-rounds", "2", "-calls", "3"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, name := range []string{"capstream ", "extism ", "capstream, no snapshot "} {
		if !strings.Contains(text, "\n"+name+" ") {
			t.Errorf("no row for %q in\n%s", name, text)
		}
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if last := lines[len(lines)-1]; !regexp.MustCompile(`^per-call speedup vs extism: [0-9]+\.[0-9]x$`).MatchString(last) {
		t.Errorf("last line %q", last)
	}
}

// TestVerify checks that verify accepts a guest that does the work and
// refuses one that copies its input, skips the log line or logs another.
func TestVerify(t *testing.T) {
	echo := func(input []byte) []byte {
		var in echoText
		if err := json.Unmarshal(input, &in); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(in)
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	logLine := func(input []byte) string {
		var in echoText
		json.Unmarshal(input, &in)
		return fmt.Sprintf("echoing %d bytes", len(in.Text))
	}
	tests := []struct {
		name  string
		guest func(p *path, input []byte) []byte
		ok    bool
	}{
		{"echoes and logs", func(p *path, in []byte) []byte { p.onLog(logLine(in)); return echo(in) }, true},
		{"copies its input", func(p *path, in []byte) []byte { p.onLog(logLine(in)); return in }, false},
		{"logs nothing", func(p *path, in []byte) []byte { return echo(in) }, false},
		{"logs twice", func(p *path, in []byte) []byte { p.onLog(logLine(in)); p.onLog(logLine(in)); return echo(in) }, false},
		{"logs another line", func(p *path, in []byte) []byte { p.onLog("echoing 5 bytes"); return echo(in) }, false},
		{"constant output", func(p *path, in []byte) []byte { p.onLog(logLine(in)); return []byte(`{"text":"hello"}`) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &path{name: "fake"}
			p.call = func(_ context.Context, input []byte) ([]byte, error) { return tt.guest(p, input), nil }
			err := verify(t.Context(), p)
			if (err == nil) != tt.ok {
				t.Fatalf("verify: %v; want ok=%v", err, tt.ok)
			}
			if p.onLog != nil {
				t.Error("verify left onLog set")
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.9, 7 * time.Millisecond},
		{ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2500 * time.Microsecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 0.1, 2 * time.Millisecond},
		{ms(1, 2, 3), 0, time.Millisecond},
		{ms(1, 2, 3), 1, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := quantile(tt.sorted, tt.q); got != tt.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, args := range [][]string{{"-rounds", "0"}, {"-calls", "-1"}, {"extra"}, {"-nope"}} {
		if _, err := parse(args, io.Discard); err == nil {
			t.Errorf("parse(%q) succeeded", args)
		}
	}
}
