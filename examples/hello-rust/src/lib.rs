//! hello: a capstream tool template; it greets someone by name. Copy this
//! directory, rename the tool and replace the logic (README.md).
//!
//! Build: make (cargo build --release --target wasm32-wasi, and hello.wasm
//! copied here)

use capstream::json::{self, FromJson, Map, Value};
use capstream::{Call, Error, Level};

capstream::tool! {
    manifest: include_str!("../manifest.json"),
    run: run,
}

/// What the tool takes. The runtime checks every call's input against the
/// input schema in manifest.json before the call starts.
struct Input {
    name: String,
}

impl FromJson for Input {
    fn from_json(value: Value) -> Result<Input, json::Error> {
        let mut o = Map::from_json(value)?;
        Ok(Input {
            name: o.take("name")?,
        })
    }
}

/// What the tool returns.
struct Output {
    greeting: String,
}

impl From<Output> for Value {
    fn from(o: Output) -> Value {
        capstream::object! { "greeting" => o.greeting }
    }
}

fn run(call: &Call, input: Input) -> Result<Output, Error> {
    call.log(Level::Info, &format!("greeting {}", input.name))?;
    Ok(Output {
        greeting: format!("Hello, {}!", input.name),
    })
}

#[cfg(test)]
mod tests {
    use capstream::testing::{check_manifest, Host};

    /// Runs the tool natively, against the SDK's in-memory host.
    #[test]
    fn hello() {
        let done = Host::new().call(super::run, r#"{"name":"Ada"}"#).unwrap();
        assert_eq!(done.output, r#"{"greeting":"Hello, Ada!"}"#);
        let events: Vec<String> = done.events.iter().map(ToString::to_string).collect();
        assert_eq!(
            events,
            [r#"host.log {"level":"info","message":"greeting Ada"}"#]
        );
    }

    /// Checks the manifest the runtime will read from the module, and that
    /// the tool's name (the one callers and policies use) is the crate's.
    #[test]
    fn manifest() {
        let m = check_manifest(include_str!("../manifest.json")).unwrap();
        assert_eq!(m["name"].as_str(), Some(env!("CARGO_PKG_NAME")));
    }
}
