use std::fmt;

/// An error: a host function's refusal or failure, or the tool's own.
///
/// A host function that fails returns an `Error` whose `code` is the ABI's
/// negative number ([`Error::DENIED`] … [`Error::STORAGE`]) and whose
/// `message` is the text the host staged with it. A refusal is data, not a
/// crash: the call goes on, and the tool decides what to do.
///
/// ```
/// use capstream::{Call, Error};
///
/// fn count(call: &Call) -> Result<u64, Error> {
///     match call.kv_get("count") {
///         Ok(v) => Ok(String::from_utf8_lossy(&v).parse().unwrap_or(0)),
///         Err(e) if e.code == Error::NOT_FOUND => Ok(0), // the first time
///         Err(e) => Err(e.context("reading count")),
///     }
/// }
/// ```
///
/// An error the tool makes itself ([`Error::new`], or a `String` or `&str`
/// converted with `into()`) has the code [`Error::TOOL`]. Returned from the
/// run function, any error fails the call with `tool_error` and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The ABI's error code (negative), or [`Error::TOOL`].
    pub code: i32,
    /// For people; may be empty.
    pub message: String,
}

impl Error {
    /// `denied`: the call's capability does not grant this.
    pub const DENIED: i32 = -1;
    /// `not_found`: no such key.
    pub const NOT_FOUND: i32 = -2;
    /// `invalid`: a malformed argument (bad JSON, an empty key, an unknown
    /// log level, progress not increasing).
    pub const INVALID: i32 = -3;
    /// `quota`: the KV write would exceed the namespace's quota.
    pub const QUOTA: i32 = -4;
    /// `upstream`: the outbound request failed (connect, timeout, a response
    /// larger than the cap).
    pub const UPSTREAM: i32 = -5;
    /// `too_large`: an argument is larger than the host accepts.
    pub const TOO_LARGE: i32 = -6;
    /// `storage`: the host's store failed; nothing was written.
    pub const STORAGE: i32 = -7;
    /// An error of the tool's own, not a host function's.
    pub const TOOL: i32 = 1;

    /// Returns the tool's own error with the message.
    pub fn new(message: impl Into<String>) -> Error {
        Error { code: Error::TOOL, message: message.into() }
    }

    /// Returns the name of a code as sdk/ABI.md writes it: `"denied"`,
    /// `"not_found"`, … `"storage"`, `"tool"` for [`Error::TOOL`], and
    /// `"unknown"` for any other.
    pub fn name_of(code: i32) -> &'static str {
        match code {
            Error::DENIED => "denied",
            Error::NOT_FOUND => "not_found",
            Error::INVALID => "invalid",
            Error::QUOTA => "quota",
            Error::UPSTREAM => "upstream",
            Error::TOO_LARGE => "too_large",
            Error::STORAGE => "storage",
            Error::TOOL => "tool",
            _ => "unknown",
        }
    }

    /// Returns the tool's own error that says what failed, followed by this
    /// error: `Error::new(format!("{}: {}", what, self))`.
    ///
    /// ```
    /// # use capstream::Error;
    /// let e = Error { code: Error::DENIED, message: "no kv grant".into() };
    /// assert_eq!(e.context("adding the note").to_string(), "adding the note: denied: no kv grant");
    /// ```
    pub fn context(self, what: impl fmt::Display) -> Error {
        Error::new(format!("{}: {}", what, self))
    }
}

/// The message of the tool's own error; for a host function's, the code's
/// name and the message, as in `denied: url is not in the allowlist`.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code == Error::TOOL {
            return f.write_str(&self.message);
        }
        match Error::name_of(self.code) {
            "unknown" => write!(f, "error {}", self.code)?,
            name => f.write_str(name)?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::new(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::new(message)
    }
}

impl From<crate::json::Error> for Error {
    fn from(e: crate::json::Error) -> Error {
        Error::new(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn display() {
        let cases = [
            (
                Error { code: Error::DENIED, message: "url is not in the allowlist".into() },
                "denied: url is not in the allowlist",
            ),
            (Error { code: Error::NOT_FOUND, message: String::new() }, "not_found"),
            (Error { code: -42, message: "odd".into() }, "error -42: odd"),
            (Error::new("op add needs a non-empty text"), "op add needs a non-empty text"),
            (Error::from("x").context("outer"), "outer: x"),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }

    #[test]
    fn names() {
        let want = ["denied", "not_found", "invalid", "quota", "upstream", "too_large", "storage"];
        for (i, name) in want.iter().enumerate() {
            assert_eq!(Error::name_of(-(i as i32) - 1), *name);
        }
    }
}
