use crate::json::{self, FromJson, Value};
use crate::{sys, Claims, Error, HttpRequest, HttpResponse};
use std::fmt;

/// One call of the tool, handed to its run function. Its methods are the
/// host functions a tool acts through: logs, progress, output chunks,
/// outbound HTTP, the KV namespace and the call's capability.
///
/// Each method is a host call: it counts against the capability's
/// `hostCalls` and `events` limits and emits exactly one `host.*` event,
/// whether it succeeds, fails or is refused. A refusal or failure comes back
/// as an [`Error`] with the host's code and message; the call goes on. A
/// limit ends the call instead: the method does not return, and the call
/// fails with the limit's code (`timeout`, `output_limit`,
/// `host_call_limit`, …).
///
/// Log and progress messages, output chunks and the result together count
/// against the capability's `outputBytes`.
pub struct Call {
    _private: (),
}

/// The severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `debug`
    Debug = 0,
    /// `info`
    Info = 1,
    /// `warn`
    Warn = 2,
    /// `error`
    Error = 3,
}

/// Writes the level's name as events carry it: "debug", "info", "warn" or
/// "error".
impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }
}

impl Call {
    /// Only the SDK makes a Call, for the duration of one run.
    pub(crate) fn new() -> Call {
        Call { _private: () }
    }

    /// Emits a `host.log` event with the level and message. A message over
    /// 64 KiB is refused with [`Error::TOO_LARGE`].
    ///
    /// ```no_run
    /// # use capstream::{Call, Level};
    /// # fn run(call: &Call, name: &str) -> Result<(), capstream::Error> {
    /// call.log(Level::Info, &format!("greeting {}", name))?;
    /// # Ok(()) }
    /// ```
    pub fn log(&self, level: Level, message: &str) -> Result<(), Error> {
        check(unsafe { sys::log(level as i32, message.as_ptr(), message.len()) })
    }

    /// Emits a `host.progress` event. `progress` must increase from one
    /// call to the next ([`Error::INVALID`] otherwise); a `total` of 0 or
    /// less means the total is unknown; an empty message sends none.
    pub fn progress(&self, progress: f64, total: f64, message: &str) -> Result<(), Error> {
        check(unsafe { sys::progress(progress, total, message.as_ptr(), message.len()) })
    }

    /// Emits a `host.output` event: a chunk of partial output, for clients
    /// to show while the tool runs. Chunks are not part of the result.
    pub fn output(&self, chunk: &str) -> Result<(), Error> {
        check(unsafe { sys::output(chunk.as_ptr(), chunk.len()) })
    }

    /// Performs an outbound request through the host and returns its
    /// response, whatever its status.
    ///
    /// The host checks the URL, the method and the address it resolves to
    /// (and every redirect) against the capability: a request it does not
    /// allow is refused with [`Error::DENIED`]; one that fails (connect,
    /// timeout, a response over the size cap) is [`Error::UPSTREAM`].
    ///
    /// ```no_run
    /// # use capstream::{Call, HttpRequest};
    /// # fn run(call: &Call) -> Result<(), capstream::Error> {
    /// let req = HttpRequest::get("https://api.example.com/v1/items")
    ///     .header("Authorization", "Bearer {{secret:API_KEY}}");
    /// let resp = call.http(&req)?;
    /// if resp.status != 200 {
    ///     return Err(format!("the API answered {}", resp.status).into());
    /// }
    /// let items = capstream::json::parse(resp.body.as_bytes())?;
    /// # Ok(()) }
    /// ```
    pub fn http(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
        let mut body = String::new();
        json::write::value(&mut body, &Value::from(request));
        let staged = fetch(unsafe { sys::http(body.as_ptr(), body.len()) })?;
        let response = json::parse(&staged).and_then(HttpResponse::from_json);
        response.map_err(|e| Error::new(format!("capstream: decoding the http response: {}", e)))
    }

    /// Returns the value stored under `key`, or an error with the code
    /// [`Error::NOT_FOUND`] if there is none.
    ///
    /// The KV namespace is chosen by the host, one per caller per tool.
    /// Keys are UTF-8, 1 to 1024 bytes; values at most 1 MiB. The tool's
    /// manifest must declare `"needs": {"kv": {…}}`, with `"write": true`
    /// for `kv_set` and `kv_delete`.
    pub fn kv_get(&self, key: &str) -> Result<Vec<u8>, Error> {
        fetch(unsafe { sys::kv_get(key.as_ptr(), key.len()) })
    }

    /// Stores `value` under `key`. It fails with [`Error::QUOTA`] when the
    /// namespace would exceed its quota and [`Error::STORAGE`] when the
    /// host's store failed; either way nothing was written.
    pub fn kv_set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        let value = value.as_ref();
        check(unsafe { sys::kv_set(key.as_ptr(), key.len(), value.as_ptr(), value.len()) })
    }

    /// Deletes `key`; deleting an absent key is not an error.
    pub fn kv_delete(&self, key: &str) -> Result<(), Error> {
        check(unsafe { sys::kv_delete(key.as_ptr(), key.len()) })
    }

    /// Returns the keys that start with `prefix`, sorted, at most 1000 of
    /// them; an empty prefix lists the whole namespace.
    pub fn kv_list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let staged = fetch(unsafe { sys::kv_list(prefix.as_ptr(), prefix.len()) })?;
        json::parse(&staged)
            .and_then(FromJson::from_json)
            .map_err(|e| Error::new(format!("capstream: decoding the kv list: {}", e)))
    }

    /// Returns the call's capability claims: who called, and what the call
    /// may do. Reading them widens nothing; the host enforces the capability
    /// it bound to the call.
    pub fn capability(&self) -> Result<Claims, Error> {
        let staged = fetch(unsafe { sys::capability() })?;
        json::parse(&staged)
            .and_then(Claims::from_json)
            .map_err(|e| Error::new(format!("capstream: decoding the claims: {}", e)))
    }
}

/// Returns the error for a host function's negative result.
fn check(rc: i32) -> Result<(), Error> {
    if rc < 0 {
        Err(host_error(rc))
    } else {
        Ok(())
    }
}

/// Returns the bytes a host function staged (`n >= 0` of them), or its
/// error.
pub(crate) fn fetch(n: i32) -> Result<Vec<u8>, Error> {
    if n < 0 {
        return Err(host_error(n));
    }
    read_staged(n as usize)
}

/// Reads the n staged bytes.
fn read_staged(n: usize) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::with_capacity(n);
    if n > 0 {
        let got = unsafe { sys::read(buf.as_mut_ptr(), n) };
        if got < 0 || got as usize != n {
            return Err(Error::new(format!("capstream: the host staged {} bytes but read returned {}", n, got)));
        }
        // The host wrote n bytes.
        unsafe { buf.set_len(n) };
    }
    Ok(buf)
}

/// Returns the error with code and the message the host staged for it.
pub(crate) fn host_error(code: i32) -> Error {
    let mut buf = [0u8; sys::MAX_ERROR_MESSAGE];
    let n = unsafe { sys::read(buf.as_mut_ptr(), buf.len()) };
    let n = if n < 0 { 0 } else { (n as usize).min(buf.len()) };
    Error { code, message: String::from_utf8_lossy(&buf[..n]).into_owned() }
}
