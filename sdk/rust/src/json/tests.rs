use super::*;
use std::collections::BTreeMap;

#[test]
fn round_trip() {
    // input, what the writer makes of it
    let cases = [
        ("null", "null"),
        (" true ", "true"),
        ("false", "false"),
        ("0", "0"),
        ("-0", "0"),
        ("[1, 2.5, -3e2, true, null]", "[1,2.5,-300,true,null]"),
        ("18446744073709551615", "18446744073709551615"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("18446744073709551616", "18446744073709552000"),
        ("3.0", "3"),
        ("0.1", "0.1"),
        ("1e300", "1e300"),
        ("1.5E-7", "1.5e-7"),
        ("1e21", "1e21"),
        ("1e20", "100000000000000000000"),
        ("-0.0", "-0"),
        (r#""é\u0000\ud83c\udf0d""#, "\"é\\u0000🌍\""),
        (r#""\"\\\/\b\f\n\r\t""#, r#""\"\\/\b\f\n\r\t""#),
        ("\"\u{7f}\u{2028}<>&\"", "\"\u{7f}\u{2028}<>&\""),
        (r#"{"op":"input","o":{"a":{}},"e":[]}"#, r#"{"op":"input","o":{"a":{}},"e":[]}"#),
        ("{ \"b\" : 1 , \"a\" : [ ] }", r#"{"b":1,"a":[]}"#),
        ("\t\r\n[\n]\n", "[]"),
    ];
    for (input, want) in cases {
        let v = parse(input.as_bytes()).unwrap_or_else(|e| panic!("{}: {}", input, e));
        assert_eq!(v.to_string(), want, "{}", input);
        assert_eq!(parse(want.as_bytes()).unwrap(), v, "{} read back", want);
    }
}

#[test]
fn surrogates() {
    let cases = [
        (r#""\ud83c\udf0d""#, "🌍"),
        (r#""\uD83C\uDF0D""#, "🌍"),
        (r#""\ud800""#, "\u{FFFD}"),
        (r#""\ud800x""#, "\u{FFFD}x"),
        (r#""\udc00""#, "\u{FFFD}"),
        (r#""\ud800\u0041""#, "\u{FFFD}A"),
        (r#""\ud800\ud83c\udf0d""#, "\u{FFFD}🌍"),
        (r#""\udf0d\ud83c""#, "\u{FFFD}\u{FFFD}"),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input.as_bytes()).unwrap().as_str(), Some(want), "{}", input);
    }
}

#[test]
fn parse_errors() {
    let cases: [&[u8]; 28] = [
        b"",
        b" ",
        b"[1,]",
        b"{\"a\":1,}",
        b"{\"a\" 1}",
        b"{1:2}",
        b"[1 2]",
        b"01",
        b"1.",
        b".5",
        b"-",
        b"1e",
        b"+1",
        b"tru",
        b"nul",
        b"NaN",
        b"1e400",
        b"\"\\x\"",
        b"\"\\u12g4\"",
        b"\"a\nb\"",
        b"\"abc",
        b"\"\xff\"",
        b"\"\xc3\"",
        b"[1] 2",
        b"[",
        b"{",
        b"}",
        b"// comment\n1",
    ];
    for input in cases {
        let r = parse(input);
        assert!(r.is_err(), "{:?} parsed as {:?}", String::from_utf8_lossy(input), r);
    }
    assert_eq!(parse(b"[1,]").unwrap_err().to_string(), "json: unexpected character ']' at byte 3");
    assert_eq!(parse(b"\"\xff\"").unwrap_err().to_string(), "json: invalid UTF-8 in the string at byte 0");
}

#[test]
fn depth() {
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
    let err = parse(nested(MAX_DEPTH + 1).as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), format!("json: nesting deeper than {} at byte {}", MAX_DEPTH, MAX_DEPTH));
    let objects = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    let v = parse(objects(MAX_DEPTH).as_bytes()).unwrap();
    assert_eq!(v.to_string(), objects(MAX_DEPTH));
    assert!(parse(objects(MAX_DEPTH + 1).as_bytes()).is_err());
}

#[test]
fn duplicate_keys() {
    let v = parse(br#"{"a":1,"b":2,"a":3}"#).unwrap();
    assert_eq!(v.to_string(), r#"{"a":3,"b":2}"#);
    // Past the size where duplicates are found by sorting.
    let mut text = String::from("{");
    for i in 0..40 {
        text.push_str(&format!("\"k{}\":{},", i % 30, i));
    }
    text.push_str("\"last\":true}");
    let v = parse(text.as_bytes()).unwrap();
    let m = v.as_object().unwrap();
    assert_eq!(m.len(), 31);
    assert_eq!(m.keys().next(), Some("k0"));
    assert_eq!(m.get("k0"), Some(&Value::from(30)));
    assert_eq!(m.get("k29"), Some(&Value::from(29)));
}

#[test]
fn map() {
    let mut m = Map::new();
    assert_eq!(m.insert("b", 1), None);
    assert_eq!(m.insert("a", "x"), None);
    assert_eq!(m.insert("b", 2), Some(Value::from(1)));
    m.insert("c", Value::Null);
    assert_eq!(Value::from(m.clone()).to_string(), r#"{"b":2,"a":"x","c":null}"#);
    assert_eq!(m.remove("b"), Some(Value::from(2)));
    assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "c"]);
    assert!(m.contains_key("c") && !m.contains_key("b"));
    // Order does not matter to equality.
    let other: Map = [("c", Value::Null), ("a", Value::from("x"))].into_iter().collect();
    assert_eq!(m, other);
}

#[test]
fn index_and_accessors() {
    let v = parse(br#"{"s":"x","n":-2,"f":2.5,"a":[true],"o":{"k":null}}"#).unwrap();
    assert_eq!(v["s"].as_str(), Some("x"));
    assert_eq!(v["n"].as_i64(), Some(-2));
    assert_eq!(v["n"].as_u64(), None);
    assert_eq!(v["f"].as_i64(), None);
    assert_eq!(v["f"].as_f64(), Some(2.5));
    assert_eq!(v["a"][0].as_bool(), Some(true));
    assert!(v["a"][1].is_null());
    assert!(v["o"]["k"].is_null());
    assert!(v["missing"]["deeper"].is_null());
    assert!(v["s"]["not an object"].is_null());
    assert_eq!(v.get("o").map(Value::kind), Some("an object"));
    assert_eq!(Value::from(3.0), Value::from(3));
    assert_eq!(Value::from(f64::NAN), Value::Null);
    assert_eq!(Value::from(f64::INFINITY), Value::Null);
    assert_eq!(Value::from(None::<i32>), Value::Null);
    assert_eq!(Value::from(vec!["a", "b"]).to_string(), r#"["a","b"]"#);
    assert_eq!(["x", "y"].iter().copied().collect::<Value>().to_string(), r#"["x","y"]"#);
}

#[test]
fn writer_escapes() {
    let s: String = (0u8..0x20).map(|b| b as char).collect::<String>() + "\"\\é";
    let out = Value::from(s.as_str()).to_string();
    assert_eq!(
        out,
        "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\
         \\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\\"\\\\é\""
    );
    assert_eq!(parse(out.as_bytes()).unwrap().as_str(), Some(s.as_str()));
}

#[test]
fn decode() {
    assert_eq!(from_str::<Vec<u8>>("[1, 2.0, 255]"), Ok(vec![1, 2, 255]));
    assert_eq!(
        from_str::<Vec<u8>>("[1, 300]").unwrap_err().to_string(),
        "1: expected an integer from 0 to 255, found 300"
    );
    assert_eq!(
        from_str::<i32>("2.5").unwrap_err().to_string(),
        "expected an integer from -2147483648 to 2147483647, found 2.5"
    );
    assert_eq!(
        from_str::<u64>("-1").unwrap_err().to_string(),
        "expected an integer from 0 to 18446744073709551615, found -1"
    );
    assert_eq!(from_str::<i64>("\"1\"").unwrap_err().to_string(), "expected an integer, found a string");
    assert_eq!(from_str::<Option<String>>("null"), Ok(None));
    assert_eq!(from_str::<Option<String>>("\"x\""), Ok(Some("x".into())));
    assert_eq!(from_str::<f64>("1e2"), Ok(100.0));
    assert_eq!(from_str::<bool>("true"), Ok(true));
    let m: BTreeMap<String, Vec<String>> = from_str(r#"{"b":["x"],"a":[]}"#).unwrap();
    assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
    let err = from_str::<BTreeMap<String, Vec<String>>>(r#"{"a":["x", 1]}"#).unwrap_err();
    assert_eq!(err.to_string(), "a.1: expected a string, found a number");
    assert_eq!(from_str::<Map>("[]").unwrap_err().to_string(), "expected an object, found an array");
}

/// Values from a small deterministic generator: each is written, read back
/// equal, and written again the same.
#[test]
fn generated_round_trips() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    fn gen(next: &mut dyn FnMut() -> u64, depth: usize) -> Value {
        let pick = next() % if depth > 4 { 5 } else { 7 };
        match pick {
            0 => Value::Null,
            1 => Value::Bool(next() % 2 == 0),
            2 => match next() % 4 {
                0 => Value::from(next() as i64),
                1 => Value::from(next()),
                2 => Value::from(f64::from_bits(next())),
                _ => Value::from((next() % 2001) as f64 / 8.0 - 125.0),
            },
            3 | 4 => {
                let chars = ['a', 'é', '\u{0}', '\n', '"', '\\', '🌍', '\u{2028}', '\u{1f}', 'z'];
                Value::String((0..next() % 8).map(|_| chars[(next() % 10) as usize]).collect())
            }
            5 => Value::Array((0..next() % 5).map(|_| gen(next, depth + 1)).collect()),
            _ => {
                let mut m = Map::new();
                for i in 0..next() % 5 {
                    m.insert(format!("k{}{}", i, next() % 3), gen(next, depth + 1));
                }
                Value::Object(m)
            }
        }
    }
    for _ in 0..2000 {
        let v = gen(&mut next, 0);
        let text = v.to_string();
        let back = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{}: {}", text, e));
        assert_eq!(back, v, "{}", text);
        assert_eq!(back.to_string(), text);
    }
}
