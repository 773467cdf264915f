;; mirror: a capstream tool written by hand in WebAssembly text, following
;; sdk/ABI.md with no SDK. It returns its input object unchanged as its result
;; and logs one line, "mirrored".
;;
;; Build: wat2wasm plugins/mirror/mirror.wat -o mirror.wasm
;;
;; Memory (one 64 KiB page to start, grown as the input needs):
;;   16    "mirrored", the log line (8 bytes)
;;   32    "input does not fit in memory", an error message (28 bytes)
;;   64    "output refused", an error message (14 bytes)
;;   256   the manifest JSON (249 bytes)
;;   1024  the input, as long as it is
(module
  ;; Host functions: module capstream_v1, signatures as in sdk/ABI.md.
  (import "capstream_v1" "input"      (func $input      (result i32)))
  (import "capstream_v1" "read"       (func $read       (param $ptr i32) (param $len i32) (result i32)))
  (import "capstream_v1" "set_output" (func $set_output (param $ptr i32) (param $len i32) (result i32)))
  (import "capstream_v1" "set_error"  (func $set_error  (param $ptr i32) (param $len i32) (result i32)))
  (import "capstream_v1" "log"        (func $log        (param $level i32) (param $ptr i32) (param $len i32) (result i32)))

  (memory (export "memory") 1)

  (data (i32.const 16) "mirrored")
  (data (i32.const 32) "input does not fit in memory")
  (data (i32.const 64) "output refused")
  (data (i32.const 256) "{\"name\":\"mirror\",\"title\":\"Mirror\",\"description\":\"Returns its input object unchanged. Written by hand in WebAssembly text, as proof that the ABI needs no SDK.\",\"inputSchema\":{\"type\":\"object\"},\"annotations\":{\"readOnlyHint\":true,\"openWorldHint\":false}}")

  ;; Where the input goes.
  (global $heap i32 (i32.const 1024))

  ;; capstream_manifest: push the manifest with set_output, return 0.
  (func (export "capstream_manifest") (result i32)
    (drop (call $set_output (i32.const 256) (i32.const 249)))
    (i32.const 0))

  ;; capstream_run: pull the input, log, push the input back as the result.
  (func (export "capstream_run") (result i32)
    (local $n i32)     ;; input length
    (local $pages i32) ;; pages needed to hold it at $heap

    ;; 1. Stage the input; n is its length (a negative n would be an error code).
    (local.set $n (call $input))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (i32.const 1))))

    ;; 2. Reserve n bytes at $heap, growing the memory if needed.
    (local.set $pages
      (i32.shr_u (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 65535))
                 (i32.const 16)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then
            (drop (call $set_error (i32.const 32) (i32.const 28)))
            (return (i32.const 1))))))

    ;; 3. Copy the staged input in.
    (drop (call $read (global.get $heap) (local.get $n)))

    ;; 4. Log one line at level 1 (info).
    (drop (call $log (i32.const 1) (i32.const 16) (i32.const 8)))

    ;; 5. The input is a JSON object, so it is a valid result as it is.
    (if (i32.lt_s (call $set_output (global.get $heap) (local.get $n)) (i32.const 0))
      (then
        (drop (call $set_error (i32.const 64) (i32.const 14)))
        (return (i32.const 1))))
    (i32.const 0))
)
