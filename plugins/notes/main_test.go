package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/capstream/capstream/sdk/sdktest"
)

var keyPattern = regexp.MustCompile(`^note/\d{8}-[0-9a-f]{16}$`)

func TestNotes(t *testing.T) {
	h := &sdktest.Host{}
	steps := []struct {
		input string
		want  string
	}{
		{`{"op":"list"}`, `{"notes":[]}`},
		{`{"op":"add","text":"first"}`, `{"notes":["first"]}`},
		{`{"op":"add","text":"second"}`, `{"notes":["first","second"]}`},
		{`{"op":"list"}`, `{"notes":["first","second"]}`},
		{`{"op":"clear"}`, `{"notes":[]}`},
		{`{"op":"add","text":"again"}`, `{"notes":["again"]}`},
	}
	for _, s := range steps {
		out, _, err := h.Call(s.input)
		if err != nil {
			t.Fatalf("%s: %v", s.input, err)
		}
		if string(out) != s.want {
			t.Errorf("%s: %s, want %s", s.input, out, s.want)
		}
	}
	if len(h.KV) != 1 || !keyPattern.MatchString(slices.Collect(maps.Keys(h.KV))[0]) {
		t.Errorf("namespace %q, want one key like note/00000000-<16 hex digits>", h.KV)
	}
}

// TestNotesOrder checks that listing follows the order of adding past the
// point where unpadded numbers would sort wrong.
func TestNotesOrder(t *testing.T) {
	h := &sdktest.Host{}
	var out []byte
	for i := range 12 {
		var err error
		if out, _, err = h.Call(fmt.Sprintf(`{"op":"add","text":"%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if want := `{"notes":["0","1","2","3","4","5","6","7","8","9","10","11"]}`; string(out) != want {
		t.Errorf("notes %s, want %s", out, want)
	}
}

func TestNotesErrors(t *testing.T) {
	tests := []struct {
		input string
		want  string
	}{
		{`{"op":"add"}`, "tool_error: op add needs a non-empty text"},
		{`{"op":"shred"}`, `tool_error: unknown op "shred": want add, list or clear`},
	}
	for _, tt := range tests {
		if _, _, err := (&sdktest.Host{}).Call(tt.input); err == nil || err.Error() != tt.want {
			t.Errorf("%s: %v, want %s", tt.input, err, tt.want)
		}
	}

	full := map[string][]byte{}
	for i := range maxNotes {
		full[fmt.Sprintf("note/%08d-0000000000000000", i)] = []byte("n")
	}
	h := &sdktest.Host{KV: full}
	if _, _, err := h.Call(`{"op":"add","text":"one too many"}`); err == nil || !strings.Contains(err.Error(), "clear them first") {
		t.Errorf("add past the cap: %v", err)
	}
}

// TestNotesConcurrentAdds adds notes from many calls at once, as one
// principal's clients may: every note must survive.
func TestNotesConcurrentAdds(t *testing.T) {
	h := &sdktest.Host{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, _, err := h.Call(fmt.Sprintf(`{"op":"add","text":"n%d"}`, i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	out, _, err := h.Call(`{"op":"list"}`)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Notes []string }
	if err := json.Unmarshal(out, &got); err != nil || len(got.Notes) != 20 {
		t.Errorf("after 20 concurrent adds: %s, %v", out, err)
	}
}
