//! conform: the Rust SDK's conformance tool. It does what
//! sdk/conformance/SPEC.md says, as every other language's conform does, so
//! that one table of scenarios checks them all. It is written through the
//! SDK's public API; only `badptr` calls a raw import.
//!
//! Build: make examples (cargo build --release --target wasm32-wasi --example conform)

use capstream::json::Value;
use capstream::{object, sys, Call, Error, HttpRequest, Level};

capstream::tool! {
    manifest: MANIFEST,
    run: run,
}

const MANIFEST: &str = r#"{
    "name": "conform",
    "title": "Conformance",
    "description": "Runs one scenario of capstream's cross-language conformance suite.",
    "inputSchema": {"type": "object", "properties": {"op": {"type": "string"}}, "required": ["op"]},
    "needs": {"http": [{"url": "*", "methods": ["GET"]}], "kv": {"write": true}}
}"#;

/// The input is taken as a Value, so that op input can return it as it came.
fn run(call: &Call, input: Value) -> Result<Value, Error> {
    let op = arg(&input, "op");
    match op.as_str() {
        "echo" => Ok(object! { "echo" => arg(&input, "text") }),
        "input" => Ok(input),
        "events" => {
            for (level, message) in
                [(Level::Debug, "debug"), (Level::Info, "info"), (Level::Warn, "warn"), (Level::Error, "error ü")]
            {
                call.log(level, message)?;
            }
            for (progress, total, message) in [(1.0, 3.0, "one"), (2.0, 3.0, ""), (3.0, 0.0, "")] {
                call.progress(progress, total, message)?;
            }
            call.output("partial é")?;
            Ok(ok())
        }
        "http" => match call.http(&HttpRequest::new(arg(&input, "method"), arg(&input, "url"))) {
            Ok(resp) => Ok(object! {
                "status" => resp.status,
                "url" => resp.url.as_str(),
                "body" => resp.body.as_str(),
                "contentType" => resp.header("Content-Type"),
            }),
            Err(e) => refusal(e),
        },
        "kv_set" => match call.kv_set(&arg(&input, "key"), arg(&input, "value")) {
            Ok(()) => Ok(ok()),
            Err(e) => refusal(e),
        },
        "kv_get" => match call.kv_get(&arg(&input, "key")) {
            Ok(v) => Ok(object! { "value" => String::from_utf8_lossy(&v).into_owned() }),
            Err(e) => refusal(e),
        },
        "kv_delete" => match call.kv_delete(&arg(&input, "key")) {
            Ok(()) => Ok(ok()),
            Err(e) => refusal(e),
        },
        "kv_list" => match call.kv_list(&arg(&input, "prefix")) {
            Ok(keys) => Ok(object! { "keys" => keys }),
            Err(e) => refusal(e),
        },
        "capability" => match call.capability() {
            Ok(claims) => Ok(object! { "claims" => &claims }),
            Err(e) => refusal(e),
        },
        "fail" => Err(Error::new(arg(&input, "message"))),
        "trap" => panic!("{}", arg(&input, "message")),
        "badptr" => {
            unsafe { sys::log(1, 0xFFFF_FF00 as *const u8, 512) };
            Ok(ok())
        }
        "alloc" => {
            let n = input["mib"].as_f64().unwrap_or(0.0) as usize * (1 << 20);
            let mut b = vec![0u8; n];
            for i in (0..n).step_by(4096) {
                unsafe { std::ptr::write_volatile(&mut b[i], 1) };
            }
            Ok(ok())
        }
        "spin" => loop {
            std::hint::spin_loop();
        },
        "flood" => {
            let chunk = "x".repeat(1024);
            loop {
                call.output(&chunk)?;
            }
        }
        "calls" => loop {
            call.log(Level::Debug, "tick")?;
        },
        _ => Err(Error::new(format!("unknown op: {}", op))),
    }
}

/// Returns the input's string member key, or "" if there is none.
fn arg(input: &Value, key: &str) -> String {
    input[key].as_str().unwrap_or("").to_string()
}

/// The output of an op that succeeded with nothing to say.
fn ok() -> Value {
    object! { "ok" => true }
}

/// Makes a host function's refusal the call's output.
fn refusal(e: Error) -> Result<Value, Error> {
    Ok(object! { "error" => object! { "code" => e.code, "message" => e.message } })
}
