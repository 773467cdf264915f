// The imports of module capstream_v1, with the signatures of sdk/ABI.md,
// and the ABI's numbers. A tool rarely needs these: Call and the functions
// of tool.ts wrap them. A pointer/length pair that is not inside the
// memory fails the call with abi_violation.

/** The import module of the host functions. */
export const MODULE = "capstream_v1";

/** Error codes: every host function returns a negative one on failure. */
export const DENIED: i32 = -1; // the call's capability does not grant this
export const NOT_FOUND: i32 = -2; // no such key
export const INVALID: i32 = -3; // a malformed argument: bad JSON, an empty key, …
export const QUOTA: i32 = -4; // the KV write would exceed the namespace's quota
export const UPSTREAM: i32 = -5; // the outbound request failed
export const TOO_LARGE: i32 = -6; // an argument is larger than the host accepts
export const STORAGE: i32 = -7; // the host's store failed; nothing was written

/** The largest error message the host stages, in bytes. */
export const MAX_ERROR_MESSAGE: i32 = 1024;

/** errorName returns an error code's name as sdk/ABI.md spells it. */
export function errorName(code: i32): string {
  switch (code) {
    case 0: return "ok";
    case DENIED: return "denied";
    case NOT_FOUND: return "not_found";
    case INVALID: return "invalid";
    case QUOTA: return "quota";
    case UPSTREAM: return "upstream";
    case TOO_LARGE: return "too_large";
    case STORAGE: return "storage";
  }
  return "unknown";
}

// Plumbing: no event, no cost.

/** input stages the call's input JSON and returns its length. */
// @ts-ignore: decorator
@external("capstream_v1", "input")
export declare function input(): i32;

/** read copies the first min(len, staged) staged bytes to ptr and returns the count. */
// @ts-ignore: decorator
@external("capstream_v1", "read")
export declare function read(ptr: usize, len: usize): i32;

/** set_output sets the call's result, a JSON value. */
// @ts-ignore: decorator
@external("capstream_v1", "set_output")
export declare function set_output(ptr: usize, len: usize): i32;

/** set_error sets the tool error message (cut at 4 KiB). */
// @ts-ignore: decorator
@external("capstream_v1", "set_error")
export declare function set_error(ptr: usize, len: usize): i32;

// Host calls: each counts against the capability's limits and emits one
// host.* event.

/** log emits host.log; level 0 debug, 1 info, 2 warn, 3 error. */
// @ts-ignore: decorator
@external("capstream_v1", "log")
export declare function log(level: i32, ptr: usize, len: usize): i32;

/** progress emits host.progress; total <= 0 is unknown, len 0 no message. */
// @ts-ignore: decorator
@external("capstream_v1", "progress")
export declare function progress(progress: f64, total: f64, ptr: usize, len: usize): i32;

/** output emits host.output, a chunk of partial output. */
// @ts-ignore: decorator
@external("capstream_v1", "output")
export declare function output(ptr: usize, len: usize): i32;

/** http performs the request JSON at ptr and stages the response JSON. */
// @ts-ignore: decorator
@external("capstream_v1", "http")
export declare function http(ptr: usize, len: usize): i32;

/** kv_get stages the value of the key. */
// @ts-ignore: decorator
@external("capstream_v1", "kv_get")
export declare function kv_get(kptr: usize, klen: usize): i32;

/** kv_set stores the value under the key. */
// @ts-ignore: decorator
@external("capstream_v1", "kv_set")
export declare function kv_set(kptr: usize, klen: usize, vptr: usize, vlen: usize): i32;

/** kv_delete deletes the key; an absent key is not an error. */
// @ts-ignore: decorator
@external("capstream_v1", "kv_delete")
export declare function kv_delete(kptr: usize, klen: usize): i32;

/** kv_list stages a JSON array of the keys starting with the prefix. */
// @ts-ignore: decorator
@external("capstream_v1", "kv_list")
export declare function kv_list(pptr: usize, plen: usize): i32;

/** capability stages the call's capability claims (JSON). */
// @ts-ignore: decorator
@external("capstream_v1", "capability")
export declare function capability(): i32;
