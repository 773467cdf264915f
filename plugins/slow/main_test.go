package main

import (
	"testing"
	"time"

	"github.com/capstream/capstream/sdk/sdktest"
)

func TestSlow(t *testing.T) {
	start := time.Now()
	out, events, err := (&sdktest.Host{}).Call(`{"steps":3,"delayMs":10}`)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"steps":3}` {
		t.Errorf("output %s", out)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("took %v, want at least 30ms", d)
	}
	want := []string{
		`host.progress {"message":"step 1 of 3","progress":1,"total":3}`,
		`host.output {"chunk":"step 1\n"}`,
		`host.progress {"message":"step 2 of 3","progress":2,"total":3}`,
		`host.output {"chunk":"step 2\n"}`,
		`host.progress {"message":"step 3 of 3","progress":3,"total":3}`,
		`host.output {"chunk":"step 3\n"}`,
	}
	if len(events) != len(want) {
		t.Fatalf("events %v", events)
	}
	for i, e := range events {
		if e.String() != want[i] {
			t.Errorf("event %d: %s, want %s", i, e, want[i])
		}
	}
}
