package stream

// An event-stream parser written from the WHATWG HTML standard, section
// 9.2.6 "Interpreting an event stream", independent of the Writer's code, to
// read streams back in tests.

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// sseItem is what the parser reports: a dispatched event, a comment, or a
// retry field that was accepted.
type sseItem struct {
	Kind    string // "event", "comment" or "retry"
	ID      string // event: the last event ID at dispatch
	Type    string // event: the type, "message" by default
	Data    string // event: the data; comment: the text after ":"
	RetryMS int    // retry: the reconnection time
}

type sseParser struct {
	r       *bufio.Reader
	started bool // the leading BOM, if any, has been handled

	// The buffers of the algorithm.
	data, eventType, lastIDBuf string
	lastID                     string // the source's last event ID string
	hasData                    bool
}

func newSSEParser(r io.Reader) *sseParser { return &sseParser{r: bufio.NewReader(r)} }

// Next returns the next item, or io.EOF when the stream ends. Per the
// standard, an event not terminated by a blank line is discarded at the end.
func (p *sseParser) Next() (sseItem, error) {
	for {
		line, err := p.readLine()
		if err != nil {
			return sseItem{}, err
		}
		if it, ok := p.processLine(line); ok {
			return it, nil
		}
	}
}

// All reads items until the stream ends.
func (p *sseParser) All() ([]sseItem, error) {
	var items []sseItem
	for {
		it, err := p.Next()
		if errors.Is(err, io.EOF) {
			return items, nil
		}
		if err != nil {
			return items, err
		}
		items = append(items, it)
	}
}

// readLine returns one line without its terminator: CRLF, LF or CR. The
// stream is decoded as UTF-8 with replacement characters, and one leading
// U+FEFF is dropped. A last line with no terminator is incomplete, hence
// never returned.
func (p *sseParser) readLine() (string, error) {
	var b strings.Builder
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			return "", err // incomplete line: discarded
		}
		switch c {
		case '\n':
			return p.decode(b.String()), nil
		case '\r':
			if next, err := p.r.Peek(1); err == nil && next[0] == '\n' {
				p.r.ReadByte()
			}
			return p.decode(b.String()), nil
		}
		b.WriteByte(c)
	}
}

func (p *sseParser) decode(line string) string {
	line = strings.ToValidUTF8(line, "\uFFFD")
	if !p.started {
		p.started = true
		line = strings.TrimPrefix(line, "\uFEFF")
	}
	return line
}

func (p *sseParser) processLine(line string) (sseItem, bool) {
	switch {
	case line == "":
		return p.dispatch()
	case line[0] == ':':
		return sseItem{Kind: "comment", Data: strings.TrimPrefix(line[1:], " ")}, true
	}
	field, value := line, ""
	if i := strings.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], strings.TrimPrefix(line[i+1:], " ")
	}
	switch field {
	case "event":
		p.eventType = value
	case "data":
		p.data += value + "\n"
		p.hasData = true
	case "id":
		if !strings.ContainsRune(value, 0) {
			p.lastIDBuf = value
		}
	case "retry":
		if value != "" && strings.Trim(value, "0123456789") == "" {
			ms, err := strconv.Atoi(value)
			if err == nil {
				return sseItem{Kind: "retry", RetryMS: ms}, true
			}
		}
	}
	return sseItem{}, false // other fields are ignored
}

func (p *sseParser) dispatch() (sseItem, bool) {
	p.lastID = p.lastIDBuf
	if !p.hasData {
		p.eventType = ""
		return sseItem{}, false
	}
	it := sseItem{Kind: "event", ID: p.lastID, Type: p.eventType, Data: strings.TrimSuffix(p.data, "\n")}
	if it.Type == "" {
		it.Type = "message"
	}
	p.data, p.eventType, p.hasData = "", "", false
	return it, true
}

// TestSSEParser checks the test parser itself against the standard, so the
// tests that rely on it can be trusted.
func TestSSEParser(t *testing.T) {
	ev := func(id, typ, data string) sseItem { return sseItem{Kind: "event", ID: id, Type: typ, Data: data} }
	tests := []struct {
		name  string
		input string
		want  []sseItem
	}{
		{"lf", "id: 1\nevent: a\ndata: x\n\n", []sseItem{ev("1", "a", "x")}},
		{"crlf", "id: 1\r\nevent: a\r\ndata: x\r\n\r\n", []sseItem{ev("1", "a", "x")}},
		{"cr", "id: 1\revent: a\rdata: x\r\r", []sseItem{ev("1", "a", "x")}},
		{"default type", "data: x\n\n", []sseItem{ev("", "message", "x")}},
		{"multi-line data", "data: a\ndata:b\ndata\n\n", []sseItem{ev("", "message", "a\nb\n")}},
		{"one space stripped", "data:  x\n\n", []sseItem{ev("", "message", " x")}},
		{"comments", ": ok\n:ping\n\n", []sseItem{{Kind: "comment", Data: "ok"}, {Kind: "comment", Data: "ping"}}},
		{"retry", "retry: 2000\nretry: 2s\nretry:\n", []sseItem{{Kind: "retry", RetryMS: 2000}}},
		{"no data no event", "event: a\nid: 7\n\ndata: x\n\n", []sseItem{ev("7", "message", "x")}},
		{"id persists", "id: 3\ndata: a\n\ndata: b\n\n", []sseItem{ev("3", "message", "a"), ev("3", "message", "b")}},
		{"id with NUL ignored", "id: 3\ndata: a\n\nid: 4\x00\ndata: b\n\n", []sseItem{ev("3", "message", "a"), ev("3", "message", "b")}},
		{"unknown field", "foo: bar\ndata: a\n\n", []sseItem{ev("", "message", "a")}},
		{"unterminated event discarded", "data: a\n\ndata: b\n", []sseItem{ev("", "message", "a")}},
		{"bom", "\uFEFFdata: a\n\n", []sseItem{ev("", "message", "a")}},
		{"invalid utf-8", "data: \xff\n\n", []sseItem{ev("", "message", "\uFFFD")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newSSEParser(strings.NewReader(tt.input)).All()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
