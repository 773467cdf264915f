package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/cluster/clustertest"
	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/internal/testwasm"
)

// clusterFixture is what the replicas of a test cluster share: NATS, the
// secrets, the policy and the tools.
type clusterFixture struct {
	nats                         string // client URLs, comma-separated
	jwtSecret, clusterSecret     string // files
	policy, plugins, secretBytes string
}

// newClusterFixture starts a three-node JetStream cluster on loopback and
// writes the files the replicas share.
func newClusterFixture(t *testing.T) *clusterFixture {
	t.Helper()
	nodes := clustertest.Trio(t)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.ClientURL())
	}
	f := newFixtureFiles(t)
	f.nats = strings.Join(urls, ",")
	return f
}

// newFixtureFiles writes the files replicas share; no NATS (f.nats empty:
// the replicas embed theirs).
func newFixtureFiles(t *testing.T) *clusterFixture {
	t.Helper()
	dir := t.TempDir()
	f := &clusterFixture{
		jwtSecret:     filepath.Join(dir, "jwt-secret"),
		clusterSecret: filepath.Join(dir, "cluster-secret"), policy: filepath.Join(dir, "policy.yaml"),
		plugins: toolDir(t, "slow", "echo"),
	}
	f.secretBytes = string(auth.GenerateSecret())
	for file, content := range map[string]string{f.jwtSecret: f.secretBytes, f.clusterSecret: string(auth.GenerateSecret()), f.policy: string(policy.Dev)} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// token mints a token for subject with role analyst.
func (f *clusterFixture) token(t testing.TB, subject string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(f.secretBytes), auth.MintClaims{Subject: subject, Roles: []string{"analyst"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// replicaProcess is `capstream serve --cluster` running as a child process.
type replicaProcess struct {
	id     string
	served chan string // its URL, once it serves
	url    string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startReplica starts a replica named id with a 2s lease and returns once
// it serves.
func (f *clusterFixture) startReplica(t *testing.T, id string, args ...string) *replicaProcess {
	t.Helper()
	p := f.launchReplica(t, id, args...)
	p.waitServing(t)
	return p
}

// launchReplica starts a replica named id with a 2s lease (on f.nats, if
// set); waitServing waits until it serves.
func (f *clusterFixture) launchReplica(t *testing.T, id string, args ...string) *replicaProcess {
	t.Helper()
	p := &replicaProcess{id: id, log: filepath.Join(t.TempDir(), id+".log"), exited: make(chan struct{}), served: make(chan string, 1)}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	p.cmd = exec.Command(serverBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0", "--plugins", f.plugins,
		"--policy", f.policy, "--data-dir", filepath.Join(t.TempDir(), "data"), "--cache-dir", testwasm.CacheDir(),
		"--jwt-secret-file", f.jwtSecret, "--cluster-secret-file", f.clusterSecret,
		"--node-id", id, "--cluster-lease", "2s"}, append(natsFlag(f.nats), args...)...)...)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, io.MultiWriter(logFile, pw)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		pw.Close()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			t.Logf("replica %s log, last lines:\n%s", id, strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
	})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var rec struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "serving" {
				p.served <- rec.URL
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	return p
}

func (p *replicaProcess) waitServing(t *testing.T) {
	t.Helper()
	select {
	case p.url = <-p.served:
	case <-p.exited:
		t.Fatalf("replica %s exited before serving", p.id)
	case <-time.After(2 * time.Minute):
		t.Fatalf("replica %s did not serve within 2 minutes", p.id)
	}
}

func natsFlag(urls string) []string {
	if urls == "" {
		return nil
	}
	return []string{"--cluster", urls}
}

func (p *replicaProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// getEvents reads a call's events from a replica, after a sequence number.
func getEvents(t *testing.T, base, token, id string) callStream {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/calls/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET events of %s: %s %s", id, resp.Status, b)
	}
	return readCallStream(resp.Body)
}

// TestReplicaKilled: a replica is killed (SIGKILL) while a call streams
// from it; the other replica ends the call with call.failed node_lost
// within the lease and a margin, and the stream read there has every event
// once and exactly one terminal event.
func TestReplicaKilled(t *testing.T) {
	f := newClusterFixture(t)
	a := f.startReplica(t, "a")
	b := f.startReplica(t, "b")
	tok := f.token(t, "alice")
	id, _ := streamUntilProgress(t, a.url, tok, `{"steps":100,"delayMs":100}`)
	a.signal(t, syscall.SIGKILL)
	killed := time.Now()
	s := getEvents(t, b.url, tok, id)
	took := time.Since(killed)
	wantNodeLost(t, "the call read on b", s)
	if took > 2*time.Second+5*time.Second {
		t.Fatalf("node_lost seen %v after the kill; the lease is 2s", took)
	}
	t.Logf("figure: node_lost seen on the other replica %v after kill -9 (lease 2s); %d events", took.Round(time.Millisecond), len(s.Events))
	// Still one terminal event after three times the bound.
	time.Sleep(3 * time.Second)
	if again := getEvents(t, b.url, tok, id); again.Err != nil || len(again.Events) != len(s.Events) {
		t.Fatalf("read again: %d events, %v; want %d", len(again.Events), again.Err, len(s.Events))
	}
}

// streamUntilProgress starts a streamed call of slow on base and reads its
// stream up to the first progress event: the call is running. It returns
// the call id and the rest of the stream.
func streamUntilProgress(t *testing.T, base, token, input string) (string, *bufio.Reader) {
	t.Helper()
	resp, err := postCall(http.DefaultClient, base, token, "slow", input)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	br := bufio.NewReader(resp.Body)
	for line := ""; !strings.HasPrefix(line, "event: host.progress"); {
		if line, err = br.ReadString('\n'); err != nil {
			t.Fatalf("the call's stream before its first progress: %v", err)
		}
	}
	return strings.TrimPrefix(resp.Header.Get("Location"), "/v1/calls/"), br
}

// waitReady polls a replica's /readyz until 200, for at most d.
func waitReady(t *testing.T, base string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r, err := http.Get(base + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not ready within %v", base, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestEmbeddedCluster: three replicas each embedding a NATS node
// (--cluster-embed, routed to each other, R3), the one-binary cluster: a
// call started on one is read on another, and each exports the cluster
// metrics.
func TestEmbeddedCluster(t *testing.T) {
	f := newFixtureFiles(t)
	ports := clustertest.FreePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	metricsPorts := clustertest.FreePorts(t, 3)
	var rs []*replicaProcess
	for i := range 3 {
		rs = append(rs, f.launchReplica(t, fmt.Sprintf("e%d", i), "--cluster-embed",
			"--cluster-listen", fmt.Sprintf("127.0.0.1:%d", ports[i]), "--cluster-routes", strings.Join(routes, ","),
			"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metricsPorts[i])))
	}
	for _, r := range rs {
		r.waitServing(t)
	}
	tok := f.token(t, "alice")
	resp, err := postCall(http.DefaultClient, rs[0].url, tok, "echo", `{"text":"one binary"}`)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/v1/calls/")
	if s := readCallStream(resp.Body); s.Err != nil {
		t.Fatal(s.Err)
	}
	resp.Body.Close()
	s := getEvents(t, rs[2].url, tok, id)
	if term, _ := s.Terminal(); s.Err != nil || term.Type != "call.completed" || !strings.Contains(string(term.Data), "one binary") {
		t.Fatalf("the call read on the third replica: %v, %s %s", s.Err, term.Type, term.Data)
	}
	r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPorts[0]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, m := range []string{"capstream_cluster_lease_held 1", "capstream_cluster_append_seconds_count", "capstream_cluster_reaped_calls_total 0"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

// wantNodeLost fails the test unless s is a whole, valid stream that ends
// with call.failed, code node_lost.
func wantNodeLost(t *testing.T, what string, s callStream) {
	t.Helper()
	if s.Err != nil {
		t.Fatalf("%s: %v", what, s.Err)
	}
	term, _ := s.Terminal()
	var d struct{ Error struct{ Code string } }
	if json.Unmarshal(term.Data, &d); term.Type != "call.failed" || d.Error.Code != "node_lost" {
		t.Fatalf("%s ended %s %s, want call.failed node_lost", what, term.Type, term.Data)
	}
}
