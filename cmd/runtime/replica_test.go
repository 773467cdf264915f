package main

import (
	"bufio"
	"encoding/json"
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
	dir := t.TempDir()
	f := &clusterFixture{
		nats: strings.Join(urls, ","), jwtSecret: filepath.Join(dir, "jwt-secret"),
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
	url    string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startReplica starts a replica named id with a 2s lease and returns once
// it serves.
func (f *clusterFixture) startReplica(t *testing.T, id string, args ...string) *replicaProcess {
	t.Helper()
	p := &replicaProcess{log: filepath.Join(t.TempDir(), id+".log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	p.cmd = exec.Command(serverBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0", "--plugins", f.plugins,
		"--policy", f.policy, "--data-dir", filepath.Join(t.TempDir(), "data"), "--cache-dir", testwasm.CacheDir(),
		"--jwt-secret-file", f.jwtSecret, "--cluster", f.nats, "--cluster-secret-file", f.clusterSecret,
		"--node-id", id, "--cluster-lease", "2s"}, args...)...)
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
	served := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var rec struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "serving" {
				served <- rec.URL
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case p.url = <-served:
	case <-p.exited:
		t.Fatalf("replica %s exited before serving", id)
	case <-time.After(2 * time.Minute):
		t.Fatalf("replica %s did not serve within 2 minutes", id)
	}
	return p
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
	resp, err := postCall(http.DefaultClient, a.url, tok, "slow", `{"steps":100,"delayMs":100}`)
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
	a.signal(t, syscall.SIGKILL)
	killed := time.Now()
	s := getEvents(t, b.url, tok, id)
	took := time.Since(killed)
	if s.Err != nil {
		t.Fatalf("stream on b: %v", s.Err)
	}
	term, _ := s.Terminal()
	var d struct{ Error struct{ Code string } }
	if json.Unmarshal(term.Data, &d); term.Type != "call.failed" || d.Error.Code != "node_lost" {
		t.Fatalf("terminal event %s %s, want call.failed node_lost", term.Type, term.Data)
	}
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
