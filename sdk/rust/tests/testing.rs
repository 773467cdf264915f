//! The SDK's host functions against the in-memory host of
//! capstream::testing: what a tool sees, and the events a call streams.

use capstream::json::{self, Value};
use capstream::testing::{Failure, Host};
use capstream::{object, Call, Error, HttpRequest, HttpResponse, Level};

fn events(e: &[capstream::testing::Event]) -> Vec<String> {
    e.iter().map(ToString::to_string).collect()
}

/// Runs f as a tool's run function, on a fresh host, and returns its
/// result's JSON and events.
fn run_with(host: &mut Host, f: fn(&Call) -> Result<Value, Error>) -> (Result<String, Failure>, Vec<String>) {
    let run = move |call: &Call, _: Value| f(call);
    match host.call(run, "{}") {
        Ok(done) => (Ok(done.output), events(&done.events)),
        Err(failure) => {
            let ev = events(&failure.events);
            (Err(failure), ev)
        }
    }
}

fn refusal(e: Error) -> Value {
    object! { "code" => e.code, "message" => e.message }
}

#[test]
fn log_progress_output() {
    let (out, ev) = run_with(&mut Host::new(), |call| {
        call.log(Level::Debug, "debug")?;
        call.log(Level::Error, "error ü")?;
        call.progress(1.0, 3.0, "one")?;
        call.progress(3.0, 0.0, "")?;
        let again = call.progress(2.0, 3.0, "").unwrap_err();
        call.output("partial é")?;
        Ok(refusal(again))
    });
    assert_eq!(out.unwrap(), r#"{"code":-3,"message":"progress 2 does not increase from 3"}"#);
    assert_eq!(
        ev,
        [
            r#"host.log {"level":"debug","message":"debug"}"#,
            r#"host.log {"level":"error","message":"error ü"}"#,
            r#"host.progress {"progress":1,"total":3,"message":"one"}"#,
            r#"host.progress {"progress":3}"#,
            r#"host.progress {"error":{"code":"invalid","message":"progress 2 does not increase from 3"}}"#,
            r#"host.output {"chunk":"partial é"}"#,
        ]
    );
}

#[test]
fn raw_log_level() {
    let (out, ev) = run_with(&mut Host::new(), |_| {
        let rc = unsafe { capstream::sys::log(7, "x".as_ptr(), 1) };
        Ok(Value::from(rc))
    });
    assert_eq!(out.unwrap(), "-3");
    assert_eq!(ev, [r#"host.log {"error":{"code":"invalid","message":"unknown log level 7"}}"#]);
}

#[test]
fn kv() {
    let mut host = Host::new();
    host.kv.insert("k/b".into(), b"two".to_vec());
    let (out, ev) = run_with(&mut host, |call| {
        call.kv_set("k/a", "one ✓")?;
        let a = call.kv_get("k/a")?;
        let missing = call.kv_get("k/zzz").unwrap_err();
        let keys = call.kv_list("k/")?;
        call.kv_delete("k/b")?;
        call.kv_delete("k/b")?; // absent is not an error
        let empty = call.kv_set("", "x").unwrap_err();
        let long = call.kv_get(&"k".repeat(1025)).unwrap_err();
        Ok(object! {
            "a" => String::from_utf8(a).unwrap(),
            "missing" => refusal(missing),
            "keys" => keys,
            "empty" => refusal(empty),
            "long" => refusal(long),
        })
    });
    assert_eq!(
        out.unwrap(),
        r#"{"a":"one ✓","missing":{"code":-2,"message":"no such key"},"keys":["k/a","k/b"],"#.to_string()
            + r#""empty":{"code":-3,"message":"the key is empty"},"long":{"code":-6,"message":"a key is at most 1024 bytes"}}"#
    );
    assert_eq!(
        ev,
        [
            r#"host.kv {"op":"set","key":"k/a","bytes":7}"#,
            r#"host.kv {"op":"get","key":"k/a","hit":true,"bytes":7}"#,
            r#"host.kv {"op":"get","key":"k/zzz","hit":false}"#,
            r#"host.kv {"op":"list","key":"k/","count":2}"#,
            r#"host.kv {"op":"delete","key":"k/b","hit":true}"#,
            r#"host.kv {"op":"delete","key":"k/b","hit":false}"#,
            r#"host.kv {"op":"set","key":"","error":{"code":"invalid","message":"the key is empty"}}"#,
            r#"host.kv {"op":"get","key":"","error":{"code":"too_large","message":"a key is at most 1024 bytes"}}"#,
        ]
    );
    assert_eq!(host.kv.keys().collect::<Vec<_>>(), ["k/a"]);
}

#[test]
fn kv_grants_and_quota() {
    let mut host = Host::new();
    host.claims.cap.kv.as_mut().unwrap().write = false;
    let (out, _) = run_with(&mut host, |call| Ok(refusal(call.kv_set("k", "v").unwrap_err())));
    assert_eq!(out.unwrap(), r#"{"code":-1,"message":"the capability grants read-only key-value storage"}"#);

    host.claims.cap.kv = None;
    let (out, ev) = run_with(&mut host, |call| Ok(refusal(call.kv_list("").unwrap_err())));
    assert_eq!(out.unwrap(), r#"{"code":-1,"message":"the capability grants no key-value storage"}"#);
    assert_eq!(
        ev,
        [
            r#"host.kv {"op":"list","key":"","denied":{"grant":"kv","reason":"the capability grants no key-value storage"}}"#
        ]
    );

    let mut host = Host::new();
    host.claims.cap.kv.as_mut().unwrap().quota = 10;
    let (out, _) = run_with(&mut host, |call| {
        call.kv_set("k", "123456789")?;
        Ok(Value::from(call.kv_set("k", "1234567890").unwrap_err().code))
    });
    assert_eq!(out.unwrap(), "-4");
}

#[test]
fn http() {
    let mut host = Host::new();
    let (out, ev) =
        run_with(&mut host, |call| Ok(refusal(call.http(&HttpRequest::get("https://x.test/")).unwrap_err())));
    assert_eq!(out.unwrap(), r#"{"code":-1,"message":"the testing::Host has no HTTP upstream"}"#);
    assert_eq!(
        ev,
        [
            r#"host.http {"method":"GET","url":"https://x.test/","denied":{"grant":"http","reason":"the testing::Host has no HTTP upstream"}}"#
        ]
    );

    host.http = Some(Box::new(|req: &HttpRequest| {
        if req.url.contains("/down") {
            return Err(Error::new("connection refused"));
        }
        let mut resp = HttpResponse {
            status: 201,
            body: format!("{} {} {}", req.method, req.body, req.headers["X-A"]),
            ..HttpResponse::default()
        };
        resp.headers.insert("Content-Type".into(), "text/plain".into());
        Ok(resp)
    }));
    let (out, ev) = run_with(&mut host, |call| {
        let req = HttpRequest::new("POST", "https://x.test/p?secret=1").header("X-A", "a").body("hi");
        let resp = call.http(&req)?;
        let down = call.http(&HttpRequest::new("", "https://x.test/down")).unwrap_err();
        Ok(object! {
            "status" => resp.status,
            "body" => resp.body.as_str(),
            "type" => resp.header("Content-Type"),
            "url" => resp.url.as_str(),
            "down" => refusal(down),
        })
    });
    assert_eq!(
        out.unwrap(),
        r#"{"status":201,"body":"POST hi a","type":"text/plain","url":"https://x.test/p?secret=1","down":{"code":-5,"message":"connection refused"}}"#
    );
    assert_eq!(
        ev,
        [
            r#"host.http {"method":"POST","url":"https://x.test/p","status":201,"bytes":9}"#,
            r#"host.http {"method":"GET","url":"https://x.test/down","error":{"code":"upstream","message":"connection refused"}}"#,
        ]
    );
}

#[test]
fn capability() {
    let mut host = Host::new();
    host.claims.subject = "alice".into();
    let (out, ev) = run_with(&mut host, |call| {
        let c = call.capability()?;
        let kv = c.cap.kv.unwrap();
        Ok(
            object! { "sub" => c.subject, "ns" => kv.namespace, "calls" => c.cap.limits.host_calls, "aud" => c.audience.len() },
        )
    });
    assert_eq!(out.unwrap(), r#"{"sub":"alice","ns":"tool/tester","calls":500,"aud":2}"#);
    assert_eq!(ev.len(), 1);
    assert!(ev[0].starts_with(r#"host.capability {"bytes":"#), "{}", ev[0]);
}

#[test]
fn claims_json() {
    let claims = capstream::testing::default_claims();
    let text = Value::from(&claims).to_string();
    let back: capstream::Claims = json::from_str(&text).unwrap();
    assert_eq!(back, claims);
    // aud may be one string; unknown members are ignored.
    let one: capstream::Claims = json::from_str(r#"{"aud":"tool","sub":"bob","extra":[1]}"#).unwrap();
    assert_eq!((one.audience, one.subject.as_str(), one.cap.kv), (vec!["tool".to_string()], "bob", None));
}

/// An input of one small number.
struct Small(u8);

impl json::FromJson for Small {
    fn from_json(value: Value) -> Result<Small, json::Error> {
        Ok(Small(json::Map::from_json(value)?.take("n")?))
    }
}

#[test]
fn failures() {
    let mut host = Host::new();
    let fail = |_: &Call, v: Value| -> Result<Value, String> {
        Err(format!("asked to fail: {}", v["m"].as_str().unwrap_or("")))
    };
    let f = host.call(fail, r#"{"m":"ünïcode"}"#).unwrap_err();
    assert_eq!((f.code.as_str(), f.message.as_str()), ("tool_error", "asked to fail: ünïcode"));

    let trap = |_: &Call, v: Value| -> Result<Value, Error> { panic!("asked to trap: {}", v["m"]) };
    let f = host.call(trap, r#"{"m":[1]}"#).unwrap_err();
    assert_eq!((f.code.as_str(), f.message.as_str()), ("trap", "asked to trap: [1]"));

    let typed = |_: &Call, n: Small| -> Result<u8, Error> { Ok(n.0) };
    let f = host.call(typed, r#"{"n":300}"#).unwrap_err();
    assert_eq!(f.to_string(), "tool_error: decoding the input: n: expected an integer from 0 to 255, found 300");

    // A tool that returns Ok without a result completes with null.
    let none = |_: &Call, _: Value| -> Result<Value, Error> { Ok(Value::Null) };
    assert_eq!(host.call(none, "{}").unwrap().output, "null");
}

#[test]
fn limits() {
    let mut host = Host::new();
    host.claims.cap.limits.host_calls = 25;
    let (out, ev) = run_with(&mut host, |call| loop {
        call.log(Level::Debug, "tick")?;
    });
    let f = out.unwrap_err();
    assert_eq!((f.code.as_str(), f.message.as_str(), ev.len()), ("host_call_limit", "more than 25 host calls", 25));

    let mut host = Host::new();
    host.claims.cap.limits.events = 30;
    let (out, ev) = run_with(&mut host, |call| loop {
        call.log(Level::Debug, "tick")?;
    });
    assert_eq!((out.unwrap_err().code.as_str(), ev.len()), ("output_limit", 30));

    let mut host = Host::new();
    host.claims.cap.limits.output_bytes = 10 << 10;
    let (out, ev) = run_with(&mut host, |call| {
        let chunk = "x".repeat(1024);
        loop {
            call.output(&chunk)?;
        }
    });
    assert_eq!((out.unwrap_err().code.as_str(), ev.len()), ("output_limit", 10));

    // The KV namespace survives a call that ended at a limit.
    let mut host = Host::new();
    host.claims.cap.limits.host_calls = 1;
    let (out, _) = run_with(&mut host, |call| {
        call.kv_set("k", "v")?;
        call.kv_set("k2", "v")?;
        Ok(Value::Null)
    });
    assert_eq!(out.unwrap_err().code, "host_call_limit");
    assert_eq!(host.kv.keys().collect::<Vec<_>>(), ["k"]);
}

#[test]
fn random() {
    let mut a = [0u8; 20];
    let mut b = [0u8; 20];
    capstream::random(&mut a);
    capstream::random(&mut b);
    assert_ne!(a, b);
    capstream::random(&mut []);
}

#[test]
#[should_panic(expected = "only inside capstream::testing::Host::call")]
fn host_function_outside_a_call() {
    let _ = unsafe { capstream::sys::input() };
}
