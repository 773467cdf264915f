package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/cluster"
	"github.com/capstream/capstream/internal/cluster/clustertest"
	"github.com/capstream/capstream/internal/httpapi"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// clusterKey is the ticket key the test replicas share.
var clusterKey = []byte("ticket key shared by the replicas of the test cluster")

// replicasOf starts n capstream replicas on a three-node JetStream cluster
// (R3), replica i connected to NATS node i%3, with the default lease (a
// short one fences a replica of a loaded test machine). Warnings of the
// backend and the server are logged if the test fails.
func replicasOf(t testing.TB, n int, opts ...envOption) []*env {
	t.Helper()
	nodes := clustertest.Trio(t)
	envs := make([]*env, n)
	core, logs := observer.New(zap.WarnLevel)
	for i := range envs {
		log := zap.New(core).Named(fmt.Sprintf("r%d", i))
		backend, err := cluster.Open(t.Context(), cluster.Config{
			URLs: nodes[i%3].ClientURL(), Replicas: 3,
			Node: cluster.NodeConfig{ID: fmt.Sprintf("r%d", i)}, Logger: log,
		})
		if err != nil {
			t.Fatal(err)
		}
		envs[i] = newEnvOn(t, backend, append([]envOption{func(c *httpapi.Config) {
			c.TicketKey, c.Logger = clusterKey, log
		}}, opts...)...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("%s %s %s %v", e.LoggerName, e.Level, e.Message, e.ContextMap())
			}
		}
	})
	return envs
}

// sseBody reads a whole SSE response.
func sseBody(t *testing.T, r *http.Response) sseStream {
	t.Helper()
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(r.Body)
		t.Fatalf("%s: %s", r.Status, b)
	}
	return parseSSE(t, r.Body)
}

// TestClusterCrossReplica: a call started on replica A is streamed,
// resumed from every Last-Event-ID, fetched and cancelled from replica B;
// a ticket minted on A opens the stream on B; KV written on A is read on
// B; /v1/keys on B lists both replicas' keys, which verify A's capability.
func TestClusterCrossReplica(t *testing.T) {
	envs := replicasOf(t, 2)
	a, b := envs[0], envs[1]

	// Detached on A, streamed on B with a ticket minted on A.
	var det struct{ CallID, Ticket string }
	resp := a.do("POST", "/v1/tools/slow/calls?detach=1", alice(t), `{"steps":5,"delayMs":20}`)
	if err := json.NewDecoder(resp.Body).Decode(&det); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("detached call on A: %s %v", resp.Status, err)
	}
	resp.Body.Close()
	full := sseBody(t, b.do("GET", "/v1/calls/"+det.CallID+"/events?ticket="+det.Ticket, "", ""))
	checkCallStream(t, full, 0)
	if got := types(full); got[len(got)-1] != "call.completed" || len(got) < 7 {
		t.Fatalf("stream on B: %v", got)
	}

	// Resumed on B after every id: exactly the rest.
	for after := range len(full.Events) {
		r := b.do("GET", "/v1/calls/"+det.CallID+"/events", alice(t), "", "Last-Event-ID", fmt.Sprint(after))
		if after == len(full.Events) {
			continue
		}
		rest := sseBody(t, r)
		checkCallStream(t, rest, uint64(after))
		if len(rest.Events) != len(full.Events)-after {
			t.Fatalf("resume after %d on B: %d events, want %d", after, len(rest.Events), len(full.Events)-after)
		}
	}
	if r := b.do("GET", "/v1/calls/"+det.CallID+"/events", alice(t), "", "Last-Event-ID", fmt.Sprint(len(full.Events))); r.StatusCode != http.StatusNoContent {
		t.Fatalf("resume after the terminal event on B: %s, want 204", r.Status)
	}

	// Fetched on B; unknown to anyone else.
	st := decode[struct {
		Status string
		Events int
	}](t, b.do("GET", "/v1/calls/"+det.CallID, alice(t), ""))
	if st.Status != "completed" || st.Events != len(full.Events) {
		t.Fatalf("GET on B: %+v", st)
	}
	if r := b.do("GET", "/v1/calls/"+det.CallID, bob(t), ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("bob's GET of alice's call on B: %s", r.Status)
	}

	// Cancelled from B while it runs on A.
	resp = a.do("POST", "/v1/tools/slow/calls?detach=1", alice(t), `{"steps":200,"delayMs":50}`)
	json.NewDecoder(resp.Body).Decode(&det)
	resp.Body.Close()
	if r := b.do("DELETE", "/v1/calls/"+det.CallID, bob(t), ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("bob's DELETE of alice's call on B: %s", r.Status)
	}
	del := decode[struct {
		Status string
		Result struct{ Data struct{ Reason string } }
	}](t, b.do("DELETE", "/v1/calls/"+det.CallID, alice(t), ""))
	if del.Status != "cancelled" || del.Result.Data.Reason != "deleted" {
		t.Fatalf("DELETE on B of a call on A: %+v", del)
	}

	// KV: a note added on A is listed on B at once.
	sseBody(t, a.do("POST", "/v1/tools/notes/calls", alice(t), `{"op":"add","text":"written on A"}`, "Accept", "text/event-stream"))
	list := sseBody(t, b.do("POST", "/v1/tools/notes/calls", alice(t), `{"op":"list"}`, "Accept", "text/event-stream"))
	if last := list.Events[len(list.Events)-1].envelope(t); !strings.Contains(string(last.Data), "written on A") {
		t.Fatalf("notes list on B: %s", last.Data)
	}

	// Keys: B lists both; A's key verifies the capability of A's call.
	pubs := capabilityKeys(t, b, 2)
	op := &hammerOp{tool: "whoami", callID: ""}
	r := a.do("POST", "/v1/tools/whoami/calls", alice(t), `{}`, "Accept", "text/event-stream")
	op.callID = strings.TrimPrefix(r.Header.Get("Location"), "/v1/calls/")
	started := sseBody(t, r)
	checkStarted(t, started, op, "alice", hammerRole{name: "analyst", limits: claimLimits(20*time.Second, 1<<20, 1000, 500)}, pubs[1:])
}

