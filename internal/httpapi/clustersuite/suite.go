// Package clustersuite is the conformance suite of httpapi.Cluster: the
// caps, cancel requests, liveness and keys a server shares with the other
// replicas of a cluster. It runs against httpapi.SingleNode, the default,
// and against internal/cluster's Node over NATS JetStream.
package clustersuite

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/capstream/capstream/internal/httpapi"
)

// Config says how to make the replicas under test.
type Config struct {
	// Replicas is how many replicas Open returns; 1 for SingleNode.
	Replicas int
	// Open returns the Clusters of len(locals) new replicas that share
	// nothing with any earlier test's, replica i serving locals[i]: the
	// server whose calls it cancels.
	Open func(t *testing.T, locals []*Local) []httpapi.Cluster
}

// Local stands for the server a replica serves: it runs the calls the
// suite says it runs, and records what it is asked to cancel. Its Fence
// and Unfence count, for implementations that fence.
type Local struct {
	mu        sync.Mutex
	running   map[string]string // subject by call id
	cancelled []string          // "id subject reason", in order
	fenced    int
}

// CancelLocal cancels call id if this server runs it for subject.
func (l *Local) CancelLocal(id, subject, reason string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.running[id]; !ok || s != subject {
		return false
	}
	delete(l.running, id)
	l.cancelled = append(l.cancelled, id+" "+subject+" "+reason)
	return true
}

// Fence counts.
func (l *Local) Fence() { l.mu.Lock(); l.fenced++; l.mu.Unlock() }

// Unfence does nothing.
func (l *Local) Unfence() {}

func (l *Local) run(id, subject string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running == nil {
		l.running = map[string]string{}
	}
	l.running[id] = subject
}

func (l *Local) cancels() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.cancelled)
}

// Run runs the suite.
func Run(t *testing.T, cfg Config) {
	tests := []struct {
		name string
		f    func(*testing.T, Config)
	}{
		{"Cap", capHolds},
		{"CapUnderContention", capUnderContention},
		{"Release", release},
		{"SubjectsStayApart", subjectsApart},
		{"Cancel", cancel},
		{"Keys", keys},
		{"Ready", ready},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, cfg) })
	}
}

func open(t *testing.T, cfg Config) ([]httpapi.Cluster, []*Local) {
	t.Helper()
	locals := make([]*Local, cfg.Replicas)
	for i := range locals {
		locals[i] = &Local{}
	}
	cs := cfg.Open(t, locals)
	if len(cs) != cfg.Replicas {
		t.Fatalf("Open returned %d replicas, want %d", len(cs), cfg.Replicas)
	}
	return cs, locals
}

// admit admits call id of subject on c and fails the test on an error.
func admit(t *testing.T, c httpapi.Cluster, subject, id string, max int) (bool, int) {
	t.Helper()
	ok, running, err := c.Admit(t.Context(), subject, id, "echo", max)
	if err != nil {
		t.Fatalf("Admit(%q, %q): %v", subject, id, err)
	}
	return ok, running
}

// capHolds: a subject gets max places, counted over every replica; the
// next is refused with the count; another subject is not affected; a
// place given back is free again.
func capHolds(t *testing.T, cfg Config) {
	cs, _ := open(t, cfg)
	const max = 3
	for i := range max {
		if ok, _ := admit(t, cs[i%len(cs)], "alice", fmt.Sprintf("c_a%d", i), max); !ok {
			t.Fatalf("call %d of %d refused", i+1, max)
		}
	}
	for i, c := range cs {
		if ok, running := admit(t, c, "alice", "c_over", max); ok || running != max {
			t.Fatalf("replica %d: Admit over the cap = %v, %d running; want false, %d", i, ok, running, max)
		}
	}
	if ok, _ := admit(t, cs[len(cs)-1], "bob", "c_b0", max); !ok {
		t.Fatal("bob refused because of alice's calls")
	}
	cs[0].Release("alice", "c_a1")
	if ok, _ := admit(t, cs[len(cs)-1], "alice", "c_a3", max); !ok {
		t.Fatal("a place given back was not free")
	}
	if ok, _ := admit(t, cs[0], "alice", "c_a4", max); ok {
		t.Fatal("a released place was taken twice")
	}
}

// capUnderContention: many admissions at once, on every replica, admit
// exactly max calls, and every refusal reports max running.
func capUnderContention(t *testing.T, cfg Config) {
	cs, _ := open(t, cfg)
	const max, tries = 3, 12
	var wg sync.WaitGroup
	results := make([]struct {
		ok      bool
		running int
		err     error
	}, tries)
	for i := range tries {
		wg.Go(func() {
			r := &results[i]
			r.ok, r.running, r.err = cs[i%len(cs)].Admit(t.Context(), "carol", fmt.Sprintf("c_%02d", i), "echo", max)
		})
	}
	wg.Wait()
	admitted := 0
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Fatalf("Admit %d: %v", i, r.err)
		case r.ok:
			admitted++
		case r.running != max:
			t.Errorf("Admit %d refused with %d running, want %d", i, r.running, max)
		}
	}
	if admitted != max {
		t.Fatalf("%d of %d concurrent admissions admitted at a cap of %d", admitted, tries, max)
	}
	for i, r := range results {
		if r.ok {
			cs[(i+1)%len(cs)].Release("carol", fmt.Sprintf("c_%02d", i))
		}
	}
	for i := range max {
		if ok, _ := admit(t, cs[i%len(cs)], "carol", fmt.Sprintf("c_again%d", i), max); !ok {
			t.Fatalf("after every place was given back, admission %d refused", i+1)
		}
	}
}

