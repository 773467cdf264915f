//go:build unix

package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/kv"
	"github.com/capstream/capstream/internal/testwasm"
)

// kvfEngine runs use with an engine whose KV store is the file at path,
// opened with opts, and closes both before returning, so that the next
// kvfEngine can open the file again.
func kvfEngine(t *testing.T, path string, opts kv.Options, cacheDir string, use func(f *fixture)) {
	t.Helper()
	ctx := context.Background()
	store, err := kv.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	e, err := host.New(ctx, host.Config{CacheDir: cacheDir, KV: store})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	use(&fixture{t: t, e: e, kv: store, loaded: map[string]*host.Tool{}})
}

// kvfNotes calls notes and returns the notes it answers with, failing the
// test unless the call completes.
func kvfNotes(t *testing.T, f *fixture, notes *host.Tool, input string) []string {
	t.Helper()
	res, _ := f.call("alice", notes, grantAll(), input)
	var out struct{ Notes []string }
	if res.Failure != nil || json.Unmarshal(res.Output, &out) != nil {
		t.Fatalf("notes %s: %v %s", input, res.Failure, res.Output)
	}
	return out.Notes
}

// kvfFailedWrite checks how a notes call whose write the store refused
// ended: the tool reports the storage error (-7) it got, as a tool_error
// that quotes the store's reason, and the host.kv event of the write says
// storage. Neither shows the host's data directory, only the file's name.
func kvfFailedWrite(t *testing.T, res host.Result, rec *recorder, op, reason, dataDir string) {
	t.Helper()
	if failureCode(res) != host.CodeToolError || !strings.Contains(res.Failure.Message, ": storage: ") || !strings.Contains(res.Failure.Message, reason) {
		t.Fatalf("failure %v, want tool_error with the storage error and %q", res.Failure, reason)
	}
	evs := rec.ofType(host.EventKV)
	last := evs[len(evs)-1]
	e, _ := last["error"].(map[string]any)
	if last["op"] != op || e == nil || e["code"] != "storage" || !strings.Contains(e["message"].(string), reason) {
		t.Fatalf("last host.kv %v, want %s failed with storage: %s", last, op, reason)
	}
	if strings.Contains(res.Failure.Message, dataDir) || strings.Contains(e["message"].(string), dataDir) {
		t.Fatalf("the message shows the host's data directory: %s", res.Failure.Message)
	}
}

// TestKVFaultReadOnly runs notes on a store opened read-only: writes fail
// with storage and change nothing, reads go on, and the file is intact.
func TestKVFaultReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	kvfEngine(t, path, kv.Options{}, testwasm.CacheDir(), func(f *fixture) {
		notes := f.load("plugins/notes")
		kvfNotes(t, f, notes, `{"op":"add","text":"before"}`)
	})
	kvfEngine(t, path, kv.Options{ReadOnly: true}, testwasm.CacheDir(), func(f *fixture) {
		notes := f.load("plugins/notes")
		res, rec := f.call("alice", notes, grantAll(), `{"op":"add","text":"during"}`)
		kvfFailedWrite(t, res, rec, "set", `setting key in namespace "notes/alice": kv: store is read-only`, filepath.Dir(path))
		res, rec = f.call("alice", notes, grantAll(), `{"op":"clear"}`)
		kvfFailedWrite(t, res, rec, "delete", `deleting key in namespace "notes/alice": kv: store is read-only`, filepath.Dir(path))
		// The next call works.
		if got := kvfNotes(t, f, notes, `{"op":"list"}`); !slices.Equal(got, []string{"before"}) {
			t.Fatalf("notes %q after refused writes, want [before]", got)
		}
	})
	kvfEngine(t, path, kv.Options{}, testwasm.CacheDir(), func(f *fixture) {
		notes := f.load("plugins/notes")
		if got := kvfNotes(t, f, notes, `{"op":"add","text":"after"}`); !slices.Equal(got, []string{"before", "after"}) {
			t.Fatalf("notes %q on reopening, want [before after]", got)
		}
		kvfUsageExact(t, f.kv, "notes/alice")
	})
}

