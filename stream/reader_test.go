package stream

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestReaderReadsWriter: what the Writer writes, the Reader reads back,
// whatever the line ends, with ids kept for resuming.
func TestReaderReadsWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	w, err := NewWriter(rec, WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLog("c1", LogConfig{})
	l.Append("host.log", time.Unix(1, 0), []byte(`{"message":"a\nb"}`))
	l.Append(TypeCompleted, time.Unix(2, 0), []byte(`{"output":1}`))
	sub := l.Subscribe(0)
	for {
		e, err := sub.Next(t.Context())
		if err != nil {
			break
		}
		w.Event(e)
	}
	for _, eol := range []string{"\n", "\r\n", "\r"} {
		body := strings.ReplaceAll(rec.Body.String(), "\n", eol)
		r := NewReader(strings.NewReader(body))
		var types []string
		for {
			e, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("eol %q: %v", eol, err)
			}
			types = append(types, e.Type)
			if e.Type == "host.log" && string(e.Data) != `{"message":"a\nb"}` {
				t.Fatalf("data %s", e.Data)
			}
		}
		if strings.Join(types, ",") != "host.log,call.completed" || r.LastEventID() != "2" {
			t.Fatalf("eol %q: types %v, last id %q", eol, types, r.LastEventID())
		}
	}
}

func TestReaderTruncated(t *testing.T) {
	r := NewReader(strings.NewReader("id: 1\nevent: x\ndata: {\"type\":\"x\""))
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want unexpected EOF", err)
	}
}
