//! A small JSON layer, enough for a tool's input and output: a [`Value`]
//! tree whose objects keep their members in order ([`Map`]), a strict
//! [parser](parse()) and a compact writer (`Display`, so `value.to_string()`), and
//! [`FromJson`] to decode a value into a type of yours.
//!
//! ```
//! use capstream::json::{self, Value};
//!
//! let v: Value = r#"{"name": "Ada", "tags": ["x", "y"], "n": 3.0}"#.parse()?;
//! assert_eq!(v["name"].as_str(), Some("Ada"));
//! assert_eq!(v["tags"][1].as_str(), Some("y"));
//! assert_eq!(v["missing"], Value::Null);
//! // Integers are written without a fraction, members in their order.
//! assert_eq!(v.to_string(), r#"{"name":"Ada","tags":["x","y"],"n":3}"#);
//!
//! let out = capstream::object! { "greeting" => "Hello, Ada!", "count" => 2 };
//! assert_eq!(out.to_string(), r#"{"greeting":"Hello, Ada!","count":2}"#);
//! # Ok::<(), json::Error>(())
//! ```
//!
//! Decoding a struct is a [`FromJson`] implementation that takes its
//! members out of the object one by one with [`Map::take`]:
//!
//! ```
//! use capstream::json::{self, FromJson, Map, Value};
//!
//! struct Input {
//!     text: String,
//!     times: Option<u32>,
//! }
//!
//! impl FromJson for Input {
//!     fn from_json(value: Value) -> Result<Self, json::Error> {
//!         let mut o = Map::from_json(value)?;
//!         Ok(Input { text: o.take("text")?, times: o.take("times")? })
//!     }
//! }
//!
//! let input: Input = json::from_str(r#"{"text":"hi"}"#)?;
//! assert_eq!((input.text.as_str(), input.times), ("hi", None));
//! let err = json::from_str::<Input>(r#"{"text":7}"#).err().unwrap();
//! assert_eq!(err.to_string(), "text: expected a string, found a number");
//! # Ok::<(), json::Error>(())
//! ```
//!
//! Encoding is `From<YourType> for Value`, usually with [`object!`](crate::object).
//!
//! The parser takes exactly RFC 8259 JSON in UTF-8 and refuses anything
//! else (trailing commas, comments, bad UTF-8) with an [`Error`]. Escaped
//! surrogate pairs become their character, and an escaped lone surrogate
//! becomes U+FFFD, as Go's `encoding/json` does. Values nest at most
//! [`MAX_DEPTH`] deep. Of members with the same key, the last one's value is
//! kept, in the first one's place. Numbers keep integers exact (up to 64
//! bits) and the rest as `f64`.

mod decode;
mod map;
mod parse;
mod value;
pub(crate) mod write;

pub use decode::FromJson;
pub use map::Map;
pub use parse::{parse, MAX_DEPTH};
pub use value::{Number, Value};

use std::fmt;

/// Parses `s` and decodes it as a `T`.
pub fn from_str<T: FromJson>(s: &str) -> Result<T, Error> {
    T::from_json(parse(s.as_bytes())?)
}

/// A JSON error: a parse error, or a value that does not decode as a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    path: String,
    message: String,
}

impl Error {
    /// Returns an error with the message.
    pub fn new(message: impl Into<String>) -> Error {
        Error { path: String::new(), message: message.into() }
    }

    /// Returns the error as met inside the member or element `at` of an
    /// enclosing value: its text gains `at.` (or `at: `) in front, so
    /// that the text names the path to the bad value, as in
    /// `items.3.name: expected a string, found null`.
    pub fn at(mut self, at: impl fmt::Display) -> Error {
        self.path = if self.path.is_empty() { at.to_string() } else { format!("{}.{}", at, self.path) };
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Error {}

/// Builds a [`Value::Object`] from `key => value` pairs, in their order;
/// each value is anything with `Into<Value>`, including another `object!`.
///
/// ```
/// let code = -1;
/// let v = capstream::object! {
///     "error" => capstream::object! { "code" => code, "message" => "no" },
///     "tags" => vec!["a", "b"],
///     "none" => None::<String>,
/// };
/// assert_eq!(v.to_string(), r#"{"error":{"code":-1,"message":"no"},"tags":["a","b"],"none":null}"#);
/// ```
#[macro_export]
macro_rules! object {
    ($($key:expr => $value:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut map = $crate::json::Map::new();
        $( map.insert($key, $value); )*
        $crate::json::Value::Object(map)
    }};
}

#[cfg(test)]
mod tests;