// kvfUsageExact checks that the namespace's usage is the sum of its keys
// and values, as the store keeps it in the same transaction as each write.
func kvfUsageExact(t *testing.T, s *kv.Store, ns string) {
	t.Helper()
	keys, err := s.List(t.Context(), ns, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, k := range keys {
		v, err := s.Get(t.Context(), ns, k)
		if err != nil {
			t.Fatal(err)
		}
		sum += int64(len(k) + len(v))
	}
	if usage, err := s.Usage(ns); err != nil || usage != sum {
		t.Fatalf("usage %d (%v), want %d, the sum over the %d keys", usage, err, sum, len(keys))
	}
}

// Environment of the child process of TestKVFaultFileTooLarge.
const (
	kvfChildDir   = "CAPSTREAM_KVFAULT_DIR"   // the directory with kv.db and notes.wasm
	kvfChildCache = "CAPSTREAM_KVFAULT_CACHE" // the parent's compilation cache
)

// TestKVFaultFileTooLarge makes the file system refuse to grow the store,
// for real: a child process (this test again) lowers its RLIMIT_FSIZE to
// the size of the file, which holds even for root, and adds notes until
// one does not fit. The write fails with storage (EFBIG, "file too large":
// what a full disk looks like to bbolt, which grows the file before it
// writes), reads go on, and once the limit is lifted the next write works.
// Reopened by the parent, the store holds exactly the acknowledged notes.
func TestKVFaultFileTooLarge(t *testing.T) {
	if dir := os.Getenv(kvfChildDir); dir != "" {
		kvfFileTooLargeChild(t, dir, os.Getenv(kvfChildCache))
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kv.db")
	wasm := testwasm.Go(t, "plugins/notes")
	if err := os.WriteFile(filepath.Join(dir, "notes.wasm"), wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	// Compile notes here, into the cache the child uses: compiling is slow
	// under -race, and a limited child must not write a cache file.
	kvfEngine(t, path, kv.Options{}, testwasm.CacheDir(), func(f *fixture) {
		f.load("plugins/notes")
	})

	cmd := exec.Command(os.Args[0], "-test.run=^TestKVFaultFileTooLarge$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), kvfChildDir+"="+dir, kvfChildCache+"="+testwasm.CacheDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestKVFaultFileTooLarge")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "refused: ") {
			t.Logf("child: %s", strings.TrimSpace(line))
		}
	}
	var acked []string
	b, err := os.ReadFile(filepath.Join(dir, "acked.json"))
	if err != nil || json.Unmarshal(b, &acked) != nil {
		t.Fatalf("child's acked.json: %v %q", err, b)
	}

	kvfEngine(t, path, kv.Options{}, testwasm.CacheDir(), func(f *fixture) {
		notes := f.load("plugins/notes")
		if got := kvfNotes(t, f, notes, `{"op":"list"}`); !slices.Equal(got, acked) {
			t.Fatalf("reopened store has %d notes, want the %d acknowledged", len(got), len(acked))
		}
		kvfUsageExact(t, f.kv, "notes/alice")
		if got := kvfNotes(t, f, notes, `{"op":"add","text":"in the parent"}`); len(got) != len(acked)+1 {
			t.Fatalf("add after reopening: %d notes, want %d", len(got), len(acked)+1)
		}
	})
}

// kvfFileTooLargeChild is TestKVFaultFileTooLarge in the child process.
func kvfFileTooLargeChild(t *testing.T, dir, cacheDir string) {
	// Go ignores SIGXFSZ unless asked to notify it; say so, since the
	// signal would otherwise kill the process on the first refused write.
	signal.Ignore(syscall.SIGXFSZ)
	path := filepath.Join(dir, "kv.db")
	wasm, err := os.ReadFile(filepath.Join(dir, "notes.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	var acked []string
	kvfEngine(t, path, kv.Options{}, cacheDir, func(f *fixture) {
		notes := f.loadOnce("plugins/notes", func() []byte { return wasm })
		acked = kvfNotes(t, f, notes, `{"op":"add","text":"first"}`)

		var old syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		limited := syscall.Rlimit{Cur: uint64(fi.Size()), Max: old.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limited); err != nil {
			t.Fatal(err)
		}
		lifted := false
		lift := func() {
			if !lifted {
				lifted = true
				if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
					t.Fatal(err)
				}
			}
		}
		defer lift()

		// Notes of 4000 bytes fill the free pages within the file, and then
		// one does not fit.
		text := strings.Repeat("n", 3990)
		for i := 0; ; i++ {
			if i == 64 {
				t.Fatalf("64 notes of 4000 bytes fitted in a file of %d bytes that cannot grow", fi.Size())
			}
			input := fmt.Sprintf(`{"op":"add","text":"%04d%s"}`, i, text)
			res, rec := f.call("alice", notes, grantAll(), input)
			if res.Failure == nil {
				acked = append(acked, fmt.Sprintf("%04d%s", i, text))
				continue
			}
			t.Logf("note %d of 4000 bytes refused: %s", i, res.Failure.Message)
			kvfFailedWrite(t, res, rec, "set", "truncate kv.db: file too large", dir)
			break
		}
		// Reads go on, and see only the acknowledged notes.
		if got := kvfNotes(t, f, notes, `{"op":"list"}`); !slices.Equal(got, acked) {
			t.Fatalf("after the refused write: %d notes, want the %d acknowledged", len(got), len(acked))
		}
		lift()
		// The next write works.
		acked = kvfNotes(t, f, notes, `{"op":"add","text":"after the fault"}`)
		kvfUsageExact(t, f.kv, "notes/alice")
	})
	b, _ := json.Marshal(acked)
	if err := os.WriteFile(filepath.Join(dir, "acked.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
