package main

import (
	"encoding/json"
	"testing"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/sdktest"
)

func TestWhoami(t *testing.T) {
	claims := sdktest.DefaultClaims("whoami", sdk.Needs{})
	claims.Subject, claims.Roles = "alice", []string{"analyst"}
	claims.Cap.HTTP = []sdk.HTTPRule{{URL: "https://api.example.com/v1/", Methods: []string{"GET"}}}
	out, events, err := (&sdktest.Host{Claims: &claims}).Call(`{}`)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(claims)
	if string(out) != string(want) {
		t.Errorf("output\n got %s\nwant %s", out, want)
	}
	if len(events) != 1 || events[0].Type != "host.capability" {
		t.Errorf("events %v", events)
	}
}
