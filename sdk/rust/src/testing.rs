//! An in-memory capstream host, to test a tool natively with `cargo test`
//! (this module exists only when the crate is not built for `wasm32`).
//!
//! [`Host::call`] runs a tool's run function the way the `capstream_run`
//! export does, against a host that checks arguments, grants and limits as
//! the runtime does, and returns the events the call would stream:
//!
//! ```
//! use capstream::testing::Host;
//! use capstream::json::Value;
//! use capstream::{Call, Error, Level};
//!
//! fn run(call: &Call, input: Value) -> Result<Value, Error> {
//!     let name = input["name"].as_str().unwrap_or("nobody");
//!     call.log(Level::Info, &format!("greeting {}", name))?;
//!     call.kv_set("last", name)?;
//!     Ok(capstream::object! { "greeting" => format!("Hello, {}!", name) })
//! }
//!
//! let mut host = Host::new();
//! let done = host.call(run, r#"{"name":"Ada"}"#).unwrap();
//! assert_eq!(done.output, r#"{"greeting":"Hello, Ada!"}"#);
//! assert_eq!(done.events[0].to_string(), r#"host.log {"level":"info","message":"greeting Ada"}"#);
//! assert_eq!(host.kv["last"], b"Ada");
//! ```
//!
//! The fake host does not validate inputs against the tool's schema, match
//! URLs against HTTP rules, measure memory or time, or fill in secrets; a
//! test against the runtime covers those. Natively, host functions take
//! any pointer the tool gives them: the `abi_violation` checks of a bad
//! pointer exist only in the runtime.

use crate::json::{self, FromJson, Map, Value};
use crate::{Claims, Error, Grants, Handler, HttpRequest, HttpResponse, HttpRule, KvGrant, Limits};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

/// The upstream of a [`Host`]'s outbound requests. Return an [`Error`]
/// with [`Error::DENIED`] to refuse a request, or any other error for a
/// request that failed (the tool sees [`Error::UPSTREAM`]).
pub type HttpFn = Box<dyn FnMut(&HttpRequest) -> Result<HttpResponse, Error>>;

/// An in-memory host. Its KV namespace persists across calls.
pub struct Host {
    /// The capability every call gets; [`default_claims`] by default.
    pub claims: Claims,
    /// The namespace's content, which calls read and change: seed it before
    /// a call, inspect it after.
    pub kv: BTreeMap<String, Vec<u8>>,
    /// Answers the tool's outbound requests (with the method defaulted to
    /// GET); None refuses every request.
    pub http: Option<HttpFn>,
}

impl Default for Host {
    fn default() -> Host {
        Host::new()
    }
}

/// The claims a [`Host`] gives its calls by default: subject `tester` with
/// role `tester`, any HTTP, KV read and write with a 1 MiB quota, and the
/// runtime's default limits (30 s, 64 MiB of memory, 1 MiB of output, 1000
/// events, 500 host calls).
pub fn default_claims() -> Claims {
    let digest = format!("sha256:{}", "0".repeat(64));
    Claims {
        issuer: "capstream".into(),
        subject: "tester".into(),
        audience: vec!["tool".into(), digest.clone()],
        expires_at: 1_767_225_630,
        issued_at: 1_767_225_600,
        id: "testing-call".into(),
        roles: vec!["tester".into()],
        digest,
        cap: Grants {
            http: vec![HttpRule { url: "*".into(), methods: vec!["*".into()], ..HttpRule::default() }],
            kv: Some(KvGrant { namespace: "tool/tester".into(), read: true, write: true, quota: 1 << 20 }),
            limits: Limits {
                timeout_ms: 30_000,
                memory_bytes: 64 << 20,
                output_bytes: 1 << 20,
                events: 1000,
                host_calls: 500,
            },
        },
    }
}

/// A call that completed.
#[derive(Clone, Debug)]
pub struct Completed {
    /// The result as the tool set it (`null` if it set none).
    pub output: String,
    /// The call's host events, in order.
    pub events: Vec<Event>,
}

impl Completed {
    /// Returns the result parsed.
    pub fn value(&self) -> Value {
        json::parse(self.output.as_bytes()).unwrap_or(Value::Null)
    }
}

/// A call that failed, with the code the runtime would report:
/// `tool_error`, `trap`, `output_limit` or `host_call_limit`.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The failure code.
    pub code: String,
    /// The tool's error message, the panic's message, or the limit's.
    pub message: String,
    /// The call's host events, in order.
    pub events: Vec<Event>,
}

/// Writes `code: message`.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Failure {}

