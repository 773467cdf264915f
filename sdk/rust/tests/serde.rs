//! Run functions with serde types (feature serde).
#![cfg(feature = "serde")]

use capstream::testing::Host;
use capstream::{Call, Error, Level};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Input {
    name: String,
    #[serde(default)]
    times: Option<u32>,
}

#[derive(Serialize)]
struct Output {
    greeting: String,
    times: u32,
}

fn run(call: &Call, input: Input) -> Result<Output, Error> {
    call.log(Level::Info, &format!("greeting {}", input.name))?;
    Ok(Output { greeting: format!("Hello, {}!", input.name), times: input.times.unwrap_or(1) })
}

#[test]
fn typed() {
    let done = Host::new().call(run, r#"{"name":"Ada","times":2}"#).unwrap();
    assert_eq!(done.output, r#"{"greeting":"Hello, Ada!","times":2}"#);
    assert_eq!(done.events[0].to_string(), r#"host.log {"level":"info","message":"greeting Ada"}"#);
}

#[test]
fn decoding_error() {
    let failure = Host::new().call(run, r#"{"name":7}"#).unwrap_err();
    assert_eq!(failure.code, "tool_error");
    assert!(
        failure.message.starts_with("decoding the input: invalid type: integer `7`, expected a string"),
        "{}",
        failure
    );
}

/// A run function of JSON values still works with the feature on.
#[test]
fn json_values_too() {
    let run = |_: &Call, v: capstream::json::Value| -> Result<capstream::json::Value, Error> { Ok(v) };
    assert_eq!(Host::new().call(run, r#"{"a":1}"#).unwrap().output, r#"{"a":1}"#);
}
