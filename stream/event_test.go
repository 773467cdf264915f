package stream

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 678_900_000, time.UTC)

func TestEventMarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		event   Event
		want    string
		wantErr error
	}{
		{
			name:  "envelope",
			event: Event{Type: "host.log", Call: "c1", Seq: 3, Time: t0, Data: json.RawMessage(`{"level":"info","message":"hi"}`)},
			want:  `{"type":"host.log","call":"c1","seq":3,"time":"2025-01-02T03:04:05.678Z","data":{"level":"info","message":"hi"}}`,
		},
		{
			name:  "time in UTC",
			event: Event{Type: "a", Call: "c1", Seq: 1, Time: t0.In(time.FixedZone("X", 3600)), Data: json.RawMessage(`{}`)},
			want:  `{"type":"a","call":"c1","seq":1,"time":"2025-01-02T03:04:05.678Z","data":{}}`,
		},
		{
			name:  "empty data is an empty object",
			event: Event{Type: "a", Call: "c1", Seq: 1, Time: t0},
			want:  `{"type":"a","call":"c1","seq":1,"time":"2025-01-02T03:04:05.678Z","data":{}}`,
		},
		{
			name:  "no seq outside the log",
			event: ErrorEvent("c1", "token_expired", "token expired", t0),
			want:  `{"type":"stream.error","call":"c1","time":"2025-01-02T03:04:05.678Z","data":{"code":"token_expired","message":"token expired"}}`,
		},
		{
			name:  "whitespace and line breaks are compacted away",
			event: Event{Type: "a", Call: "c1", Seq: 1, Time: t0, Data: json.RawMessage("{\r\n  \"a\": [1,\n 2]\r}\n")},
			want:  `{"type":"a","call":"c1","seq":1,"time":"2025-01-02T03:04:05.678Z","data":{"a":[1,2]}}`,
		},
		{
			name:  "escaped line breaks stay escaped",
			event: Event{Type: "a", Call: "c1", Seq: 1, Time: t0, Data: json.RawMessage(`{"m":"x\ny\rz"}`)},
			want:  `{"type":"a","call":"c1","seq":1,"time":"2025-01-02T03:04:05.678Z","data":{"m":"x\ny\rz"}}`,
		},
		{
			name:  "U+2028 and U+2029 are escaped",
			event: Event{Type: "a", Call: "c1", Seq: 1, Time: t0, Data: json.RawMessage("{\"m\":\"x\u2028y\u2029z\"}")},
			want:  `{"type":"a","call":"c1","seq":1,"time":"2025-01-02T03:04:05.678Z","data":{"m":"x\u2028y\u2029z"}}`,
		},
		{
			name:  "HTML characters are kept",
			event: Event{Type: "a", Call: "c<1>", Seq: 1, Time: t0, Data: json.RawMessage(`{"m":"<a&b>"}`)},
			want:  `{"type":"a","call":"c<1>","seq":1,"time":"2025-01-02T03:04:05.678Z","data":{"m":"<a&b>"}}`,
		},
		{
			name:  "invalid UTF-8 is replaced",
			event: Event{Type: "a", Call: "c1", Seq: 1, Time: t0, Data: json.RawMessage("\"\xe2\x80x\xff\"")},
			want:  "{\"type\":\"a\",\"call\":\"c1\",\"seq\":1,\"time\":\"2025-01-02T03:04:05.678Z\",\"data\":\"\uFFFD\uFFFDx\uFFFD\"}",
		},
		{
			name:    "invalid JSON",
			event:   Event{Type: "a", Call: "c1", Seq: 1, Time: t0, Data: json.RawMessage(`{"a":`)},
			wantErr: ErrInvalidData,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.event)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// json.Marshal escapes HTML characters; MarshalJSON alone does not.
			direct, _ := tt.event.MarshalJSON()
			if string(direct) != tt.want {
				t.Errorf("MarshalJSON:\n got %s\nwant %s", direct, tt.want)
			}
			var back Event
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if back.Type != tt.event.Type || back.Call != tt.event.Call || back.Seq != tt.event.Seq ||
				!back.Time.Equal(tt.event.Time.Truncate(time.Millisecond)) {
				t.Errorf("round trip: got %+v, want %+v", back, tt.event)
			}
		})
	}
}

func TestIsTerminal(t *testing.T) {
	for typ, want := range map[string]bool{
		"call.completed": true, "call.failed": true, "call.cancelled": true,
		"call.started": false, "host.log": false, "stream.error": false, "": false,
	} {
		if got := IsTerminal(typ); got != want {
			t.Errorf("IsTerminal(%q) = %v, want %v", typ, got, want)
		}
	}
}