/// One `host.*` event of a call, as the runtime would stream it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The event type: `host.log`, `host.progress`, `host.output`,
    /// `host.http`, `host.kv` or `host.capability`.
    pub kind: String,
    /// The event's data. A refused host call's carries
    /// `"denied": {"grant", "reason"}`, a failed one's
    /// `"error": {"code", "message"}`.
    pub data: Value,
}

/// Writes the type and the data: `host.log {"level":"info","message":"hi"}`.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.data)
    }
}

impl Host {
    /// Returns a host with [`default_claims`], an empty namespace and no
    /// HTTP upstream.
    pub fn new() -> Host {
        Host { claims: default_claims(), kv: BTreeMap::new(), http: None }
    }

    /// Runs one call of `run` (a function [`tool!`](crate::tool!) accepts)
    /// with `input`, a JSON object, as the `capstream_run` export would,
    /// and returns how it ended.
    ///
    /// # Panics
    ///
    /// If `input` is not a JSON object, or if called from inside a call.
    pub fn call<T, H: Handler<T>>(&mut self, run: H, input: &str) -> Result<Completed, Failure> {
        match json::parse(input.as_bytes()) {
            Ok(Value::Object(_)) => {}
            _ => panic!("capstream::testing: the input is not a JSON object: {}", input),
        }
        let state = State {
            claims: self.claims.clone(),
            kv: std::mem::take(&mut self.kv),
            http: self.http.take(),
            input: input.as_bytes().to_vec(),
            staged: Vec::new(),
            output: None,
            error: String::new(),
            events: Vec::new(),
            calls: 0,
            sent: 0,
            progress: None,
        };
        CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            assert!(c.is_none(), "capstream::testing: Host::call inside a call");
            *c = Some(state);
        });
        let rc = panic::catch_unwind(AssertUnwindSafe(|| crate::__private::run(run)));
        let state = CURRENT.with(|c| c.borrow_mut().take()).expect("the call's state");
        self.kv = state.kv;
        self.http = state.http;
        let events = state.events;
        let (code, message) = match rc {
            Ok(0) => {
                let output = state.output.unwrap_or_else(|| b"null".to_vec());
                let output = String::from_utf8_lossy(&output).into_owned();
                return Ok(Completed { output, events });
            }
            Ok(_) => ("tool_error".to_string(), state.error),
            Err(payload) => match payload.downcast::<EndCall>() {
                Ok(end) => (end.code.to_string(), end.message),
                Err(payload) => ("trap".to_string(), panic_message(&*payload)),
            },
        };
        Err(Failure { code, message, events })
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the tool panicked".to_string()
    }
}

/// Checks a manifest as the runtime does when it loads a tool, in part: it
/// is a JSON object with only the members sdk/ABI.md lists, a valid `name`,
/// and an `inputSchema` of type object. It returns the manifest parsed, or
/// what is wrong.
///
/// ```
/// let m = capstream::testing::check_manifest(r#"{"name": "hello", "inputSchema": {"type": "object"}}"#)?;
/// assert_eq!(m["name"].as_str(), Some("hello"));
/// assert!(capstream::testing::check_manifest(r#"{"name": "Hello", "inputSchema": {"type": "object"}}"#).is_err());
/// # Ok::<(), String>(())
/// ```
pub fn check_manifest(manifest: &str) -> Result<Value, String> {
    let v = json::parse(manifest.as_bytes()).map_err(|e| e.to_string())?;
    let m = v.as_object().ok_or("the manifest is not a JSON object")?;
    const MEMBERS: [&str; 7] = ["name", "title", "description", "inputSchema", "outputSchema", "annotations", "needs"];
    if let Some(k) = m.keys().find(|k| !MEMBERS.contains(k)) {
        return Err(format!("unknown member {:?}", k));
    }
    let name = v["name"].as_str().unwrap_or("");
    let valid = name.len() <= 64
        && name.bytes().next().map_or(false, |c| c.is_ascii_lowercase())
        && name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
    if !valid {
        return Err(format!("name {:?} must match ^[a-z][a-z0-9_-]{{0,63}}$", name));
    }
    for key in ["title", "description"] {
        if !matches!(v[key], Value::Null | Value::String(_)) {
            return Err(format!("{} is not a string", key));
        }
    }
    if v["inputSchema"]["type"].as_str() != Some("object") {
        return Err("inputSchema must be a JSON Schema of type object".into());
    }
    Ok(v)
}

/// The panic payload with which a host function ends a call at a limit.
struct EndCall {
    code: &'static str,
    message: String,
}

