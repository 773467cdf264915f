package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/capstream/capstream/stream"
)

// writer is one principal adding notes, and what became of its notes.
type writer struct {
	subject, token string

	mu    sync.Mutex
	sent  map[string]bool // every note a call was started for
	acked map[string]bool // notes that must be there: their call.completed was read, or a restart showed them
	n     int             // notes sent this round
}

// next returns the text of the next note to send, or false once the round's
// share is sent.
func (w *writer) next(worker, limit int) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n >= limit {
		return "", false
	}
	w.n++
	text := fmt.Sprintf("%s/%d/%d", w.subject, worker, w.n)
	w.sent[text] = true
	return text, true
}

func (w *writer) ack(text string) {
	w.mu.Lock()
	w.acked[text] = true
	w.mu.Unlock()
}

// TestCrashKeepsAcknowledgedWrites kills the server with SIGKILL at a random
// moment while clients of several principals add notes concurrently, then
// restarts it on the same data directory, in rounds. After each restart the
// KV store must open and every note whose call.completed (carrying that
// note) reached its client must be listed, as must every note an earlier
// restart showed; no note may appear that no call sent, nor twice. A write
// in doubt (its stream cut by the kill) may go either way.
//
// SIGKILL ends the process, not the machine: it shows that a write is
// committed before its call is acknowledged, and that a store left by a
// process killed mid-transaction opens and holds its committed data. It
// says nothing of power loss, for which the store's fsync is the answer.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	const (
		rounds     = 3
		principals = 4   // new ones each round
		workers    = 3   // concurrent clients per principal
		perRound   = 100 // notes per principal and round at most (notes keeps 200)
	)
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)

	dataDir := t.TempDir()
	plugins := toolDir(t, "notes")
	srv := startServer(t, serverConfig{dataDir: dataDir, plugins: plugins})
	var all []*writer
	var totalAcked, totalMissing, totalDoubt, totalDoubtFound int
	for round := 1; round <= rounds; round++ {
		var ws []*writer
		for i := range principals {
			sub := fmt.Sprintf("writer-%d-%d", round, i)
			ws = append(ws, &writer{subject: sub, token: srv.token(t, sub, "analyst"), sent: map[string]bool{}, acked: map[string]bool{}})
		}
		all = append(all, ws...)

		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: principals * workers}}
		// The moment of the kill: once a random number of adds, up to half
		// of the round's, have been acknowledged, so that writers are busy.
		killAt := int64(1 + rng.IntN(principals*perRound/2))
		var (
			wg      sync.WaitGroup
			killed  atomic.Bool
			acks    atomic.Int64
			reached = make(chan struct{})
			once    sync.Once
		)
		for _, w := range ws {
			for worker := range workers {
				wg.Go(func() {
					for {
						text, ok := w.next(worker, perRound)
						if !ok {
							return
						}
						input, _ := json.Marshal(map[string]string{"op": "add", "text": text})
						resp, err := postCall(client, srv.url, w.token, "notes", string(input))
						if err != nil {
							if !killed.Load() {
								t.Errorf("%s: POST before the kill: %v", text, err)
							}
							return
						}
						if resp.StatusCode != http.StatusOK {
							resp.Body.Close()
							t.Errorf("%s: POST: %s", text, resp.Status)
							return
						}
						s := readCallStream(resp.Body)
						resp.Body.Close()
						if s.Err != nil {
							if !killed.Load() {
								t.Errorf("%s: stream before the kill: %v", text, s.Err)
							}
							return
						}
						term, _ := s.Terminal()
						if notes := notesOf(t, term); term.Type != stream.TypeCompleted || !slices.Contains(notes, text) {
							t.Errorf("%s: add ended with %s %s", text, term.Type, term.Data)
							return
						}
						w.ack(text)
						if acks.Add(1) >= killAt {
							once.Do(func() { close(reached) })
						}
					}
				})
			}
		}

		select {
		case <-reached:
		case <-time.After(time.Minute):
			t.Fatalf("fewer than %d adds acknowledged within a minute", killAt)
		}
		time.Sleep(time.Duration(rng.IntN(5000)) * time.Microsecond)
		killed.Store(true)
		ackedAtKill := acks.Load()
		srv.signal(t, syscall.SIGKILL)
		if st := srv.wait(t, 10*time.Second); st.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("the server ended with %v, not by SIGKILL", st)
		}
		wg.Wait()
		client.CloseIdleConnections()
		if t.Failed() {
			return
		}

		// The store opens after the crash, and holds what it acknowledged.
		srv = startServer(t, serverConfig{dataDir: dataDir, plugins: plugins})
		roundAcked, missing, roundDoubt, roundDoubtFound := 0, 0, 0, 0
		for _, w := range all {
			found := listNotes(t, srv, w)
			w.mu.Lock()
			for text := range w.acked {
				if found[text] == 0 {
					missing++
					t.Errorf("round %d: %s: the acknowledged note %q is missing after the restart", round, w.subject, text)
				}
			}
			for text, n := range found {
				switch {
				case !w.sent[text]:
					t.Errorf("round %d: %s: note %q was never sent", round, w.subject, text)
				case n > 1:
					t.Errorf("round %d: %s: note %q is there %d times", round, w.subject, text, n)
				}
			}
			if slices.Contains(ws, w) {
				roundAcked += len(w.acked)
				roundDoubt += len(w.sent) - len(w.acked)
				for text := range found {
					if !w.acked[text] {
						roundDoubtFound++
					}
				}
			}
			// A note seen after a restart must survive the crashes to come.
			for text := range found {
				w.acked[text] = true
			}
			w.mu.Unlock()
		}
		t.Logf("figure: round %d: SIGKILL after %d acknowledged adds; this round %d acknowledged, %d in doubt (stream cut by the kill) of which %d were written; after the restart %d acknowledged notes (all rounds) missing",
			round, ackedAtKill, roundAcked, roundDoubt, roundDoubtFound, missing)
		totalAcked += roundAcked
		totalMissing += missing
		totalDoubt += roundDoubt
		totalDoubtFound += roundDoubtFound
		if t.Failed() {
			return
		}
	}
	t.Logf("figure: %d rounds of SIGKILL under %d concurrent writers (%d principals per round): %d writes acknowledged, %d found after restart (%d lost); %d in doubt, %d of them written",
		rounds, principals*workers, principals, totalAcked, totalAcked-totalMissing, totalMissing, totalDoubt, totalDoubtFound)

	// The last server stops cleanly.
	srv.signal(t, syscall.SIGTERM)
	if st := srv.wait(t, 30*time.Second); st.ExitCode() != 0 {
		t.Fatalf("after SIGTERM the server ended with %v, want exit status 0", st)
	}
}

// notesOf returns the notes in the output of a notes call's terminal event.
func notesOf(t *testing.T, term sseEvent) []string {
	var data struct {
		Output struct{ Notes []string }
	}
	if err := json.Unmarshal(term.Data, &data); err != nil {
		t.Errorf("decoding %s: %v", term.Data, err)
	}
	return data.Output.Notes
}

// listNotes returns w's notes, with how many times each is there.
func listNotes(t *testing.T, srv *serverProcess, w *writer) map[string]int {
	t.Helper()
	resp, err := postCall(http.DefaultClient, srv.url, w.token, "notes", `{"op":"list"}`)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list as %s: %s", w.subject, resp.Status)
	}
	s := readCallStream(resp.Body)
	term, _ := s.Terminal()
	if s.Err != nil || term.Type != stream.TypeCompleted {
		t.Fatalf("list as %s: %v, ended with %s %s", w.subject, s.Err, term.Type, term.Data)
	}
	found := map[string]int{}
	for _, n := range notesOf(t, term) {
		found[n]++
	}
	return found
}
