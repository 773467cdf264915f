package httpapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// sseEvent is one event as a browser's EventSource would dispatch it. This
// parser follows the WHATWG rules and shares no code with package stream.
type sseEvent struct {
	ID, Type, Data string
}

// envelope decodes the data of a capstream event.
func (e sseEvent) envelope(t testing.TB) (env struct {
	Type string          `json:"type"`
	Call string          `json:"call"`
	Seq  uint64          `json:"seq"`
	Time string          `json:"time"`
	Data json.RawMessage `json:"data"`
}) {
	t.Helper()
	if err := json.Unmarshal([]byte(e.Data), &env); err != nil {
		t.Fatalf("event data %q is not an envelope: %v", e.Data, err)
	}
	return env
}

// sseStream is a parsed stream: its events, comments and retry field, in
// the order they came.
type sseStream struct {
	Events   []sseEvent
	Comments []string
	Retry    string
	First    string // the first line, to check the stream opens as docs/design.md §5 says
}

// parseSSE reads r to its end.
func parseSSE(t testing.TB, r io.Reader) sseStream {
	t.Helper()
	var s sseStream
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sseEvent
	var data []string
	first := true
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if first {
			s.First, first = line, false
		}
		switch {
		case line == "":
			if data != nil {
				cur.Data = strings.Join(data, "\n")
				if cur.Type == "" {
					cur.Type = "message"
				}
				s.Events = append(s.Events, cur)
			}
			cur, data = sseEvent{ID: cur.ID}, nil
			cur.Type = ""
		case strings.HasPrefix(line, ":"):
			s.Comments = append(s.Comments, strings.TrimPrefix(line[1:], " "))
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				cur.ID = value
			case "event":
				cur.Type = value
			case "data":
				data = append(data, value)
			case "retry":
				s.Retry = value
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return s
}
