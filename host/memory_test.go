package host_test

import (
	"sync"
	"testing"
)

// scrub is pre-initialized (it exports _initialize, which writes "SNAP" at
// 200), and each run checks that its memory is exactly the snapshot's, then
// dirties it: the image region and a zero part of it, then a page it grows
// (growing moves the memory, so both the old and the new one are dirty).
// Memories are pooled between calls, so this fails if a call could see what
// an earlier one wrote.
const scrub = `(module
  (import "capstream_v1" "set_output" (func $set_output (param i32 i32) (result i32)))
  (import "capstream_v1" "set_error"  (func $set_error  (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "image changed")
  (data (i32.const 32) "zero bytes changed")
  (data (i32.const 64) "memory size changed")
  (data (i32.const 96) "grown page not zero")
  (data (i32.const 1024) "{\"name\":\"scrub\",\"description\":\"Checks its memory is the snapshot's, then dirties it.\",\"inputSchema\":{\"type\":\"object\"}}")
  (func (export "_initialize") (i32.store (i32.const 200) (i32.const 0x50414e53)))
  (func (export "capstream_manifest") (result i32)
    (drop (call $set_output (i32.const 1024) (i32.const 118)))
    (i32.const 0))
  (func $fail (param $msg i32) (param $len i32) (result i32)
    (drop (call $set_error (local.get $msg) (local.get $len)))
    (i32.const 1))
  (func (export "capstream_run") (result i32)
    (if (i32.ne (i32.load (i32.const 200)) (i32.const 0x50414e53))
      (then (return (call $fail (i32.const 16) (i32.const 13)))))
    (if (i32.ne (i32.load (i32.const 4000)) (i32.const 0))
      (then (return (call $fail (i32.const 32) (i32.const 18)))))
    (i32.store (i32.const 200) (i32.const -1))
    (i32.store (i32.const 4000) (i32.const -1))
    (if (i32.ne (memory.grow (i32.const 1)) (i32.const 1))
      (then (return (call $fail (i32.const 64) (i32.const 20)))))
    (if (i64.ne (i64.load (i32.const 65544)) (i64.const 0))
      (then (return (call $fail (i32.const 96) (i32.const 19)))))
    (i64.store (i32.const 65544) (i64.const -1))
    (i32.const 0)))`

func TestPooledMemoryStartsClean(t *testing.T) {
	f := newFixture(t, nil)
	tool := f.loadWAT("scrub", scrub)
	for i := range 5 {
		if res, _ := f.call("alice", tool, grantAll(), `{}`); res.Failure != nil {
			t.Fatalf("call %d: %s", i, res.Failure.Message)
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if res, _ := f.call("bob", tool, grantAll(), `{}`); res.Failure != nil {
					t.Errorf("concurrent call: %s", res.Failure.Message)
					return
				}
			}
		})
	}
	wg.Wait()
}
