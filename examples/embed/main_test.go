package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/capstream/capstream/internal/testwasm"
)

func TestMain(m *testing.M) { testwasm.Main(m, true) }

// TestEmbed runs the notes tool for two principals with the program's own
// KV store and sink: each sees only its own notes, and every event reached
// the sink.
func TestEmbed(t *testing.T) {
	ctx := context.Background()
	kv := NewMemKV()
	r, err := NewRunner(ctx, testwasm.Go(t, "plugins/notes"), kv)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	call := func(subject, input string) (string, string) {
		var out bytes.Buffer
		res, err := r.Call(ctx, subject, json.RawMessage(input), &out)
		if err != nil {
			t.Fatal(err)
		}
		return res.Event.Type, string(res.Event.Data) + "\n" + out.String()
	}
	if typ, out := call("alice", `{"op":"add","text":"alice's note"}`); typ != "call.completed" || !strings.Contains(out, "host.kv") {
		t.Fatalf("alice's add: %s\n%s", typ, out)
	}
	if typ, out := call("bob", `{"op":"list"}`); typ != "call.completed" || strings.Contains(out, "alice's note") {
		t.Fatalf("bob's list: %s\n%s", typ, out)
	}
	typ, out := call("alice", `{"op":"list"}`)
	if typ != "call.completed" || !strings.Contains(out, "alice's note") {
		t.Fatalf("alice's list: %s\n%s", typ, out)
	}
	if !strings.HasPrefix(out[strings.Index(out, "\n")+1:], "call.started ") {
		t.Fatalf("the sink did not get call.started first:\n%s", out)
	}
	if len(kv.data) != 1 || kv.data["notes/alice"] == nil {
		t.Fatalf("namespaces in the store: %v, want notes/alice alone", kv.data)
	}
	if _, err := r.Call(ctx, "alice", json.RawMessage(`{"op":"nope"}`), &bytes.Buffer{}); err == nil {
		t.Fatal("an input the tool's schema refuses was run")
	}
}
