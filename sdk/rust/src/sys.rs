//! The raw imports of the ABI: module `capstream_v1` (and `random_get` of
//! `wasi_snapshot_preview1`), with the names and signatures of capstream's
//! `sdk/ABI.md`.
//!
//! [`Call`](crate::Call) wraps every one of these; use them directly only to
//! do what the ABI allows and the SDK does not, such as passing a pointer of
//! your own choosing. Every function is `unsafe`: a pointer and length must
//! describe memory the module owns (the host fails the call with
//! `abi_violation` if the pair lies outside the memory, and writes wherever
//! `read` is told to).
//!
//! A function that stages data returns its length (`>= 0`), to be copied out
//! with [`read`]; a negative return is an error code (the `Error::DENIED` …
//! `Error::STORAGE` constants of [`Error`](crate::Error)), and `read` then
//! returns the host's message for it, at most [`MAX_ERROR_MESSAGE`] bytes.
//!
//! Built for `wasm32`, these are the module's imports. Built natively (for
//! `cargo test`), they call the host of [`testing`](crate::testing)
//! instead, which stands in for the runtime.

/// The name of the import module of every capstream host function; its
/// suffix is the ABI version.
pub const MODULE: &str = "capstream_v1";

/// The longest error message the host stages, in bytes.
pub const MAX_ERROR_MESSAGE: usize = 1024;

#[cfg(any(target_arch = "wasm32", doc))]
#[link(wasm_import_module = "capstream_v1")]
extern "C" {
    /// Stages the call's input (a JSON object) and returns its length.
    #[link_name = "input"]
    pub fn input() -> i32;
    /// Copies the first `min(len, staged)` staged bytes to `ptr` and returns
    /// that count.
    #[link_name = "read"]
    pub fn read(ptr: *mut u8, len: usize) -> i32;
    /// Sets the call's result, which must be JSON (`invalid` otherwise),
    /// replacing an earlier one.
    #[link_name = "set_output"]
    pub fn set_output(ptr: *const u8, len: usize) -> i32;
    /// Sets the tool error message (cut at 4 KiB); `capstream_run` then
    /// returns non-zero.
    #[link_name = "set_error"]
    pub fn set_error(ptr: *const u8, len: usize) -> i32;
    /// Emits `host.log`: level 0 debug, 1 info, 2 warn, 3 error.
    #[link_name = "log"]
    pub fn log(level: i32, ptr: *const u8, len: usize) -> i32;
    /// Emits `host.progress`; `total <= 0` is unknown, `len == 0` no message.
    #[link_name = "progress"]
    pub fn progress(progress: f64, total: f64, ptr: *const u8, len: usize) -> i32;
    /// Emits `host.output` with a chunk of partial output.
    #[link_name = "output"]
    pub fn output(ptr: *const u8, len: usize) -> i32;
    /// Performs the request whose JSON is at `ptr` and stages the response
    /// JSON.
    #[link_name = "http"]
    pub fn http(ptr: *const u8, len: usize) -> i32;
    /// Stages the value of a key; `not_found` if it is absent.
    #[link_name = "kv_get"]
    pub fn kv_get(key_ptr: *const u8, key_len: usize) -> i32;
    /// Stores a value under a key.
    #[link_name = "kv_set"]
    pub fn kv_set(key_ptr: *const u8, key_len: usize, value_ptr: *const u8, value_len: usize) -> i32;
    /// Deletes a key; an absent key is not an error.
    #[link_name = "kv_delete"]
    pub fn kv_delete(key_ptr: *const u8, key_len: usize) -> i32;
    /// Stages a JSON array of the keys that start with the prefix, sorted,
    /// at most 1000.
    #[link_name = "kv_list"]
    pub fn kv_list(prefix_ptr: *const u8, prefix_len: usize) -> i32;
    /// Stages the call's capability claims (a JSON object).
    #[link_name = "capability"]
    pub fn capability() -> i32;
}

#[cfg(any(target_arch = "wasm32", doc))]
#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    /// WASI's `random_get`: fills `len` bytes at `ptr` with fresh random
    /// bytes from the host, and returns 0 (or a WASI errno).
    #[link_name = "random_get"]
    pub fn random_get(ptr: *mut u8, len: usize) -> i32;
}

#[cfg(not(any(target_arch = "wasm32", doc)))]
pub use crate::testing::imports::*;
