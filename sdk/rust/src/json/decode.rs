use super::{Error, Map, Value};
use std::collections::BTreeMap;

/// A type that can be decoded from a JSON [`Value`]: a tool's input type
/// implements it (see the [module's example](super)).
///
/// It is implemented for `Value` itself, [`Map`], `String`, `bool`, the
/// integer types (from a number that is an integer in the type's range),
/// `f64` and `f32`, `Option<T>` (null is None), `Vec<T>` and
/// `BTreeMap<String, T>`.
pub trait FromJson: Sized {
    /// Decodes the value, or says why it does not fit.
    fn from_json(value: Value) -> Result<Self, Error>;
}

fn expected(what: &str, found: &Value) -> Error {
    Error::new(format!("expected {}, found {}", what, found.kind()))
}

impl FromJson for Value {
    fn from_json(value: Value) -> Result<Value, Error> {
        Ok(value)
    }
}

impl FromJson for Map {
    fn from_json(value: Value) -> Result<Map, Error> {
        match value {
            Value::Object(m) => Ok(m),
            v => Err(expected("an object", &v)),
        }
    }
}

impl FromJson for String {
    fn from_json(value: Value) -> Result<String, Error> {
        match value {
            Value::String(s) => Ok(s),
            v => Err(expected("a string", &v)),
        }
    }
}

impl FromJson for bool {
    fn from_json(value: Value) -> Result<bool, Error> {
        match value {
            Value::Bool(b) => Ok(b),
            v => Err(expected("a boolean", &v)),
        }
    }
}

impl FromJson for f64 {
    fn from_json(value: Value) -> Result<f64, Error> {
        value.as_f64().ok_or_else(|| expected("a number", &value))
    }
}

impl FromJson for f32 {
    fn from_json(value: Value) -> Result<f32, Error> {
        value.as_f64().map(|f| f as f32).ok_or_else(|| expected("a number", &value))
    }
}

macro_rules! from_json_int {
    ($($t:ty)*) => {$(
        impl FromJson for $t {
            fn from_json(value: Value) -> Result<$t, Error> {
                let n = match &value {
                    Value::Number(n) => n,
                    v => return Err(expected("an integer", v)),
                };
                let fits = if <$t>::MIN == 0 {
                    n.as_u64().and_then(|u| <$t>::try_from(u).ok())
                } else {
                    n.as_i64().and_then(|i| <$t>::try_from(i).ok())
                };
                fits.ok_or_else(|| Error::new(format!(
                    "expected an integer from {} to {}, found {}", <$t>::MIN, <$t>::MAX, n)))
            }
        }
    )*};
}
from_json_int!(i8 i16 i32 i64 isize u8 u16 u32 u64 usize);

/// Null is None; anything else decodes as a `T`.
impl<T: FromJson> FromJson for Option<T> {
    fn from_json(value: Value) -> Result<Option<T>, Error> {
        match value {
            Value::Null => Ok(None),
            v => T::from_json(v).map(Some),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: Value) -> Result<Vec<T>, Error> {
        match value {
            Value::Array(items) => {
                items.into_iter().enumerate().map(|(i, v)| T::from_json(v).map_err(|e| e.at(i))).collect()
            }
            v => Err(expected("an array", &v)),
        }
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(value: Value) -> Result<BTreeMap<String, T>, Error> {
        Map::from_json(value)?
            .into_iter()
            .map(|(k, v)| match T::from_json(v) {
                Ok(t) => Ok((k, t)),
                Err(e) => Err(e.at(k)),
            })
            .collect()
    }
}