fn end(code: &'static str, message: String) -> ! {
    panic::resume_unwind(Box::new(EndCall { code, message }))
}

thread_local! {
    static CURRENT: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// The host side of one call.
struct State {
    claims: Claims,
    kv: BTreeMap<String, Vec<u8>>,
    http: Option<HttpFn>,
    input: Vec<u8>,
    staged: Vec<u8>,
    output: Option<Vec<u8>>,
    error: String,
    events: Vec<Event>,
    calls: i64,
    sent: i64,
    progress: Option<f64>,
}

const MAX_MESSAGE: usize = 64 << 10;
const MAX_TOOL_ERROR: usize = 4 << 10;
const MAX_KEY: usize = 1024;
const MAX_VALUE: usize = 1 << 20;
const MAX_LISTED_KEYS: usize = 1000;

impl State {
    fn stage(&mut self, b: Vec<u8>) -> i32 {
        let n = b.len() as i32;
        self.staged = b;
        n
    }

    fn refuse(&mut self, code: i32, msg: &str) -> i32 {
        let mut b = msg.as_bytes().to_vec();
        b.truncate(crate::sys::MAX_ERROR_MESSAGE);
        self.staged = b;
        code
    }

    /// Counts a host call, ending the call at the host-call or event limit.
    fn act(&mut self) {
        self.calls += 1;
        let lim = &self.claims.cap.limits;
        if lim.host_calls > 0 && self.calls > lim.host_calls {
            end("host_call_limit", format!("more than {} host calls", lim.host_calls));
        }
        if lim.events > 0 && self.events.len() as i64 >= lim.events {
            end("output_limit", format!("more than {} events", lim.events));
        }
    }

    /// Counts n bytes sent to the caller, ending the call when they and a
    /// result of `result` bytes pass the output limit.
    fn send(&mut self, n: usize, result: usize) {
        self.sent += n as i64;
        let lim = self.claims.cap.limits.output_bytes;
        if lim > 0 && self.sent + result as i64 > lim {
            end("output_limit", format!("output is over {} bytes", lim));
        }
    }

    fn result_len(&self) -> usize {
        self.output.as_ref().map_or(0, Vec::len)
    }

    fn emit(&mut self, kind: &str, data: Map) {
        self.events.push(Event { kind: kind.to_string(), data: Value::Object(data) });
    }

    /// Records a refused or failed host call and stages its message.
    fn fail(&mut self, kind: &str, mut data: Map, code: i32, msg: &str) -> i32 {
        if code == Error::DENIED {
            data.insert("denied", crate::object! { "grant" => kind.trim_start_matches("host."), "reason" => msg });
        } else {
            data.insert("error", crate::object! { "code" => Error::name_of(code), "message" => msg });
        }
        self.emit(kind, data);
        self.refuse(code, msg)
    }

    /// Checks a KV host call's grant and key; Err is the refusal, recorded.
    fn check_kv(&mut self, op: &str, key: &[u8], write: bool) -> Result<Map, i32> {
        let mut data = Map::new();
        data.insert("op", op);
        data.insert("key", String::from_utf8_lossy(key).into_owned());
        let grant = self.claims.cap.kv.clone();
        let refusal = match grant {
            None => Some((Error::DENIED, "the capability grants no key-value storage")),
            Some(g) if write && !g.write => Some((Error::DENIED, "the capability grants read-only key-value storage")),
            Some(_) if key.is_empty() && op != "list" => Some((Error::INVALID, "the key is empty")),
            Some(_) if key.len() > MAX_KEY => {
                data.insert("key", "");
                Some((Error::TOO_LARGE, "a key is at most 1024 bytes"))
            }
            Some(_) if std::str::from_utf8(key).is_err() => Some((Error::INVALID, "the key is not UTF-8")),
            Some(_) => None,
        };
        match refusal {
            Some((code, msg)) => Err(self.fail("host.kv", data, code, msg)),
            None => Ok(data),
        }
    }
}

/// Runs f on the current call's state.
fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let state =
            c.as_mut().expect("capstream: natively, host functions work only inside capstream::testing::Host::call");
        f(state)
    })
}

/// Returns the len bytes at ptr.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The functions of [`sys`](crate::sys) when the crate is built natively:
/// the host side of the ABI, against the current [`Host::call`]. Their
/// documentation is that of the wasm32 imports, which `sys` shows.
#[allow(missing_docs, clippy::missing_safety_doc)]
pub(crate) mod imports {
    use super::*;

    pub unsafe fn input() -> i32 {
        with(|s| {
            let input = s.input.clone();
            s.stage(input)
        })
    }

