package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

// FuzzWriterRoundTrip writes an event with arbitrary type and data, reads it
// back with the independent parser, and expects the same event: the Writer
// either refuses it having written nothing, or frames it so that it survives
// intact. Data that is not JSON is sent as a JSON string.
func FuzzWriterRoundTrip(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzWriterRoundTrip.
	when := time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	f.Fuzz(func(t *testing.T, typ, data string) {
		raw := json.RawMessage(data)
		if !json.Valid(raw) {
			raw, _ = json.Marshal(data)
		}
		in := Event{Type: typ, Call: "c1", Seq: 42, Time: when, Data: raw}

		rec := httptest.NewRecorder()
		w, err := NewWriter(rec, WriterConfig{})
		if err != nil {
			t.Fatal(err)
		}
		preamble := rec.Body.Len()
		if err := w.Event(in); err != nil {
			if !errors.Is(err, ErrInvalidType) || checkType(typ) == nil {
				t.Fatalf("Event(%q): %v", typ, err)
			}
			if rec.Body.Len() != preamble {
				t.Fatalf("a refused event wrote %q", rec.Body.Bytes()[preamble:])
			}
			return
		}

		items, err := newSSEParser(bytes.NewReader(rec.Body.Bytes())).All()
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 3 || items[2].Kind != "event" {
			t.Fatalf("got %+v, want retry, comment, event", items)
		}
		got := items[2]
		if got.ID != "42" || got.Type != typ {
			t.Fatalf("id %q type %q, want 42 %q", got.ID, got.Type, typ)
		}
		var env struct {
			Type string          `json:"type"`
			Call string          `json:"call"`
			Seq  uint64          `json:"seq"`
			Time string          `json:"time"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(got.Data), &env); err != nil {
			t.Fatalf("envelope %q: %v", got.Data, err)
		}
		if env.Type != typ || env.Call != "c1" || env.Seq != 42 || env.Time != "2025-01-02T03:04:05.006Z" {
			t.Fatalf("envelope %+v", env)
		}
		if want, back := decodeJSON(t, raw), decodeJSON(t, env.Data); !reflect.DeepEqual(want, back) {
			t.Fatalf("data %s came back as %s", raw, env.Data)
		}

		// Serve frames the log's events without encoding/json: to the
		// same bytes.
		if typ == TypeStreamError {
			return
		}
		logged, err := NewLog("c1", LogConfig{}).Append(typ, when, raw)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		slow, err := appendFrame(nil, logged)
		if err != nil {
			t.Fatal(err)
		}
		if fast, _ := appendLogFrame(nil, logged); !bytes.Equal(fast, slow) {
			t.Fatalf("a log event framed by Serve:\n%s\nby Event:\n%s", fast, slow)
		}
	})
}

// decodeJSON decodes b keeping numbers as written.
func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return v
}
