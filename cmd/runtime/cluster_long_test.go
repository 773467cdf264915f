//go:build long

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestLongReplicaKilledMidStreams: the replica running 50 streaming calls
// (50 principals) is killed with SIGKILL; every call, read from the other
// replica, has each event once and exactly one terminal event,
// call.failed node_lost, within the 2s lease and a margin.
func TestLongReplicaKilledMidStreams(t *testing.T) {
	const calls = 50
	f := newClusterFixture(t)
	a := f.startReplica(t, "a")
	b := f.startReplica(t, "b")
	ids := make([]string, calls)
	tokens := make([]string, calls)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: calls}}
	var wg sync.WaitGroup
	for i := range calls {
		tokens[i] = f.token(t, fmt.Sprintf("user-%02d", i))
		resp, err := postCall(client, a.url, tokens[i], "slow", `{"steps":200,"delayMs":100}`)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = strings.TrimPrefix(resp.Header.Get("Location"), "/v1/calls/")
		br := bufio.NewReader(resp.Body)
		for line := ""; !strings.HasPrefix(line, "event: host.progress"); {
			if line, err = br.ReadString('\n'); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		wg.Go(func() { io.Copy(io.Discard, br); resp.Body.Close() }) // until the kill cuts it
	}
	a.signal(t, syscall.SIGKILL)
	killed := time.Now()
	var slowest time.Duration
	for i, id := range ids {
		s := getEvents(t, b.url, tokens[i], id)
		if s.Err != nil {
			t.Fatalf("call %d on b: %v", i, s.Err)
		}
		term, _ := s.Terminal()
		var d struct{ Error struct{ Code string } }
		if json.Unmarshal(term.Data, &d); term.Type != "call.failed" || d.Error.Code != "node_lost" {
			t.Fatalf("call %d ended %s %s, want call.failed node_lost", i, term.Type, term.Data)
		}
		slowest = max(slowest, term.At.Sub(killed))
	}
	wg.Wait()
	if slowest > 2*time.Second+5*time.Second {
		t.Fatalf("the last node_lost was read %v after the kill; the lease is 2s", slowest)
	}
	t.Logf("figure: %d calls ended node_lost, the last read on the other replica %v after kill -9 (lease 2s)", calls, slowest.Round(time.Millisecond))
	// Three times the bound later, still exactly one terminal event each.
	time.Sleep(3 * (2*time.Second + 5*time.Second))
	for i, id := range ids {
		if s := getEvents(t, b.url, tokens[i], id); s.Err != nil {
			t.Fatalf("call %d read again: %v", i, s.Err)
		}
	}
}

// TestLongReplicaStoppedIsFenced: a replica stopped (SIGSTOP) past its
// lease while a call streams from it; the other replica ends the call
// node_lost. Continued (SIGCONT), the stopped replica can append nothing
// more: its own stream of the call ends with stream.error resume, the call
// keeps exactly its one terminal event, and the replica serves again once
// it holds a new lease.
func TestLongReplicaStoppedIsFenced(t *testing.T) {
	f := newClusterFixture(t)
	a := f.startReplica(t, "a")
	b := f.startReplica(t, "b")
	tok := f.token(t, "alice")
	resp, err := postCall(http.DefaultClient, a.url, tok, "slow", `{"steps":200,"delayMs":100}`)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/v1/calls/")
	br := bufio.NewReader(resp.Body)
	for line := ""; !strings.HasPrefix(line, "event: host.progress"); {
		if line, err = br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	a.signal(t, syscall.SIGSTOP)
	stopped := time.Now()
	s := getEvents(t, b.url, tok, id)
	if s.Err != nil {
		t.Fatalf("stream on b: %v", s.Err)
	}
	term, _ := s.Terminal()
	if !strings.Contains(string(term.Data), "node_lost") {
		t.Fatalf("terminal event %s %s, want node_lost", term.Type, term.Data)
	}
	t.Logf("figure: node_lost %v after SIGSTOP (lease 2s)", time.Since(stopped).Round(time.Millisecond))
	a.signal(t, syscall.SIGCONT)

	rest, _ := io.ReadAll(br)
	if strings.Contains(string(rest), "event: call.") || !strings.Contains(string(rest), `"code":"resume"`) {
		t.Fatalf("a's own stream after SIGCONT: %s; want stream.error resume and no terminal event", rest)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := http.Get(a.url + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the continued replica did not become ready again within 20s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	again := getEvents(t, a.url, tok, id)
	if again.Err != nil || len(again.Events) != len(s.Events) {
		t.Fatalf("the call read on a after: %d events, %v; want the %d read on b", len(again.Events), again.Err, len(s.Events))
	}
	log, _ := os.ReadFile(a.log)
	if !strings.Contains(string(log), "fenced") {
		t.Fatal("the continued replica's log does not say it fenced itself")
	}
}