    pub unsafe fn read(ptr: *mut u8, len: usize) -> i32 {
        with(|s| {
            let n = len.min(s.staged.len());
            std::ptr::copy_nonoverlapping(s.staged.as_ptr(), ptr, n);
            n as i32
        })
    }

    pub unsafe fn set_output(ptr: *const u8, len: usize) -> i32 {
        let b = bytes(ptr, len);
        with(|s| {
            if json::parse(b).is_err() {
                return s.refuse(Error::INVALID, "the output is not JSON");
            }
            s.send(0, b.len());
            s.output = Some(b.to_vec());
            0
        })
    }

    pub unsafe fn set_error(ptr: *const u8, len: usize) -> i32 {
        let b = bytes(ptr, len);
        with(|s| {
            s.error = text(&b[..b.len().min(MAX_TOOL_ERROR)]);
            0
        })
    }

    pub unsafe fn log(level: i32, ptr: *const u8, len: usize) -> i32 {
        let msg = bytes(ptr, len);
        with(|s| {
            s.act();
            let mut data = Map::new();
            let name = match level {
                0 => "debug",
                1 => "info",
                2 => "warn",
                3 => "error",
                _ => return s.fail("host.log", data, Error::INVALID, &format!("unknown log level {}", level)),
            };
            data.insert("level", name);
            if msg.len() > MAX_MESSAGE {
                return s.fail("host.log", data, Error::TOO_LARGE, "a log message is at most 65536 bytes");
            }
            let result = s.result_len();
            s.send(msg.len(), result);
            data.insert("message", text(msg));
            s.emit("host.log", data);
            0
        })
    }

    pub unsafe fn progress(progress: f64, total: f64, ptr: *const u8, len: usize) -> i32 {
        let msg = bytes(ptr, len);
        with(|s| {
            s.act();
            let data = Map::new();
            if !progress.is_finite() || !total.is_finite() {
                return s.fail("host.progress", data, Error::INVALID, "progress and total must be finite numbers");
            }
            if let Some(last) = s.progress {
                if progress <= last {
                    let msg = format!("progress {} does not increase from {}", progress, last);
                    return s.fail("host.progress", data, Error::INVALID, &msg);
                }
            }
            if msg.len() > MAX_MESSAGE {
                return s.fail("host.progress", data, Error::INVALID, "a progress message is at most 65536 bytes");
            }
            let result = s.result_len();
            s.send(msg.len(), result);
            s.progress = Some(progress);
            let mut data = data;
            data.insert("progress", progress);
            if total > 0.0 {
                data.insert("total", total);
            }
            if !msg.is_empty() {
                data.insert("message", text(msg));
            }
            s.emit("host.progress", data);
            0
        })
    }

    pub unsafe fn output(ptr: *const u8, len: usize) -> i32 {
        let chunk = bytes(ptr, len);
        with(|s| {
            s.act();
            let result = s.result_len();
            s.send(chunk.len(), result);
            let mut data = Map::new();
            data.insert("chunk", text(chunk));
            s.emit("host.output", data);
            0
        })
    }

    pub unsafe fn http(ptr: *const u8, len: usize) -> i32 {
        let body = bytes(ptr, len);
        with(|s| {
            s.act();
            let req = match json::parse(body).and_then(request) {
                Ok(req) => req,
                Err(e) => {
                    return s.fail("host.http", Map::new(), Error::INVALID, &format!("the request is not valid: {}", e))
                }
            };
            let mut data = Map::new();
            data.insert("method", req.method.as_str());
            data.insert("url", req.url.split(['?', '#']).next().unwrap_or(""));
            if !(req.url.starts_with("http://") || req.url.starts_with("https://")) {
                let msg = format!("{:?} is not an absolute http or https URL", req.url);
                return s.fail("host.http", data, Error::INVALID, &msg);
            }
            if s.claims.cap.http.is_empty() {
                return s.fail("host.http", data, Error::DENIED, "no outbound HTTP is granted");
            }
            let upstream = match s.http.as_mut() {
                Some(f) => f(&req),
                None => return s.fail("host.http", data, Error::DENIED, "the testing::Host has no HTTP upstream"),
            };
            let mut resp = match upstream {
                Ok(resp) => resp,
                Err(e) if e.code < 0 => return s.fail("host.http", data, e.code, &e.message),
                Err(e) => return s.fail("host.http", data, Error::UPSTREAM, &e.to_string()),
            };
            if resp.url.is_empty() {
                resp.url = req.url.clone();
            }
            data.insert("status", resp.status);
            data.insert("bytes", resp.body.len());
            s.emit("host.http", data);
            s.stage(Value::from(&resp).to_string().into_bytes())
        })
    }

