// Package curl_test runs the walkthrough in README.md with the real curl
// against a real server, and checks each command's output against the
// output the README shows.
package curl_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/apitest"
	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/egress"
	"github.com/capstream/capstream/internal/kv"
	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/internal/testwasm"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testwasm.Cleanup()
	os.Exit(code)
}

// step is one command of the walkthrough and the output shown after it
// (empty: not checked).
type step struct {
	line    int
	command string
	want    string
}

// marker ends the output of each step.
const marker = "@@@ end of step @@@"

var fence = regexp.MustCompile("(?ms)^```(sh|text)\n(.*?)^```\n")

// steps reads the ```sh blocks of the README, each with the ```text block
// that follows it directly, if any.
func steps(t *testing.T, readme string) []step {
	var out []step
	ms := fence.FindAllStringSubmatchIndex(readme, -1)
	for i, m := range ms {
		if readme[m[2]:m[3]] != "sh" {
			continue
		}
		s := step{line: 1 + strings.Count(readme[:m[0]], "\n"), command: readme[m[4]:m[5]]}
		if i+1 < len(ms) && readme[ms[i+1][2]:ms[i+1][3]] == "text" && strings.TrimSpace(readme[m[1]:ms[i+1][0]]) == "" {
			s.want = readme[ms[i+1][4]:ms[i+1][5]]
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		t.Fatal("no ```sh blocks in README.md")
	}
	return out
}

// pattern turns shown output into a regular expression: "…" matches
// anything within a line, and a line that is only "…" any number of lines.
func pattern(want string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for _, line := range strings.Split(strings.TrimRight(want, "\n"), "\n") {
		if line == "…" {
			b.WriteString(`(?:.*\n)*?`)
			continue
		}
		parts := strings.Split(line, "…")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		b.WriteString(strings.Join(parts, `.*`) + `\n`)
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func TestWalkthrough(t *testing.T) {
	for _, tool := range []string{"curl", "jq", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	srv, secret := newServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	mint := func(sub, role string) string {
		tok, err := auth.Mint(secret, auth.MintClaims{Subject: sub, Roles: []string{role}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	// One shell runs every step in order, so that variables carry over; a
	// marker line separates the outputs.
	all := steps(t, string(readme))
	var script strings.Builder
	for _, s := range all {
		script.WriteString(strings.ReplaceAll(s.command, "localhost:8080", host))
		script.WriteString("\necho; echo '" + marker + "'\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-u")
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(script.String())
	cmd.Env = append(os.Environ(), "ALICE="+mint("alice", "analyst"), "BOB="+mint("bob", "guest"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the walkthrough's script: %v\n%s", err, out.String())
	}

	outputs := strings.Split(strings.ReplaceAll(out.String(), "\r\n", "\n"), "\n"+marker+"\n")
	if len(outputs) != len(all)+1 {
		t.Fatalf("%d steps, %d outputs:\n%s", len(all), len(outputs)-1, out.String())
	}
	for i, s := range all {
		if s.want == "" {
			continue
		}
		got := strings.TrimRight(outputs[i], "\n") + "\n"
		if !pattern(s.want).MatchString(got) {
			t.Errorf("README.md:%d:\n%s\nprints\n%s\nnot, as the README shows,\n%s", s.line, s.command, got, s.want)
		}
	}
}

// newServer serves the API with the bundled tools and the dev policy, as
// `make run` does, and returns the HS256 secret its tokens are signed with.
func newServer(t *testing.T) (*httptest.Server, []byte) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(file, policy.Dev, 0o600); err != nil {
		t.Fatal(err)
	}
	policies, err := policy.NewStore(file)
	if err != nil {
		t.Fatal(err)
	}
	store, err := kv.Open(filepath.Join(dir, "kv.db"), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eg, err := egress.New(egress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Without snapshots calls start slower, and tools load much faster
	// (under -race above all); the events are the same.
	engine, err := host.New(ctx, host.Config{KV: store, Egress: eg, DisableSnapshots: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"echo", "whoami", "notes", "fetch", "slow"} {
		if _, err := engine.Load(ctx, name+".wasm", testwasm.Go(t, "plugins/"+name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		engine.Close(ctx)
		eg.Close()
		store.Close()
	})
	srv, secret := apitest.Serve(t, engine, policies)
	return srv, secret
}
