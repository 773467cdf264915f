// Package cluster_test runs make cluster's script as a user would: it
// waits for the banner, runs the commands the banner prints, and stops the
// cluster with Ctrl-C.
package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ports are the script's ports before CLUSTER_PORT_OFFSET.
var ports = []int{4222, 4223, 4224, 6222, 6223, 6224, 8222, 8223, 8224, 8081, 8082, 9091, 9092}

// freeOffset returns an offset at which every port of the script is free.
func freeOffset(t *testing.T) int {
	for off := 20000; off < 40000; off += 1000 {
		free := true
		for _, p := range ports {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", off+p))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return off
		}
	}
	t.Fatal("no offset with every port of the script free")
	return 0
}

// TestMakeCluster: the script brings up three NATS nodes and two replicas
// and prints tokens; a call started on one replica with the banner's own
// command is streamed to its end from the other; Ctrl-C stops every
// process.
func TestMakeCluster(t *testing.T) {
	root, _ := filepath.Abs("../..")
	if out, err := exec.Command("make", "-C", root, "plugins").CombinedOutput(); err != nil {
		t.Fatalf("make plugins: %v\n%s", err, out)
	}
	off := freeOffset(t)
	dir := t.TempDir()
	script := exec.Command("bash", "examples/cluster/cluster.sh")
	script.Dir = root
	script.Env = append(os.Environ(), "CLUSTER_DIR="+dir, fmt.Sprintf("CLUSTER_PORT_OFFSET=%d", off))
	script.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	script.Stderr = os.Stderr
	stdout, err := script.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := script.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- script.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			syscall.Kill(-script.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	// The banner, up to its last line; the builds come first.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var banner []string
	timeout := time.After(10 * time.Minute)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the script ended before its banner: %v\n%s", <-exited, strings.Join(banner, "\n"))
			}
			banner = append(banner, l)
			done = strings.Contains(l, "Ctrl-C stops the cluster")
		case <-timeout:
			t.Fatalf("no banner after 10 minutes:\n%s", strings.Join(banner, "\n"))
		}
	}
	go func() {
		for range lines {
		}
	}()
	text := strings.Join(banner, "\n")
	alice := regexp.MustCompile(`export ALICE=(\S+)`).FindStringSubmatch(text)
	follow := regexp.MustCompile(`(?s)follow it on the other:\n(.*?)\n\n`).FindStringSubmatch(text)
	if alice == nil || follow == nil {
		t.Fatalf("the banner has no token for alice or no commands:\n%s", text)
	}
	for _, want := range []string{fmt.Sprintf("127.0.0.1:%d", off+8081), fmt.Sprintf("127.0.0.1:%d", off+8082)} {
		if !strings.Contains(follow[1], want) {
			t.Fatalf("the banner's commands do not name %s:\n%s", want, follow[1])
		}
	}

	// The banner's commands, as printed: the call starts on replica 1 and
	// is followed to its end on replica 2.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", "export ALICE="+alice[1]+"\n"+follow[1]+"\necho; echo \"id $ID\"")
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the banner's commands: %v\n%s", err, out)
	}
	id := regexp.MustCompile(`id (c_[a-z0-9]+)`).FindStringSubmatch(string(out))
	if id == nil {
		t.Fatalf("no call id from the banner's POST:\n%s", out)
	}
	for _, want := range []string{"event: call.started", "event: host.progress", "event: call.completed", `"call":"` + id[1] + `"`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("the stream read on replica 2 lacks %q:\n%s", want, out)
		}
	}

	// Ctrl-C: the terminal sends SIGINT to the whole foreground group.
	syscall.Kill(-script.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
		stopped = true
	case <-time.After(30 * time.Second):
		t.Fatal("the script did not stop within 30 s of Ctrl-C")
	}
	for _, p := range ports {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", off+p), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still answers after Ctrl-C", off+p)
		}
	}
}