    /// Decodes the http host function's request, with the method defaulted
    /// to GET.
    fn request(v: Value) -> Result<HttpRequest, json::Error> {
        let mut m = Map::from_json(v)?;
        let method: Option<String> = m.take("method")?;
        Ok(HttpRequest {
            method: method.filter(|m| !m.is_empty()).unwrap_or_else(|| "GET".into()),
            url: m.take("url")?,
            headers: m.take::<Option<_>>("headers")?.unwrap_or_default(),
            body: m.take::<Option<_>>("body")?.unwrap_or_default(),
        })
    }

    pub unsafe fn kv_get(kptr: *const u8, klen: usize) -> i32 {
        let key = bytes(kptr, klen);
        with(|s| {
            s.act();
            let mut data = match s.check_kv("get", key, false) {
                Ok(data) => data,
                Err(rc) => return rc,
            };
            match s.kv.get(&text(key)).cloned() {
                None => {
                    data.insert("hit", false);
                    s.emit("host.kv", data);
                    s.refuse(Error::NOT_FOUND, "no such key")
                }
                Some(v) => {
                    data.insert("hit", true);
                    data.insert("bytes", v.len());
                    s.emit("host.kv", data);
                    s.stage(v)
                }
            }
        })
    }

    pub unsafe fn kv_set(kptr: *const u8, klen: usize, vptr: *const u8, vlen: usize) -> i32 {
        let key = bytes(kptr, klen);
        let value = bytes(vptr, vlen);
        with(|s| {
            s.act();
            let mut data = match s.check_kv("set", key, true) {
                Ok(data) => data,
                Err(rc) => return rc,
            };
            data.insert("bytes", value.len());
            if value.len() > MAX_VALUE {
                return s.fail("host.kv", data, Error::TOO_LARGE, "a value is at most 1048576 bytes");
            }
            let key = text(key);
            let quota = s.claims.cap.kv.as_ref().map_or(0, |g| g.quota);
            if quota > 0 {
                let others: usize = s.kv.iter().filter(|(k, _)| **k != key).map(|(k, v)| k.len() + v.len()).sum();
                let used = (others + key.len() + value.len()) as i64;
                if used > quota {
                    let msg = format!("the namespace would hold {} bytes, over its quota of {}", used, quota);
                    return s.fail("host.kv", data, Error::QUOTA, &msg);
                }
            }
            s.kv.insert(key, value.to_vec());
            s.emit("host.kv", data);
            0
        })
    }

    pub unsafe fn kv_delete(kptr: *const u8, klen: usize) -> i32 {
        let key = bytes(kptr, klen);
        with(|s| {
            s.act();
            let mut data = match s.check_kv("delete", key, true) {
                Ok(data) => data,
                Err(rc) => return rc,
            };
            let existed = s.kv.remove(&text(key)).is_some();
            data.insert("hit", existed);
            s.emit("host.kv", data);
            0
        })
    }

    pub unsafe fn kv_list(pptr: *const u8, plen: usize) -> i32 {
        let prefix = bytes(pptr, plen);
        with(|s| {
            s.act();
            let mut data = match s.check_kv("list", prefix, false) {
                Ok(data) => data,
                Err(rc) => return rc,
            };
            let prefix = text(prefix);
            let keys: Vec<&str> =
                s.kv.keys().filter(|k| k.starts_with(&prefix)).take(MAX_LISTED_KEYS).map(String::as_str).collect();
            let staged = Value::from(keys.as_slice()).to_string().into_bytes();
            data.insert("count", keys.len());
            s.emit("host.kv", data);
            s.stage(staged)
        })
    }

    pub unsafe fn capability() -> i32 {
        with(|s| {
            s.act();
            let claims = Value::from(&s.claims).to_string().into_bytes();
            let mut data = Map::new();
            data.insert("bytes", claims.len());
            s.emit("host.capability", data);
            s.stage(claims)
        })
    }

    /// Fills the buffer from the standard library's randomly seeded hasher.
    pub unsafe fn random_get(ptr: *mut u8, len: usize) -> i32 {
        use std::collections::hash_map::RandomState;
        use std::hash::{BuildHasher, Hasher};
        if len == 0 {
            return 0;
        }
        let buf = std::slice::from_raw_parts_mut(ptr, len);
        for chunk in buf.chunks_mut(8) {
            let n = RandomState::new().build_hasher().finish();
            chunk.copy_from_slice(&n.to_le_bytes()[..chunk.len()]);
        }
        0
    }
}
