use crate::json::{self, FromJson, Value};
use crate::{call, sys, Call};
use std::fmt::Display;
use std::marker::PhantomData;

/// Makes the crate a capstream tool: it generates the module's two exports,
/// `capstream_manifest`, which pushes `manifest`, and `capstream_run`, which
/// decodes the call's input, calls `run` with it and pushes its result or
/// its error. Use it once, in a crate built as a `cdylib`.
///
/// `manifest` is the tool's manifest, a JSON text (`&'static str`), usually
/// `include_str!("manifest.json")`: its name, title, description, input
/// schema and needs (sdk/ABI.md, "Manifest"). The runtime reads and checks
/// it when it loads the module; `capstream inspect tool.wasm` shows it.
///
/// `run` is a function `fn(&Call, In) -> Result<Out, E>` where
/// - `In` is the input type: [`Value`], or a type of yours that implements
///   [`FromJson`] (with the `serde` feature, also one that implements
///   `serde::Deserialize`);
/// - `Out` is the result: anything with `Into<Value>` (with the `serde`
///   feature, also `serde::Serialize`);
/// - `E` is any error with `Display`, such as [`Error`](crate::Error) or
///   `String`: an `Err` fails the call with `tool_error` and its text.
///
/// An input that does not decode as `In` fails the call with `tool_error`,
/// naming the member at fault. A panic traps: the call fails with `trap`,
/// and the failure quotes the panic's message, which Rust's standard
/// library writes to stderr.
///
/// ```no_run
/// use capstream::json::{self, FromJson, Map, Value};
/// use capstream::{Call, Error, Level};
///
/// capstream::tool! {
///     manifest: r#"{"name": "hello", "title": "Hello", "description": "Greets someone by name.",
///                   "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}},
///                                   "required": ["name"]}}"#,
///     run: run,
/// }
///
/// struct Input {
///     name: String,
/// }
///
/// impl FromJson for Input {
///     fn from_json(value: Value) -> Result<Self, json::Error> {
///         Ok(Input { name: Map::from_json(value)?.take("name")? })
///     }
/// }
///
/// fn run(call: &Call, input: Input) -> Result<Value, Error> {
///     call.log(Level::Info, &format!("greeting {}", input.name))?;
///     Ok(capstream::object! { "greeting" => format!("Hello, {}!", input.name) })
/// }
/// ```
#[macro_export]
macro_rules! tool {
    (manifest: $manifest:expr, run: $run:expr $(,)?) => {
        /// Pushes the tool's manifest: the `capstream_manifest` export.
        #[no_mangle]
        pub extern "C" fn capstream_manifest() -> i32 {
            $crate::__private::manifest($manifest)
        }

        /// Runs one call of the tool: the `capstream_run` export.
        #[no_mangle]
        pub extern "C" fn capstream_run() -> i32 {
            $crate::__private::run($run)
        }
    };
}

/// A run function that [`tool!`](crate::tool!) and
/// [`testing::Host::call`](crate::testing::Host::call) accept: it is
/// implemented for every `fn(&Call, In) -> Result<Out, E>` whose types fit
/// (see [`tool!`](crate::tool!)). `Types` records them, so that the JSON and
/// the serde implementations stay apart; it is inferred.
pub trait Handler<Types> {
    /// Decodes the input, runs, and encodes the result; an `Err` is the
    /// message of the call's tool error.
    fn handle(&self, call: &Call, input: &[u8]) -> Result<Vec<u8>, String>;
}

/// The `Types` of a [`Handler`] whose input is [`FromJson`] and output
/// `Into<Value>`.
pub struct JsonTypes<In, Out, E>(PhantomData<fn(In) -> (Out, E)>);

impl<F, In, Out, E> Handler<JsonTypes<In, Out, E>> for F
where
    F: Fn(&Call, In) -> Result<Out, E>,
    In: FromJson,
    Out: Into<Value>,
    E: Display,
{
    fn handle(&self, call: &Call, input: &[u8]) -> Result<Vec<u8>, String> {
        let input = json::parse(input).and_then(In::from_json).map_err(|e| format!("decoding the input: {}", e))?;
        let output = self(call, input).map_err(|e| e.to_string())?;
        let mut out = String::new();
        json::write::value(&mut out, &output.into());
        Ok(out.into_bytes())
    }
}

/// The `Types` of a [`Handler`] whose input is `serde::Deserialize` and
/// output `serde::Serialize` (feature `serde`).
#[cfg(feature = "serde")]
pub struct SerdeTypes<In, Out, E>(PhantomData<fn(In) -> (Out, E)>);

#[cfg(feature = "serde")]
impl<F, In, Out, E> Handler<SerdeTypes<In, Out, E>> for F
where
    F: Fn(&Call, In) -> Result<Out, E>,
    In: serde::de::DeserializeOwned,
    Out: serde::Serialize,
    E: Display,
{
    fn handle(&self, call: &Call, input: &[u8]) -> Result<Vec<u8>, String> {
        let input = serde_json::from_slice(input).map_err(|e| format!("decoding the input: {}", e))?;
        let output = self(call, input).map_err(|e| e.to_string())?;
        serde_json::to_vec(&output).map_err(|e| format!("encoding the output: {}", e))
    }
}

/// The bodies of the exports [`tool!`](crate::tool!) generates.
#[doc(hidden)]
pub mod __private {
    use super::*;

    /// capstream_run: pulls the input, runs the handler, pushes its result
    /// or its error, and returns 0 or 1.
    pub fn run<T, H: Handler<T>>(handler: H) -> i32 {
        let input = match call::fetch(unsafe { sys::input() }) {
            Ok(input) => input,
            Err(e) => return fail(&format!("capstream: reading the input: {}", e)),
        };
        let output = match handler.handle(&Call::new(), &input) {
            Ok(output) => output,
            Err(msg) => return fail(&msg),
        };
        let rc = unsafe { sys::set_output(output.as_ptr(), output.len()) };
        if rc < 0 {
            return fail(&format!("capstream: setting the output: {}", call::host_error(rc)));
        }
        0
    }

    /// capstream_manifest: pushes the manifest.
    pub fn manifest(manifest: &str) -> i32 {
        let rc = unsafe { sys::set_output(manifest.as_ptr(), manifest.len()) };
        if rc < 0 {
            return fail(&format!("capstream: setting the manifest: {}", call::host_error(rc)));
        }
        0
    }

    /// Sets the tool error and returns the non-zero result of a failed
    /// export.
    fn fail(msg: &str) -> i32 {
        let msg = if msg.is_empty() { "the tool failed without a message" } else { msg };
        unsafe { sys::set_error(msg.as_ptr(), msg.len()) };
        1
    }
}
