;; conform: the conformance tool of sdk/conformance/SPEC.md, written by hand
;; in WebAssembly text against sdk/ABI.md, with no SDK. The suite runs it
;; beside every SDK's conform and wants the same events and outputs.
;;
;; It reads JSON with a small scanner: it finds an input member by its key and
;; copies values as they were written, so an output string is the input's
;; string token, escapes and all. A string argument it must use as bytes (a
;; KV key or value, a message) may not contain escapes: such an input is a
;; tool error that says so. Strings the host gives it (KV values, error
;; messages) are escaped as JSON wants.
;;
;; Memory: constants below 4096; from 4096 a bump heap that grows the memory
;; as it goes. The output is built last, at the top of the heap.
(module
  (import "capstream_v1" "input"      (func $input      (result i32)))
  (import "capstream_v1" "read"       (func $read       (param i32 i32) (result i32)))
  (import "capstream_v1" "set_output" (func $set_output (param i32 i32) (result i32)))
  (import "capstream_v1" "set_error"  (func $set_error  (param i32 i32) (result i32)))
  (import "capstream_v1" "log"        (func $log        (param i32 i32 i32) (result i32)))
  (import "capstream_v1" "progress"   (func $progress   (param f64 f64 i32 i32) (result i32)))
  (import "capstream_v1" "output"     (func $output     (param i32 i32) (result i32)))
  (import "capstream_v1" "http"       (func $http       (param i32 i32) (result i32)))
  (import "capstream_v1" "kv_get"     (func $kv_get     (param i32 i32) (result i32)))
  (import "capstream_v1" "kv_set"     (func $kv_set     (param i32 i32 i32 i32) (result i32)))
  (import "capstream_v1" "kv_delete"  (func $kv_delete  (param i32 i32) (result i32)))
  (import "capstream_v1" "kv_list"    (func $kv_list    (param i32 i32) (result i32)))
  (import "capstream_v1" "capability" (func $capability (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  ;; Constants: each at its own offset, length in the comment.
  (data (i32.const 16)   "debug")                      ;; 5
  (data (i32.const 24)   "info")                       ;; 4
  (data (i32.const 32)   "warn")                       ;; 4
  (data (i32.const 40)   "error \c3\bc")               ;; 8: "error ü"
  (data (i32.const 48)   "one")                        ;; 3
  (data (i32.const 56)   "partial \c3\a9")             ;; 10: "partial é"
  (data (i32.const 72)   "tick")                       ;; 4
  (data (i32.const 80)   "{\"ok\":true}")              ;; 11
  (data (i32.const 96)   "unknown op: ")               ;; 12
  (data (i32.const 112)  "null")                       ;; 4
  (data (i32.const 120)  "{\"echo\":")                 ;; 8
  (data (i32.const 136)  "{\"value\":")                ;; 9
  (data (i32.const 152)  "{\"keys\":")                 ;; 8
  (data (i32.const 168)  "{\"claims\":")               ;; 10
  (data (i32.const 184)  "{\"error\":{\"code\":")      ;; 17
  (data (i32.const 208)  ",\"message\":")              ;; 11
  (data (i32.const 224)  "{\"status\":")               ;; 10
  (data (i32.const 240)  ",\"url\":")                  ;; 7
  (data (i32.const 248)  ",\"body\":")                 ;; 8
  (data (i32.const 264)  ",\"contentType\":")          ;; 15
  (data (i32.const 280)  "{\"method\":")               ;; 10
  (data (i32.const 296)  "op")                         ;; 2
  (data (i32.const 304)  "text")                       ;; 4
  (data (i32.const 312)  "url")                        ;; 3
  (data (i32.const 320)  "method")                     ;; 6
  (data (i32.const 328)  "key")                        ;; 3
  (data (i32.const 336)  "value")                      ;; 5
  (data (i32.const 344)  "prefix")                     ;; 6
  (data (i32.const 352)  "message")                    ;; 7
  (data (i32.const 360)  "mib")                        ;; 3
  (data (i32.const 368)  "status")                     ;; 6
  (data (i32.const 376)  "headers")                    ;; 7
  (data (i32.const 384)  "body")                       ;; 4
  (data (i32.const 392)  "Content-Type")               ;; 12
  (data (i32.const 408)  "conform.wat reads string arguments without escapes only") ;; 56
  (data (i32.const 472)  "the input is not what this op needs") ;; 35
  (data (i32.const 512)  "echo")                       ;; 4
  (data (i32.const 520)  "input")                      ;; 5
  (data (i32.const 528)  "events")                     ;; 6
  (data (i32.const 536)  "http")                       ;; 4
  (data (i32.const 544)  "kv_set")                     ;; 6
  (data (i32.const 552)  "kv_get")                     ;; 6
  (data (i32.const 560)  "kv_delete")                  ;; 9
  (data (i32.const 576)  "kv_list")                    ;; 7
  (data (i32.const 584)  "capability")                 ;; 10
  (data (i32.const 600)  "fail")                       ;; 4
  (data (i32.const 608)  "trap")                       ;; 4
  (data (i32.const 616)  "badptr")                     ;; 6
  (data (i32.const 624)  "alloc")                      ;; 5
  (data (i32.const 632)  "spin")                       ;; 4
  (data (i32.const 640)  "flood")                      ;; 5
  (data (i32.const 648)  "calls")                      ;; 5
  (data (i32.const 656)  "0123456789abcdef")           ;; 16
  (data (i32.const 1024) "{\"name\":\"conform\",\"title\":\"Conformance\",\"description\":\"Runs one scenario of capstream's cross-language conformance suite.\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"op\":{\"type\":\"string\"}},\"required\":[\"op\"]},\"needs\":{\"http\":[{\"url\":\"*\",\"methods\":[\"GET\"]}],\"kv\":{\"write\":true}}}")
  (global $manifest_len i32 (i32.const 280))

  (global $heap (mut i32) (i32.const 4096))
  (global $in (mut i32) (i32.const 0))     ;; the input
  (global $in_end (mut i32) (i32.const 0))
  (global $out (mut i32) (i32.const 0))    ;; the output being built, up to $heap

  (func (export "capstream_manifest") (result i32)
    (drop (call $set_output (i32.const 1024) (global.get $manifest_len)))
    (i32.const 0))

  ;; alloc reserves n bytes at the top of the heap, growing the memory.
  (func $alloc (param $n i32) (result i32)
    (local $p i32) (local $end i32) (local $pages i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $pages (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $p))

  ;; staged reads n staged bytes into the heap.
  (func $staged (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (call $alloc (local.get $n)))
    (drop (call $read (local.get $p) (local.get $n)))
    (local.get $p))

  ;; The output builder: begin, put, then finish sets it as the output.
  (func $begin (global.set $out (global.get $heap)))
  (func $put (param $p i32) (param $n i32)
    (memory.copy (call $alloc (local.get $n)) (local.get $p) (local.get $n)))
  (func $put_byte (param $b i32)
    (i32.store8 (call $alloc (i32.const 1)) (local.get $b)))
  (func $finish (result i32)
    (drop (call $set_output (global.get $out) (i32.sub (global.get $heap) (global.get $out))))
    (i32.const 0))

  ;; put_string writes bytes as a JSON string: quotes, backslashes and
  ;; control characters escaped, everything else as it is.
  (func $put_string (param $p i32) (param $n i32)
    (local $end i32) (local $c i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (call $put_byte (i32.const 34))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92)))
          (then (call $put_byte (i32.const 92)) (call $put_byte (local.get $c)))
          (else
            (if (i32.lt_u (local.get $c) (i32.const 32))
              (then
                (call $put_byte (i32.const 92)) (call $put_byte (i32.const 117)) ;; \u
                (call $put_byte (i32.const 48)) (call $put_byte (i32.const 48))  ;; 00
                (call $put_byte (i32.load8_u (i32.add (i32.const 656) (i32.shr_u (local.get $c) (i32.const 4)))))
                (call $put_byte (i32.load8_u (i32.add (i32.const 656) (i32.and (local.get $c) (i32.const 15))))))
              (else (call $put_byte (local.get $c))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (call $put_byte (i32.const 34)))

  ;; put_int writes a (possibly negative) integer in decimal.
  (func $put_int (param $v i32)
    (local $i i32) (local $u i32)
    (if (i32.lt_s (local.get $v) (i32.const 0))
      (then (call $put_byte (i32.const 45)) (local.set $u (i32.sub (i32.const 0) (local.get $v))))
      (else (local.set $u (local.get $v))))
    (local.set $i (i32.const 3072)) ;; digits go backwards into the scratch area below 3072
    (loop $digit
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (local.get $i) (i32.add (i32.const 48) (i32.rem_u (local.get $u) (i32.const 10))))
      (local.set $u (i32.div_u (local.get $u) (i32.const 10)))
      (br_if $digit (i32.ne (local.get $u) (i32.const 0))))
    (call $put (local.get $i) (i32.sub (i32.const 3072) (local.get $i))))

  ;; ws skips white space from p.
  (func $ws (param $p i32) (param $end i32) (result i32)
    (local $c i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $done (i32.eqz (i32.or (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 9)))
                                      (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.eq (local.get $c) (i32.const 13))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $p))

  ;; skip returns the end of the JSON value at p (which the host has
  ;; validated): a string with its escapes, a nested object or array, or a
  ;; number or literal.
  (func $skip (param $p i32) (param $end i32) (result i32)
    (local $c i32) (local $depth i32) (local $instr i32)
    (local.set $c (i32.load8_u (local.get $p)))
    ;; A number or literal runs to the next delimiter.
    (if (i32.and (i32.ne (local.get $c) (i32.const 34))
                 (i32.and (i32.ne (local.get $c) (i32.const 123)) (i32.ne (local.get $c) (i32.const 91))))
      (then
        (block $done
          (loop $next
            (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $c (i32.load8_u (local.get $p)))
            (br_if $done (i32.or (i32.or (i32.eq (local.get $c) (i32.const 44)) (i32.eq (local.get $c) (i32.const 125)))
                                 (i32.or (i32.eq (local.get $c) (i32.const 93)) (i32.le_u (local.get $c) (i32.const 32)))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $next)))
        (return (local.get $p))))
    ;; A string, object or array: count brackets outside strings.
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (if (local.get $instr)
          (then
            (if (i32.eq (local.get $c) (i32.const 92))
              (then (local.set $p (i32.add (local.get $p) (i32.const 1))) (br $next)))
            (if (i32.eq (local.get $c) (i32.const 34))
              (then
                (local.set $instr (i32.const 0))
                (br_if $done (i32.eqz (local.get $depth)))))
            (br $next)))
        (if (i32.eq (local.get $c) (i32.const 34)) (then (local.set $instr (i32.const 1)) (br $next)))
        (if (i32.or (i32.eq (local.get $c) (i32.const 123)) (i32.eq (local.get $c) (i32.const 91)))
          (then (local.set $depth (i32.add (local.get $depth) (i32.const 1))) (br $next)))
        (if (i32.or (i32.eq (local.get $c) (i32.const 125)) (i32.eq (local.get $c) (i32.const 93)))
          (then
            (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
            (br_if $done (i32.eqz (local.get $depth)))))
        (br $next)))
    (local.get $p))

  ;; member finds the value of key in the object at obj (ending by end), and
  ;; returns its start, or 0. Keys are compared as written.
  (func $member (param $obj i32) (param $end i32) (param $key i32) (param $klen i32) (result i32)
    (local $p i32) (local $k i32) (local $kend i32)
    (local.set $p (call $ws (i32.add (local.get $obj) (i32.const 1)) (local.get $end)))
    (block $none
      (loop $next
        (br_if $none (i32.ne (i32.load8_u (local.get $p)) (i32.const 34)))
        (local.set $k (i32.add (local.get $p) (i32.const 1)))
        (local.set $kend (i32.sub (call $skip (local.get $p) (local.get $end)) (i32.const 1)))
        (local.set $p (call $ws (i32.add (local.get $kend) (i32.const 1)) (local.get $end))) ;; at ':'
        (local.set $p (call $ws (i32.add (local.get $p) (i32.const 1)) (local.get $end)))    ;; at the value
        (if (call $equal (local.get $k) (i32.sub (local.get $kend) (local.get $k)) (local.get $key) (local.get $klen))
          (then (return (local.get $p))))
        (local.set $p (call $ws (call $skip (local.get $p) (local.get $end)) (local.get $end)))
        (br_if $none (i32.ne (i32.load8_u (local.get $p)) (i32.const 44)))
        (local.set $p (call $ws (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
        (br $next)))
    (i32.const 0))

  (func $equal (param $a i32) (param $an i32) (param $b i32) (param $bn i32) (result i32)
    (if (i32.ne (local.get $an) (local.get $bn)) (then (return (i32.const 0))))
    (block $differ
      (loop $next
        (if (i32.eqz (local.get $an)) (then (return (i32.const 1))))
        (br_if $differ (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $an (i32.sub (local.get $an) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  ;; arg returns the start of the input member key (0 if absent); argEnd
  ;; its end.
  (func $arg (param $key i32) (param $klen i32) (result i32)
    (call $member (global.get $in) (global.get $in_end) (local.get $key) (local.get $klen)))
  (func $end_of (param $v i32) (result i32)
    (call $skip (local.get $v) (global.get $in_end)))

  ;; text returns the bytes of the input's string member key as ptr and
  ;; length, trapping the call as a tool error if it is absent, not a string
  ;; or escaped (see the top of the file).
  (func $text (param $key i32) (param $klen i32) (result i32 i32)
    (local $v i32) (local $end i32) (local $p i32)
    (local.set $v (call $arg (local.get $key) (local.get $klen)))
    (if (i32.or (i32.eqz (local.get $v)) (i32.ne (i32.load8_u (local.get $v)) (i32.const 34)))
      (then
        (call $fail (i32.const 472) (i32.const 35))
        (return (i32.const 0) (i32.const 0))))
    (local.set $end (i32.sub (call $end_of (local.get $v)) (i32.const 1)))
    (local.set $p (i32.add (local.get $v) (i32.const 1)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 92))
          (then
            (call $fail (i32.const 408) (i32.const 56))
            (return (i32.const 0) (i32.const 0))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (i32.add (local.get $v) (i32.const 1))
    (i32.sub (local.get $end) (i32.add (local.get $v) (i32.const 1))))

  ;; fail ends the call as a tool error with a message: set_error, then a
  ;; trap would be a trap, so it unwinds through $failed instead.
  (global $failed (mut i32) (i32.const 0))
  (func $fail (param $p i32) (param $n i32)
    (drop (call $set_error (local.get $p) (local.get $n)))
    (global.set $failed (i32.const 1)))

  ;; refused makes a host function's negative code and its staged message
  ;; the output.
  (func $refused (param $code i32) (result i32)
    (local $msg i32) (local $n i32)
    (local.set $msg (call $alloc (i32.const 1024)))
    (local.set $n (call $read (local.get $msg) (i32.const 1024)))
    (call $begin)
    (call $put (i32.const 184) (i32.const 17))
    (call $put_int (local.get $code))
    (call $put (i32.const 208) (i32.const 11))
    (call $put_string (local.get $msg) (local.get $n))
    (call $put_byte (i32.const 125))
    (call $put_byte (i32.const 125))
    (call $finish))

  (func $ok (result i32)
    (drop (call $set_output (i32.const 80) (i32.const 11)))
    (i32.const 0))

  ;; is compares the op (at p, n bytes) with a constant.
  (func $is (param $p i32) (param $n i32) (param $c i32) (param $cn i32) (result i32)
    (call $equal (local.get $p) (local.get $n) (local.get $c) (local.get $cn)))

  (func (export "capstream_run") (result i32)
    (local $n i32) (local $op i32) (local $opn i32) (local $r i32)
    (local.set $n (call $input))
    (global.set $in (call $staged (local.get $n)))
    (global.set $in_end (i32.add (global.get $in) (local.get $n)))
    (call $text (i32.const 296) (i32.const 2))
    (local.set $opn) (local.set $op)
    (if (global.get $failed) (then (return (i32.const 1))))
    (local.set $r (call $dispatch (local.get $op) (local.get $opn)))
    (if (global.get $failed) (then (return (i32.const 1))))
    (local.get $r))

  (func $dispatch (param $op i32) (param $opn i32) (result i32)
    (local $v i32) (local $p i32) (local $n i32) (local $q i32) (local $m i32) (local $code i32) (local $i i32)
    (local $resp i32) (local $resp_end i32) (local $h i32)

    (if (call $is (local.get $op) (local.get $opn) (i32.const 512) (i32.const 4)) ;; echo
      (then
        (local.set $v (call $arg (i32.const 304) (i32.const 4)))
        (if (i32.eqz (local.get $v)) (then (call $fail (i32.const 472) (i32.const 35)) (return (i32.const 1))))
        (call $begin)
        (call $put (i32.const 120) (i32.const 8))
        (call $put (local.get $v) (i32.sub (call $end_of (local.get $v)) (local.get $v)))
        (call $put_byte (i32.const 125))
        (return (call $finish))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 520) (i32.const 5)) ;; input
      (then
        (drop (call $set_output (global.get $in) (i32.sub (global.get $in_end) (global.get $in))))
        (return (i32.const 0))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 528) (i32.const 6)) ;; events
      (then
        (drop (call $log (i32.const 0) (i32.const 16) (i32.const 5)))
        (drop (call $log (i32.const 1) (i32.const 24) (i32.const 4)))
        (drop (call $log (i32.const 2) (i32.const 32) (i32.const 4)))
        (drop (call $log (i32.const 3) (i32.const 40) (i32.const 8)))
        (drop (call $progress (f64.const 1) (f64.const 3) (i32.const 48) (i32.const 3)))
        (drop (call $progress (f64.const 2) (f64.const 3) (i32.const 0) (i32.const 0)))
        (drop (call $progress (f64.const 3) (f64.const 0) (i32.const 0) (i32.const 0)))
        (drop (call $output (i32.const 56) (i32.const 10)))
        (return (call $ok))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 536) (i32.const 4)) ;; http
      (then
        ;; {"method":<method>,"url":<url>}, the tokens as written.
        (local.set $v (call $arg (i32.const 320) (i32.const 6)))
        (local.set $q (call $arg (i32.const 312) (i32.const 3)))
        (if (i32.or (i32.eqz (local.get $v)) (i32.eqz (local.get $q)))
          (then (call $fail (i32.const 472) (i32.const 35)) (return (i32.const 1))))
        (call $begin)
        (call $put (i32.const 280) (i32.const 10))
        (call $put (local.get $v) (i32.sub (call $end_of (local.get $v)) (local.get $v)))
        (call $put (i32.const 240) (i32.const 7))
        (call $put (local.get $q) (i32.sub (call $end_of (local.get $q)) (local.get $q)))
        (call $put_byte (i32.const 125))
        (local.set $code (call $http (global.get $out) (i32.sub (global.get $heap) (global.get $out))))
        (if (i32.lt_s (local.get $code) (i32.const 0)) (then (return (call $refused (local.get $code)))))
        (local.set $resp (call $staged (local.get $code)))
        (local.set $resp_end (i32.add (local.get $resp) (local.get $code)))
        ;; {"status":…,"url":…,"body":…,"contentType":…} from the response's keys.
        (call $begin)
        (call $put (i32.const 224) (i32.const 10))
        (local.set $v (call $member (local.get $resp) (local.get $resp_end) (i32.const 368) (i32.const 6)))
        (call $put (local.get $v) (i32.sub (call $skip (local.get $v) (local.get $resp_end)) (local.get $v)))
        (call $put (i32.const 240) (i32.const 7))
        (local.set $v (call $member (local.get $resp) (local.get $resp_end) (i32.const 312) (i32.const 3)))
        (call $put (local.get $v) (i32.sub (call $skip (local.get $v) (local.get $resp_end)) (local.get $v)))
        (call $put (i32.const 248) (i32.const 8))
        (local.set $v (call $member (local.get $resp) (local.get $resp_end) (i32.const 384) (i32.const 4)))
        (call $put (local.get $v) (i32.sub (call $skip (local.get $v) (local.get $resp_end)) (local.get $v)))
        (call $put (i32.const 264) (i32.const 15))
        (local.set $h (call $member (local.get $resp) (local.get $resp_end) (i32.const 376) (i32.const 7)))
        (local.set $v (i32.const 0))
        (if (local.get $h)
          (then (local.set $v (call $member (local.get $h) (local.get $resp_end) (i32.const 392) (i32.const 12)))))
        (if (local.get $v)
          (then (call $put (local.get $v) (i32.sub (call $skip (local.get $v) (local.get $resp_end)) (local.get $v))))
          (else (call $put (i32.const 112) (i32.const 4))))
        (call $put_byte (i32.const 125))
        (return (call $finish))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 544) (i32.const 6)) ;; kv_set
      (then
        (call $text (i32.const 328) (i32.const 3)) (local.set $n) (local.set $p)
        (if (global.get $failed) (then (return (i32.const 1))))
        (call $text (i32.const 336) (i32.const 5)) (local.set $m) (local.set $q)
        (if (global.get $failed) (then (return (i32.const 1))))
        (local.set $code (call $kv_set (local.get $p) (local.get $n) (local.get $q) (local.get $m)))
        (if (i32.lt_s (local.get $code) (i32.const 0)) (then (return (call $refused (local.get $code)))))
        (return (call $ok))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 552) (i32.const 6)) ;; kv_get
      (then
        (call $text (i32.const 328) (i32.const 3)) (local.set $n) (local.set $p)
        (if (global.get $failed) (then (return (i32.const 1))))
        (local.set $code (call $kv_get (local.get $p) (local.get $n)))
        (if (i32.lt_s (local.get $code) (i32.const 0)) (then (return (call $refused (local.get $code)))))
        (local.set $q (call $staged (local.get $code)))
        (call $begin)
        (call $put (i32.const 136) (i32.const 9))
        (call $put_string (local.get $q) (local.get $code))
        (call $put_byte (i32.const 125))
        (return (call $finish))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 560) (i32.const 9)) ;; kv_delete
      (then
        (call $text (i32.const 328) (i32.const 3)) (local.set $n) (local.set $p)
        (if (global.get $failed) (then (return (i32.const 1))))
        (local.set $code (call $kv_delete (local.get $p) (local.get $n)))
        (if (i32.lt_s (local.get $code) (i32.const 0)) (then (return (call $refused (local.get $code)))))
        (return (call $ok))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 576) (i32.const 7)) ;; kv_list
      (then
        (call $text (i32.const 344) (i32.const 6)) (local.set $n) (local.set $p)
        (if (global.get $failed) (then (return (i32.const 1))))
        (local.set $code (call $kv_list (local.get $p) (local.get $n)))
        (if (i32.lt_s (local.get $code) (i32.const 0)) (then (return (call $refused (local.get $code)))))
        (local.set $q (call $staged (local.get $code)))
        (call $begin)
        (call $put (i32.const 152) (i32.const 8))
        (call $put (local.get $q) (local.get $code))
        (call $put_byte (i32.const 125))
        (return (call $finish))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 584) (i32.const 10)) ;; capability
      (then
        (local.set $code (call $capability))
        (if (i32.lt_s (local.get $code) (i32.const 0)) (then (return (call $refused (local.get $code)))))
        (local.set $q (call $staged (local.get $code)))
        (call $begin)
        (call $put (i32.const 168) (i32.const 10))
        (call $put (local.get $q) (local.get $code))
        (call $put_byte (i32.const 125))
        (return (call $finish))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 600) (i32.const 4)) ;; fail
      (then
        (call $text (i32.const 352) (i32.const 7)) (local.set $n) (local.set $p)
        (if (global.get $failed) (then (return (i32.const 1))))
        (call $fail (local.get $p) (local.get $n))
        (return (i32.const 1))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 608) (i32.const 4)) ;; trap
      (then
        (call $text (i32.const 352) (i32.const 7)) (local.set $n) (local.set $p)
        (if (global.get $failed) (then (return (i32.const 1))))
        ;; The message to stderr (one iovec at 3072), then a trap.
        (i32.store (i32.const 3072) (local.get $p))
        (i32.store (i32.const 3076) (local.get $n))
        (drop (call $fd_write (i32.const 2) (i32.const 3072) (i32.const 1) (i32.const 3080)))
        unreachable))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 616) (i32.const 6)) ;; badptr
      (then
        (drop (call $log (i32.const 1) (i32.const 0xFFFFFF00) (i32.const 512)))
        (return (call $ok))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 624) (i32.const 5)) ;; alloc
      (then
        ;; mib MiB from the heap, one byte written in every 4 KiB.
        (local.set $v (call $arg (i32.const 360) (i32.const 3)))
        (if (i32.eqz (local.get $v)) (then (call $fail (i32.const 472) (i32.const 35)) (return (i32.const 1))))
        (local.set $m (i32.const 0))
        (local.set $p (local.get $v))
        (block $done
          (loop $digit
            (local.set $i (i32.load8_u (local.get $p)))
            (br_if $done (i32.or (i32.lt_u (local.get $i) (i32.const 48)) (i32.gt_u (local.get $i) (i32.const 57))))
            (local.set $m (i32.add (i32.mul (local.get $m) (i32.const 10)) (i32.sub (local.get $i) (i32.const 48))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $digit)))
        (local.set $n (i32.shl (local.get $m) (i32.const 20)))
        (local.set $p (call $alloc (local.get $n)))
        (local.set $i (i32.const 0))
        (block $done
          (loop $page
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (i32.store8 (i32.add (local.get $p) (local.get $i)) (i32.const 1))
            (local.set $i (i32.add (local.get $i) (i32.const 4096)))
            (br $page)))
        (return (call $ok))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 632) (i32.const 4)) ;; spin
      (then (loop $forever (br $forever))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 640) (i32.const 5)) ;; flood
      (then
        (local.set $p (call $alloc (i32.const 1024)))
        (memory.fill (local.get $p) (i32.const 120) (i32.const 1024))
        (loop $forever
          (drop (call $output (local.get $p) (i32.const 1024)))
          (br $forever))))

    (if (call $is (local.get $op) (local.get $opn) (i32.const 648) (i32.const 5)) ;; calls
      (then
        (loop $forever
          (drop (call $log (i32.const 0) (i32.const 72) (i32.const 4)))
          (br $forever))))

    ;; Anything else.
    (call $begin)
    (call $put (i32.const 96) (i32.const 12))
    (call $put (local.get $op) (local.get $opn))
    (drop (call $set_error (global.get $out) (i32.sub (global.get $heap) (global.get $out))))
    (i32.const 1))
)