// release: giving back a place twice, or one never taken, frees nothing
// more.
func release(t *testing.T, cfg Config) {
	cs, _ := open(t, cfg)
	const max = 2
	admit(t, cs[0], "dave", "c_1", max)
	admit(t, cs[len(cs)-1], "dave", "c_2", max)
	cs[0].Release("dave", "c_1")
	cs[len(cs)-1].Release("dave", "c_1")
	cs[0].Release("dave", "c_never")
	cs[0].Release("nobody", "c_never")
	if ok, _ := admit(t, cs[0], "dave", "c_3", max); !ok {
		t.Fatal("the place given back was not free")
	}
	if ok, running := admit(t, cs[len(cs)-1], "dave", "c_4", max); ok || running != max {
		t.Fatalf("Admit after a double release = %v, %d running; want false, %d", ok, running, max)
	}
}

// subjectsApart: subjects that differ only in characters a store might
// treat specially (NATS subject tokens and wildcards, separators,
// unicode) are counted apart.
func subjectsApart(t *testing.T, cfg Config) {
	cs, _ := open(t, cfg)
	subjects := []string{"a", "a.b", "a_b", "a.*", "a.>", "*", ">", "a b", "ü", "u", "a/b", "a\x00b", "A"}
	for _, s := range subjects {
		if ok, _ := admit(t, cs[0], s, "c_first", 1); !ok {
			t.Fatalf("subject %q refused its first call: counted with another", s)
		}
	}
	for _, s := range subjects {
		if ok, running := admit(t, cs[len(cs)-1], s, "c_second", 1); ok || running != 1 {
			t.Fatalf("subject %q: second call = %v, %d running; want refused with 1", s, ok, running)
		}
	}
}

// cancel: a cancel request from any replica reaches the replica running
// the call, with the subject and reason; one for a call that is not
// running, or of another subject, cancels nothing.
func cancel(t *testing.T, cfg Config) {
	cs, locals := open(t, cfg)
	owner := len(cs) - 1
	for i, c := range cs {
		id := fmt.Sprintf("c_run%d", i)
		admit(t, cs[owner], "erin", id, 16)
		locals[owner].run(id, "erin")
		if err := c.Cancel(t.Context(), id, "mallory", "deleted"); err != nil {
			t.Fatalf("Cancel as another subject from replica %d: %v", i, err)
		}
		if got := locals[owner].cancels(); len(got) != i {
			t.Fatalf("a cancel request of another subject cancelled: %q", got)
		}
		if err := c.Cancel(t.Context(), id, "erin", "deleted"); err != nil {
			t.Fatalf("Cancel from replica %d: %v", i, err)
		}
		want := id + " erin deleted"
		if got := locals[owner].cancels(); len(got) != i+1 || got[i] != want {
			t.Fatalf("cancel from replica %d: the owner cancelled %q, want %q last", i, got, want)
		}
	}
	if err := cs[0].Cancel(t.Context(), "c_nosuch", "erin", "deleted"); err != nil {
		t.Fatalf("Cancel of a call that is not running: %v", err)
	}
	for i, l := range locals {
		if n := len(l.cancels()); i != owner && n != 0 {
			t.Fatalf("replica %d, which runs nothing, cancelled %d calls", i, n)
		}
	}
}

// keys: every replica lists the key every replica published.
func keys(t *testing.T, cfg Config) {
	cs, _ := open(t, cfg)
	var want []string
	for i, c := range cs {
		kid := fmt.Sprintf("kid-%d", i)
		jwk, _ := json.Marshal(map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": fmt.Sprintf("x%d", i)})
		if err := c.PublishKey(t.Context(), kid, jwk); err != nil {
			t.Fatalf("PublishKey on replica %d: %v", i, err)
		}
		want = append(want, string(jwk))
	}
	slices.Sort(want)
	for i, c := range cs {
		ks, err := c.Keys(t.Context())
		if err != nil {
			t.Fatalf("Keys on replica %d: %v", i, err)
		}
		var got []string
		for _, k := range ks {
			got = append(got, string(k))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("Keys on replica %d = %q, want %q", i, got, want)
		}
	}
}

// ready: a replica that is up may admit calls, and has fenced nothing.
func ready(t *testing.T, cfg Config) {
	cs, locals := open(t, cfg)
	for i, c := range cs {
		if err := c.Ready(); err != nil {
			t.Fatalf("replica %d not ready: %v", i, err)
		}
		locals[i].mu.Lock()
		fenced := locals[i].fenced
		locals[i].mu.Unlock()
		if fenced != 0 {
			t.Fatalf("replica %d fenced its server %d times", i, fenced)
		}
	}
}
