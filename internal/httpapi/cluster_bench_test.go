package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/cluster"
	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/stream"
)

// BenchmarkClusterEcho is BenchmarkHTTPEcho on each backend, side by side:
// memory and bbolt (the default), one replica on an embedded single-node
// JetStream (R1), and two replicas on a three-node cluster (R3), each
// client calling one replica. Everything runs on one machine, so it shows
// the cost of the cluster backend, not how a cluster scales. It also
// reports the JetStream bytes stored per call.
func BenchmarkClusterEcho(b *testing.B) {
	type backend struct {
		name string
		envs func(b *testing.B) []*env
	}
	backends := []backend{
		{"memory", func(b *testing.B) []*env { return []*env{newEnvOn(b, nil, withHeartbeat(stream.DefaultHeartbeat))} }},
		{"jetstream-r1", func(b *testing.B) []*env {
			be, err := cluster.Open(b.Context(), cluster.Config{
				Embed: &cluster.EmbedConfig{Name: "n1", StoreDir: filepath.Join(b.TempDir(), "nats")},
				Node:  cluster.NodeConfig{ID: "a"},
			})
			if err != nil {
				b.Fatal(err)
			}
			return []*env{newEnvOn(b, be, withHeartbeat(stream.DefaultHeartbeat))}
		}},
		{"cluster-r3-2replicas", func(b *testing.B) []*env {
			return replicasOf(b, 2, withHeartbeat(stream.DefaultHeartbeat), func(c *httpapi.Config) { c.MaxCallsPerPrincipal = 64 })
		}},
	}
	for _, be := range backends {
		b.Run("backend="+be.name, func(b *testing.B) {
			envs := be.envs(b)
			for _, e := range envs {
				checkEcho(b, e)
			}
			for _, clients := range []int{1, 8} {
				b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
					hc := keepAliveClient(clients)
					defer hc.CloseIdleConnections()
					tokens := benchTokens(b, clients)
					measureCalls(b, clients, func(i int, body *bytes.Buffer) error {
						return echoCall(hc, envs[i%len(envs)].srv.URL+"/v1/tools/echo/calls", tokens[i], echoInput, echoOutput, body)
					})
				})
			}
		})
	}
}

// BenchmarkClusterResume is a reader resuming on replica B a call that ran
// on replica A (two replicas, three NATS nodes, R3): GET events with
// Last-Event-ID one before the terminal event (from=end), or none (from=start:
// the whole call), timed to the first event read. Calls of 10, 100 and 500
// events (slow without delay: a progress and an output per step; the test
// policy allows 500 host calls). It reports p50 and p99 of that time.
func BenchmarkClusterResume(b *testing.B) {
	envs := replicasOf(b, 2)
	a, rb := envs[0], envs[1]
	for _, events := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			steps := (events - 2) / 2
			r := a.do("POST", "/v1/tools/slow/calls", alice(b), fmt.Sprintf(`{"steps":%d,"delayMs":0}`, steps), "Accept", "text/event-stream")
			id := strings.TrimPrefix(r.Header.Get("Location"), "/v1/calls/")
			full := parseSSE(b, r.Body)
			r.Body.Close()
			n := len(full.Events)
			if full.Events[n-1].Type != "call.completed" {
				b.Fatalf("the call ended with %s", full.Events[n-1].Type)
			}
			for _, from := range []string{"end", "start"} {
				b.Run("from="+from, func(b *testing.B) {
					after := n - 1
					if from == "start" {
						after = 0
					}
					hc := keepAliveClient(1)
					defer hc.CloseIdleConnections()
					tok := alice(b)
					var lat []time.Duration
					b.ResetTimer()
					for range b.N {
						req, _ := http.NewRequest("GET", rb.srv.URL+"/v1/calls/"+id+"/events", nil)
						req.Header.Set("Authorization", "Bearer "+tok)
						req.Header.Set("Last-Event-ID", fmt.Sprint(after))
						t0 := time.Now()
						resp, err := hc.Do(req)
						if err != nil {
							b.Fatal(err)
						}
						first, err := firstEventID(resp)
						lat = append(lat, time.Since(t0))
						resp.Body.Close()
						if err != nil || first != fmt.Sprint(after+1) {
							b.Fatalf("first event resumed on B: id %q, %v; want %d", first, err, after+1)
						}
					}
					b.StopTimer()
					slices.Sort(lat)
					b.ReportMetric(quantile(lat, 0.50).Seconds()*1e3, "p50-ms")
					b.ReportMetric(quantile(lat, 0.99).Seconds()*1e3, "p99-ms")
				})
			}
		})
	}
}

// firstEventID reads an SSE response up to its first event's id.
func firstEventID(resp *http.Response) (string, error) {
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("no event: %v", sc.Err())
}
