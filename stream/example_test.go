package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"time"

	"github.com/capstream/capstream/stream"
)

// A producer appends a call's events to its log; a reader subscribes and
// gets them all in order, the ones already there first, then the live ones,
// until the terminal event.
func ExampleLog() {
	ctx := context.Background()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	log := stream.NewLog("call_1", stream.LogConfig{})
	log.Append("call.started", at, json.RawMessage(`{"tool":"echo"}`))

	sub := log.Subscribe(0) // from the start
	go func() {
		log.Append("host.log", at, json.RawMessage(`{"level":"info","message":"hello"}`))
		log.Append("call.completed", at, json.RawMessage(`{"output":{"text":"hello"}}`))
	}()
	for {
		e, err := sub.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		fmt.Println(e.Seq, e.Type, string(e.Data))
	}
	// Output:
	// 1 call.started {"tool":"echo"}
	// 2 host.log {"level":"info","message":"hello"}
	// 3 call.completed {"output":{"text":"hello"}}
}

// A client that reconnects with Last-Event-ID gets the events after it, even
// once the call is over.
func ExampleLog_Subscribe() {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	log := stream.NewLog("call_1", stream.LogConfig{})
	for _, typ := range []string{"call.started", "host.progress", "host.progress", "call.completed"} {
		log.Append(typ, at, nil)
	}

	sub := log.Subscribe(2) // Last-Event-ID: 2
	for {
		e, err := sub.Next(context.Background())
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(e.Seq, e.Type)
	}
	// Output:
	// 3 host.progress
	// 4 call.completed
	// EOF
}

// Serve writes a call's events as Server-Sent Events until the terminal
// event.
func ExampleWriter_Serve() {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	log := stream.NewLog("call_1", stream.LogConfig{})
	log.Append("host.log", at, json.RawMessage(`{"level":"info","message":"hi"}`))
	log.Append("call.completed", at, json.RawMessage(`{"output":{}}`))

	rec := httptest.NewRecorder() // in a handler: the http.ResponseWriter
	w, err := stream.NewWriter(rec, stream.WriterConfig{})
	if err != nil {
		return
	}
	if err := w.Serve(context.Background(), log.Subscribe(0)); err != nil {
		return
	}
	fmt.Println(rec.Header().Get("Content-Type"))
	fmt.Print(rec.Body.String())
	// Output:
	// text/event-stream; charset=utf-8
	// retry: 2000
	// : ok
	//
	// id: 1
	// event: host.log
	// data: {"type":"host.log","call":"call_1","seq":1,"time":"2025-01-02T03:04:05.000Z","data":{"level":"info","message":"hi"}}
	//
	// id: 2
	// event: call.completed
	// data: {"type":"call.completed","call":"call_1","seq":2,"time":"2025-01-02T03:04:05.000Z","data":{"output":{}}}
}
