use super::value::N;
use super::{Number, Value};
use std::fmt::Write;

/// Appends v to out as compact JSON.
pub(crate) fn value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => number(out, n),
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, k);
                out.push(':');
                value(out, v);
            }
            out.push('}');
        }
    }
}

/// Appends n to out: an integer with its digits only (an integral float
/// too, up to 1e21), other floats in the shortest form that reads back the
/// same, with an exponent when very large or small.
pub(crate) fn number(out: &mut String, n: &Number) {
    // Writing to a String cannot fail.
    let _ = match n.0 {
        N::PosInt(u) => write!(out, "{}", u),
        N::NegInt(i) => write!(out, "{}", i),
        N::Float(f) => {
            let a = f.abs();
            if a != 0.0 && !(1e-6..1e21).contains(&a) {
                write!(out, "{:e}", f)
            } else {
                write!(out, "{}", f)
            }
        }
    };
}

/// Appends s to out as a JSON string: quotes, backslashes and control
/// characters escaped, everything else as it is.
pub(crate) fn string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut run = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        run = i + 1;
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[run..]);
    out.push('"');
}
