//! notes: keeps notes for the caller in its KV namespace (one per
//! principal), append-only until cleared. It is the same tool as the Go
//! SDK's plugins/notes: manifest, key scheme, events and error messages.
//!
//! Each note is its own key, written once and never read back to be
//! changed, so calls that add at the same time cannot lose each other's
//! notes: "note/", a zero-padded sequence number one past the last note's,
//! "-" and a random suffix, so that two calls which pick the same number
//! still write different keys. Keys sort in the order notes were added.
//!
//! Build: make examples (cargo build --release --target wasm32-wasi --example notes)

use capstream::json::{self, FromJson, Map, Value};
use capstream::{Call, Error};

capstream::tool! {
    manifest: MANIFEST,
    run: run,
}

/// The most notes a namespace holds, so that listing them (one host call
/// per note) stays well inside the default host-call limit.
const MAX_NOTES: usize = 200;

/// The start of every note's key.
const PREFIX: &str = "note/";

const MANIFEST: &str = r#"{
    "name": "notes",
    "title": "Notes",
    "description": "Keeps short notes for the caller: add one, list them, or clear them all. Every operation returns the notes, oldest first; at most 200 are kept.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "op": {
                "type": "string",
                "description": "add appends text as a note; list returns the notes; clear deletes them all",
                "enum": ["add", "list", "clear"]
            },
            "text": {
                "type": "string",
                "description": "The note to add (op add only)",
                "minLength": 1,
                "maxLength": 4096
            }
        },
        "required": ["op"],
        "additionalProperties": false
    },
    "annotations": {"destructiveHint": true, "openWorldHint": false},
    "needs": {"kv": {"write": true}}
}"#;

/// What notes takes.
struct Input {
    op: String,
    text: String,
}

impl FromJson for Input {
    fn from_json(value: Value) -> Result<Input, json::Error> {
        let mut o = Map::from_json(value)?;
        Ok(Input { op: o.take("op")?, text: o.take::<Option<String>>("text")?.unwrap_or_default() })
    }
}

/// The caller's notes, oldest first, after the operation.
struct Output {
    notes: Vec<String>,
}

impl From<Output> for Value {
    fn from(o: Output) -> Value {
        capstream::object! { "notes" => o.notes }
    }
}

fn run(call: &Call, input: Input) -> Result<Output, Error> {
    match input.op.as_str() {
        "add" => add(call, &input.text)?,
        "clear" => clear(call)?,
        "list" => {}
        op => return Err(Error::new(format!("unknown op {:?}: want add, list or clear", op))),
    }
    Ok(Output { notes: list(call)? })
}

fn add(call: &Call, text: &str) -> Result<(), Error> {
    if text.is_empty() {
        return Err(Error::new("op add needs a non-empty text"));
    }
    let keys = call.kv_list(PREFIX).map_err(|e| e.context("listing notes"))?;
    if keys.len() >= MAX_NOTES {
        return Err(Error::new(format!("there are already {} notes; clear them first", MAX_NOTES)));
    }
    let mut seq = 0;
    if let Some(last) = keys.last() {
        let number = last.strip_prefix(PREFIX).unwrap_or(last).split('-').next().unwrap_or("");
        let n: i64 =
            number.parse().map_err(|e| Error::new(format!("reading the last note's key {:?}: {}", last, e)))?;
        seq = n + 1;
    }
    // The host gives fresh random bytes in every call; a generator kept in
    // a static would start from the same state in every instance.
    let mut suffix = [0u8; 8];
    capstream::random(&mut suffix);
    let hex: String = suffix.iter().map(|b| format!("{:02x}", b)).collect();
    let key = format!("{}{:08}-{}", PREFIX, seq, hex);
    call.kv_set(&key, text).map_err(|e| e.context("adding the note"))
}

fn list(call: &Call) -> Result<Vec<String>, Error> {
    let keys = call.kv_list(PREFIX).map_err(|e| e.context("listing notes"))?;
    let mut notes = Vec::with_capacity(keys.len());
    for key in &keys {
        match call.kv_get(key) {
            Ok(v) => notes.push(String::from_utf8_lossy(&v).into_owned()),
            Err(e) if e.code == Error::NOT_FOUND => continue, // cleared meanwhile
            Err(e) => return Err(e.context(format!("reading {}", key))),
        }
    }
    Ok(notes)
}

fn clear(call: &Call) -> Result<(), Error> {
    let keys = call.kv_list(PREFIX).map_err(|e| e.context("listing notes"))?;
    for key in &keys {
        call.kv_delete(key).map_err(|e| e.context(format!("deleting {}", key)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use capstream::testing::Host;

    #[test]
    fn notes() {
        let mut host = Host::new();
        let steps = [
            (r#"{"op":"list"}"#, r#"{"notes":[]}"#),
            (r#"{"op":"add","text":"first"}"#, r#"{"notes":["first"]}"#),
            (r#"{"op":"add","text":"second"}"#, r#"{"notes":["first","second"]}"#),
            (r#"{"op":"list"}"#, r#"{"notes":["first","second"]}"#),
            (r#"{"op":"clear"}"#, r#"{"notes":[]}"#),
            (r#"{"op":"add","text":"again"}"#, r#"{"notes":["again"]}"#),
        ];
        for (input, want) in steps {
            let done = host.call(super::run, input).unwrap();
            assert_eq!(done.output, want, "{}", input);
        }
        let keys: Vec<&String> = host.kv.keys().collect();
        assert_eq!(keys.len(), 1);
        let key = keys[0].as_bytes();
        assert!(key.starts_with(b"note/00000000-") && key.len() == 30, "{:?}", keys[0]);
        assert!(key[14..].iter().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn order() {
        let mut host = Host::new();
        let mut out = String::new();
        for i in 0..12 {
            out = host.call(super::run, &format!(r#"{{"op":"add","text":"{}"}}"#, i)).unwrap().output;
        }
        assert_eq!(out, r#"{"notes":["0","1","2","3","4","5","6","7","8","9","10","11"]}"#);
    }

    #[test]
    fn errors() {
        let cases = [
            (r#"{"op":"add"}"#, "tool_error: op add needs a non-empty text"),
            (r#"{"op":"shred"}"#, r#"tool_error: unknown op "shred": want add, list or clear"#),
        ];
        for (input, want) in cases {
            let failure = Host::new().call(super::run, input).unwrap_err();
            assert_eq!(failure.to_string(), want);
        }

        let mut host = Host::new();
        for i in 0..super::MAX_NOTES {
            host.kv.insert(format!("note/{:08}-0000000000000000", i), b"n".to_vec());
        }
        let failure = host.call(super::run, r#"{"op":"add","text":"one too many"}"#).unwrap_err();
        assert!(failure.message.contains("clear them first"), "{}", failure);

        let mut host = Host::new();
        host.claims.cap.kv.as_mut().unwrap().write = false;
        let failure = host.call(super::run, r#"{"op":"add","text":"x"}"#).unwrap_err();
        assert!(failure.message.starts_with("adding the note: denied: "), "{}", failure);
    }
}
