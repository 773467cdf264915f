//! Write capstream tools in Rust.
//!
//! A capstream tool is a WebAssembly module that follows the runtime's
//! plugin ABI (`sdk/ABI.md`). This crate implements the ABI: the
//! [`tool!`] macro makes the module's exports from your manifest and run
//! function, [`Call`] has a method for every host function (logs, progress,
//! output chunks, HTTP, KV storage, the call's capability), [`json`] reads
//! and writes the input and result, and [`testing`] runs a tool natively
//! against an in-memory host, for `cargo test`. It has no dependencies; the
//! optional `serde` feature lets the run function take and return serde
//! types instead.
//!
//! ```no_run
//! use capstream::json::{self, FromJson, Map, Value};
//! use capstream::{Call, Error, Level};
//!
//! capstream::tool! {
//!     manifest: r#"{
//!         "name": "echo",
//!         "title": "Echo",
//!         "description": "Returns its input text unchanged, and logs one line.",
//!         "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
//!     }"#,
//!     run: run,
//! }
//!
//! struct Input {
//!     text: String,
//! }
//!
//! impl FromJson for Input {
//!     fn from_json(value: Value) -> Result<Self, json::Error> {
//!         Ok(Input { text: Map::from_json(value)?.take("text")? })
//!     }
//! }
//!
//! fn run(call: &Call, input: Input) -> Result<Value, Error> {
//!     call.log(Level::Info, &format!("echoing {} bytes", input.text.len()))?;
//!     Ok(capstream::object! { "text" => input.text })
//! }
//! ```
//!
//! The crate is a `cdylib` built for WASI:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! capstream = { path = "../capstream/sdk/rust" }
//! ```
//!
//! ```sh
//! cargo build --release --target wasm32-wasi     # wasm32-wasip1 on Rust 1.78 and later
//! ```
//!
//! Link it with a small stack, in the crate's `.cargo/config.toml`: every
//! call instantiates the module afresh, and Rust's default 1 MiB stack
//! makes each call many times slower.
//!
//! ```toml
//! [target.wasm32-wasi]
//! rustflags = ["-C", "link-arg=-zstack-size=65536"]
//!
//! [target.wasm32-wasip1]
//! rustflags = ["-C", "link-arg=-zstack-size=65536"]
//! ```
//!
//! What a tool may rely on:
//!
//! - **Every call is a fresh instance.** Statics start from their initial
//!   values in every call; nothing one call writes is seen by another. Keep
//!   state in KV.
//! - **A refusal is data.** A host function the capability does not grant
//!   returns an [`Error`] with [`Error::DENIED`], and the call goes on. The
//!   limits (time, memory, output, events, host calls) end the call instead.
//! - **Returning `Err`** fails the call with `tool_error` and the error's
//!   text. **A panic** traps: the call fails with `trap`, quoting the panic.
//! - **Randomness** comes from the host on every call: [`random`].
//! - There are no files, no environment and no sockets; stdout and stderr
//!   are kept by the host, not streamed: use [`Call::log`] and
//!   [`Call::output`].
//!
//! Built natively rather than for `wasm32`, the [`sys`] functions call the
//! in-memory host of [`testing`], so that a tool's tests run with
//! `cargo test`.

#![warn(missing_docs)]

mod call;
mod claims;
mod error;
mod http;
pub mod json;
pub mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod tool;

pub use call::{Call, Level};
pub use claims::{Claims, Grants, HttpRule, KvGrant, Limits};
pub use error::Error;
pub use http::{HttpRequest, HttpResponse};
#[doc(hidden)]
pub use tool::__private;
#[cfg(feature = "serde")]
pub use tool::SerdeTypes;
pub use tool::{Handler, JsonTypes};

/// Fills `buf` with random bytes from the host (WASI's `random_get`), fresh
/// in every call.
///
/// A generator seeded once and kept in a static would start from the same
/// state in every instance; draw what must differ between calls here.
///
/// # Panics
///
/// If the host reports an error, which capstream never does.
pub fn random(buf: &mut [u8]) {
    let errno = unsafe { sys::random_get(buf.as_mut_ptr(), buf.len()) };
    if errno != 0 {
        panic!("capstream: random_get failed with WASI errno {}", errno);
    }
}