// TestClusterCaps: the per-principal cap holds across replicas.
func TestClusterCaps(t *testing.T) {
	envs := replicasOf(t, 2, func(c *httpapi.Config) { c.MaxCallsPerPrincipal = 2 })
	start := func(e *env) *http.Response {
		return e.do("POST", "/v1/tools/slow/calls?detach=1", alice(t), `{"steps":100,"delayMs":100}`)
	}
	var ids []string
	for _, e := range []*env{envs[0], envs[1]} {
		r := start(e)
		var det struct{ CallID string }
		json.NewDecoder(r.Body).Decode(&det)
		r.Body.Close()
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("call %d: %s", len(ids)+1, r.Status)
		}
		ids = append(ids, det.CallID)
	}
	for _, e := range envs {
		r := start(e)
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusTooManyRequests || !bytes.Contains(body, []byte("2 calls running")) {
			t.Fatalf("a third call of alice: %s %s, want 429 with 2 running", r.Status, body)
		}
	}
	// Bob is not counted with alice.
	if r := envs[1].do("POST", "/v1/tools/echo/calls", bob(t), `{"text":"x"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("bob's call: %s", r.Status)
	}
	// One ends (cancelled on the other replica): there is room again.
	if r := envs[1].do("DELETE", "/v1/calls/"+ids[0], alice(t), ""); r.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %s", r.Status)
	}
	if r := start(envs[1]); r.StatusCode != http.StatusAccepted {
		t.Fatalf("after one ended: %s", r.Status)
	}
}

// TestClusterHostileIDs: call ids that are wildcards or separators in NATS
// subjects find nothing on any replica.
func TestClusterHostileIDs(t *testing.T) {
	envs := replicasOf(t, 2)
	r := envs[0].do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"x"}`)
	id := strings.TrimPrefix(r.Header.Get("Location"), "/v1/calls/")
	r.Body.Close()
	for _, bad := range []string{"*", ">", id + ".x", id + ".%3E", "%2A", "c_x.*", id[:len(id)-1] + "*", "%C3%A9", "%00"} {
		for _, e := range envs {
			for _, path := range []string{"/v1/calls/" + bad, "/v1/calls/" + bad + "/events"} {
				if r := e.do("GET", path, alice(t), ""); r.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s: %s, want 404", path, r.Status)
				}
			}
		}
	}
	if r := envs[1].do("GET", "/v1/calls/"+id, alice(t), ""); r.StatusCode != http.StatusOK {
		t.Fatalf("the real call on B: %s", r.Status)
	}
}

// TestClusterHammer runs the isolation hammer with its principals' calls
// spread over three replicas: no identity or data crosses, and the
// per-principal cap holds across them.
func TestClusterHammer(t *testing.T) {
	size := hammerSize{principals: 20, ops: 15, workers: 3, maxCalls: 8, maxPerSubject: 2}
	hammerOn(t, size, replicasOf(t, 3, hammerCaps(size)))
}
