use super::value::N;
use super::{Error, Map, Number, Value};

/// The deepest nesting of arrays and objects [`parse`] accepts. Parsing
/// keeps its place in the heap, but writing, comparing and dropping a value
/// recurse, one call per level.
pub const MAX_DEPTH: usize = 512;

/// Parses one JSON value, with white space around it and nothing else.
///
/// ```
/// # use capstream::json::{self, Value};
/// let v = json::parse(br#" ["\ud83c\udf0d", -3e2, 18446744073709551615] "#)?;
/// assert_eq!(v[0].as_str(), Some("🌍"));
/// assert_eq!(v[1].as_f64(), Some(-300.0));
/// assert_eq!(v[2].as_u64(), Some(u64::MAX));
/// assert!(json::parse(b"[1,]").is_err());
/// # Ok::<(), json::Error>(())
/// ```
pub fn parse(input: &[u8]) -> Result<Value, Error> {
    let mut p = Parser { b: input, i: 0 };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("data after the value"));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

/// An array or object being parsed: its values so far, and an object's
/// key of the value being parsed.
enum Open {
    Array(Vec<Value>),
    Object(Vec<(String, Value)>, String),
}

impl<'a> Parser<'a> {
    fn err(&self, what: &str) -> Error {
        Error::new(format!("json: {} at byte {}", what, self.i))
    }

    fn unexpected(&self) -> Error {
        match self.peek() {
            None => self.err("unexpected end of input"),
            Some(c) if c.is_ascii_graphic() => self.err(&format!("unexpected character '{}'", c as char)),
            Some(c) => self.err(&format!("unexpected byte 0x{:02x}", c)),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Parses a value with a stack of its open arrays and objects on the
    /// heap rather than by recursion, whose frames a 64 KiB stack could not
    /// hold for long.
    fn value(&mut self) -> Result<Value, Error> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            let mut v = match self.peek() {
                Some(b'{') => {
                    self.enter(open.len())?;
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        Value::Object(Map::new())
                    } else {
                        let key = self.key()?;
                        open.push(Open::Object(Vec::new(), key));
                        continue;
                    }
                }
                Some(b'[') => {
                    self.enter(open.len())?;
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        Value::Array(Vec::new())
                    } else {
                        open.push(Open::Array(Vec::new()));
                        continue;
                    }
                }
                Some(b'"') => Value::String(self.string()?),
                Some(b't') => self.literal(b"true", Value::Bool(true))?,
                Some(b'f') => self.literal(b"false", Value::Bool(false))?,
                Some(b'n') => self.literal(b"null", Value::Null)?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.unexpected()),
            };
            // v is complete: add it to the innermost open value, and close
            // that one too if it ends here, and so on outwards.
            loop {
                let closed = match open.last_mut() {
                    None => return Ok(v),
                    Some(Open::Array(items)) => {
                        items.push(v);
                        self.ws();
                        match self.peek() {
                            Some(b',') => false,
                            Some(b']') => true,
                            _ => return Err(self.unexpected()),
                        }
                    }
                    Some(Open::Object(entries, key)) => {
                        entries.push((std::mem::take(key), v));
                        self.ws();
                        match self.peek() {
                            Some(b',') => {
                                self.i += 1;
                                self.ws();
                                *key = self.key()?;
                                break;
                            }
                            Some(b'}') => true,
                            _ => return Err(self.unexpected()),
                        }
                    }
                };
                self.i += 1; // the comma or the closing bracket
                if !closed {
                    self.ws();
                    break;
                }
                v = match open.pop() {
                    Some(Open::Array(items)) => Value::Array(items),
                    Some(Open::Object(entries, _)) => Value::Object(Map::from_parsed(entries)),
                    None => unreachable!(),
                };
            }
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, Error> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    /// Steps into an array or object with `depth` around it, and past
    /// white space after its bracket.
    fn enter(&mut self, depth: usize) -> Result<(), Error> {
        if depth == MAX_DEPTH {
            return Err(self.err(&format!("nesting deeper than {}", MAX_DEPTH)));
        }
        self.i += 1;
        self.ws();
        Ok(())
    }

    /// Reads an object member's key and the colon after it, and white space
    /// up to its value.
    fn key(&mut self) -> Result<String, Error> {
        if self.peek() != Some(b'"') {
            return Err(self.unexpected());
        }
        let key = self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.unexpected());
        }
        self.i += 1;
        self.ws();
        Ok(key)
    }

    fn string(&mut self) -> Result<String, Error> {
        let start = self.i;
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let run = self.i;
            while let Some(&c) = self.b.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.extend_from_slice(&self.b[run..self.i]);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.err("control character in a string")),
                None => return Err(self.err("unterminated string")),
            }
        }
        String::from_utf8(out).map_err(|_| Error::new(format!("json: invalid UTF-8 in the string at byte {}", start)))
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let c = match self.peek() {
            Some(c) => c,
            None => return Err(self.err("unterminated string")),
        };
        self.i += 1;
        let byte = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let c = self.unicode()?;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
            _ => {
                self.i -= 1;
                return Err(self.err("invalid escape"));
            }
        };
        out.push(byte);
        Ok(())
    }

    /// Reads the XXXX of \uXXXX, and of a \uXXXX after it if the two make a
    /// surrogate pair.
    fn unicode(&mut self) -> Result<char, Error> {
        let u = self.hex4()?;
        if (0xD800..0xDC00).contains(&u) {
            if self.b[self.i..].starts_with(b"\\u") {
                let at = self.i;
                self.i += 2;
                let low = self.hex4()?;
                if (0xDC00..0xE000).contains(&low) {
                    let c = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
                    return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
                }
                self.i = at; // not a pair: the second escape stands alone
            }
            return Ok('\u{FFFD}');
        }
        Ok(char::from_u32(u).unwrap_or('\u{FFFD}')) // a lone low surrogate is not a char
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut u = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("invalid \\u escape")),
            };
            u = u * 16 + d as u32;
            self.i += 1;
        }
        Ok(u)
    }

    fn digits(&mut self) -> Result<(), Error> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.err("invalid number"));
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        Ok(())
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        if self.peek() == Some(b'0') {
            self.i += 1;
        } else {
            self.digits()?;
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digits()?;
            integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digits()?;
            integer = false;
        }
        // The bytes are ASCII digits and signs.
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        if integer {
            if let Ok(u) = text.parse::<u64>() {
                return Ok(Value::Number(Number(N::PosInt(u))));
            }
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Number(Number::from(i)));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Number(Number(N::Float(f)))),
            _ => {
                self.i = start;
                Err(self.err("number out of range"))
            }
        }
    }
}
