package kv

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReopenFindsEveryWrite writes, overwrites and deletes across several
// namespaces, closes the store, reopens it, and finds exactly the
// acknowledged state.
func TestReopenFindsEveryWrite(t *testing.T) {
	ctx := t.Context()
	s, path := openTest(t, Options{})
	want := map[string]map[string]string{} // namespace -> key -> value
	for n := range 5 {
		ns := fmt.Sprintf("tool/user%d", n)
		want[ns] = map[string]string{}
		for i := range 40 {
			key, value := fmt.Sprintf("key%02d", i), strings.Repeat(strconv.Itoa(n), i)
			mustSet(t, s, ns, key, value)
			want[ns][key] = value
		}
		for i := 0; i < 40; i += 3 {
			key := fmt.Sprintf("key%02d", i)
			if _, err := s.Delete(ctx, ns, key); err != nil {
				t.Fatal(err)
			}
			delete(want[ns], key)
		}
		for i := 1; i < 40; i += 3 {
			key := fmt.Sprintf("key%02d", i)
			mustSet(t, s, ns, key, "overwritten")
			want[ns][key] = "overwritten"
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	for ns, kvs := range want {
		var usage int64
		for key, value := range kvs {
			wantGet(t, s, ns, key, value)
			usage += int64(len(key) + len(value))
		}
		wantUsage(t, s, ns, usage)
		wantList(t, s, ns, "", 0, slices.Sorted(maps.Keys(kvs))...)
	}
}

const childEnv = "KV_TEST_CHILD_STORE"

// runChild is the body of the child process of
// TestKilledProcessKeepsAcknowledgedWrites: it writes keys without end and
// prints the number of each one once Set has returned.
func runChild(path string) int {
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := 0; ; i++ {
		if err := s.Set(ctx, "tool/child", fmt.Sprintf("key%06d", i), []byte(strings.Repeat("v", i%100)), 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(i) // Unbuffered: the parent sees it at once.
	}
}

// TestKilledProcessKeepsAcknowledgedWrites kills a process in the middle of
// its writes, without Close, and finds every write it acknowledged.
func TestKilledProcessKeepsAcknowledgedWrites(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kv.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		acked, err = strconv.Atoi(lines.Text())
		if err != nil {
			t.Fatalf("child wrote %q", lines.Text())
		}
		if acked == 200 {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = cmd.Wait()
	if acked < 200 {
		t.Fatalf("child stopped after %d writes", acked+1)
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("opening after the kill: %v", err)
	}
	defer s.Close()
	keys, err := s.List(ctx, "tool/child", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Every acknowledged write is there; one more may have committed
	// before its acknowledgement was printed.
	if len(keys) != acked+1 && len(keys) != acked+2 {
		t.Fatalf("found %d keys after %d acknowledged writes", len(keys), acked+1)
	}
	var usage int64
	for i, key := range keys {
		want := strings.Repeat("v", i%100)
		wantGet(t, s, "tool/child", fmt.Sprintf("key%06d", i), want)
		usage += int64(len(key) + len(want))
	}
	wantUsage(t, s, "tool/child", usage)
	mustSet(t, s, "tool/child", "after", "the kill")
}
