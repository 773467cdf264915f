package stream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Reader decodes a capstream SSE stream on the client side: each event's
// data line is the envelope written by [Writer.Event]. It follows the
// EventSource parsing rules for the fields it uses (id, event, data,
// comments; LF, CR or CRLF line ends).
type Reader struct {
	br     *bufio.Reader
	lastID string
}

// NewReader returns a Reader of r, typically an HTTP response body.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 64<<10)} }

// LastEventID returns the id of the last event read: what to send as
// Last-Event-ID to resume.
func (r *Reader) LastEventID() string { return r.lastID }

// Next returns the next event. It returns io.EOF when the stream ends
// cleanly between events.
func (r *Reader) Next() (Event, error) {
	var typ string
	var data bytes.Buffer
	hasData := false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && (hasData || typ != "") {
				return Event{}, io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		if len(line) == 0 { // dispatch
			if !hasData {
				typ = ""
				continue
			}
			var e Event
			if err := json.Unmarshal(data.Bytes(), &e); err != nil {
				return Event{}, fmt.Errorf("stream: decoding event data: %w", err)
			}
			if typ != "" && e.Type == "" {
				e.Type = typ
			}
			return e, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			typ = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.lastID = string(value)
			}
		case "retry":
			if _, err := strconv.Atoi(string(value)); err != nil {
				continue
			}
		}
	}
}

// readLine reads one line without its end (LF, CR or CRLF).
func (r *Reader) readLine() ([]byte, error) {
	var line []byte
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
		switch b {
		case '\n':
			return line, nil
		case '\r':
			if next, err := r.br.Peek(1); err == nil && next[0] == '\n' {
				r.br.ReadByte()
			}
			return line, nil
		}
		line = append(line, b)
	}
}
