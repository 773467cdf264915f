//! echo: returns its input text unchanged, and logs one line. It is the
//! same tool as the Go SDK's plugins/echo, manifest and events included.
//!
//! Build: make examples (cargo build --release --target wasm32-wasi --example echo)

use capstream::json::{self, FromJson, Map, Value};
use capstream::{Call, Error, Level};

capstream::tool! {
    manifest: MANIFEST,
    run: run,
}

const MANIFEST: &str = r#"{
    "name": "echo",
    "title": "Echo",
    "description": "Returns its input text unchanged, and logs one line.",
    "inputSchema": {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "Text to echo back"}},
        "required": ["text"],
        "additionalProperties": false
    },
    "annotations": {"readOnlyHint": true, "openWorldHint": false}
}"#;

/// What echo takes.
struct Input {
    text: String,
}

impl FromJson for Input {
    fn from_json(value: Value) -> Result<Input, json::Error> {
        let mut o = Map::from_json(value)?;
        Ok(Input { text: o.take("text")? })
    }
}

/// What echo returns.
struct Output {
    text: String,
}

impl From<Output> for Value {
    fn from(o: Output) -> Value {
        capstream::object! { "text" => o.text }
    }
}

fn run(call: &Call, input: Input) -> Result<Output, Error> {
    call.log(Level::Info, &format!("echoing {} bytes", input.text.len()))?;
    Ok(Output { text: input.text })
}

#[cfg(test)]
mod tests {
    use capstream::testing::{check_manifest, Host};

    #[test]
    fn echo() {
        let done = Host::new().call(super::run, r#"{"text":"héllo <b>"}"#).unwrap();
        assert_eq!(done.output, r#"{"text":"héllo <b>"}"#);
        let events: Vec<String> = done.events.iter().map(ToString::to_string).collect();
        assert_eq!(events, [r#"host.log {"level":"info","message":"echoing 10 bytes"}"#]);
    }

    #[test]
    fn manifest() {
        let m = check_manifest(super::MANIFEST).unwrap();
        assert_eq!(m["name"].as_str(), Some("echo"));
    }
}
