// A tool for the SDK's own tests (sdk.test.mjs): it exposes the JSON
// parser and writer, and a few runtime hooks, to the test host.

import { Call, JSON, Kind, Parser, Value, now, randomBytes, register } from "../index";
export { capstream_manifest, capstream_run } from "../index";

const MANIFEST = `{"name": "jsontest", "inputSchema": {"type": "object"}}`;

function run(call: Call, input: Value): Value {
  const op = input.getString("op");
  if (op == "parse") {
    // Parse the text and write it again.
    const p = new Parser(String.UTF8.encode(input.getString("text")));
    const v = p.parse();
    if (v === null) return Value.object().setBool("ok", false).setString("error", p.error);
    return Value.object().setBool("ok", true).setString("text", v.toString());
  }
  if (op == "build") {
    const o = Value.object()
      .setNumber("int", 42)
      .setNumber("neg", -7)
      .setNumber("frac", 0.1 + 0.2)
      .setNumber("big", 1e21)
      .setNumber("small", 1e-7)
      .setNumber("nan", NaN)
      .setNumber("inf", Infinity)
      .setString("escapes", "\"\\/\b\f\n\r\t\u0001\u007f\u2028\u2029é😀")
      .setString("lone", String.fromCharCode(0xD800) + "x" + String.fromCharCode(0xDC00))
      .setBool("t", true)
      .set("n", Value.null())
      .set("list", Value.strings(["a", "b"]).push(Value.array()));
    o.setNumber("int", 43); // replaces in place
    for (let i = 0; i < 20; i++) o.setNumber("k" + i.toString(), i);
    o.setString("k3", "again");
    return o;
  }
  if (op == "getters") {
    const v = input.get("v")!;
    return Value.object()
      .setString("s", v.getString("s", "fallback"))
      .setString("missing", v.getString("missing", "fallback"))
      .setString("wrongKind", v.getString("n", "fallback"))
      .setNumber("n", v.getNumber("n"))
      .setBool("b", v.getBool("b"))
      .setBool("has", v.has("s"))
      .setNumber("length", v.length)
      .set("keys", Value.strings(v.keys))
      .setString("kind", v.get("a")!.kind == Kind.Array ? "array" : "other")
      .setNumber("at1", v.get("a")!.at(1)!.asNumber())
      .setBool("atPastEnd", v.get("a")!.at(9) === null)
      .setString("quoted", JSON.quote("q\"\n"))
      .setBool("tryParseBad", JSON.tryParse("{") === null)
      .set("parsed", JSON.parse(`{"x":[1,"\\u00e9"]}`));
  }
  if (op == "wrongkind") {
    return Value.number(input.get("v")!.asNumber());
  }
  if (op == "random") {
    return Value.object()
      .setNumber("math", Math.random())
      .setNumber("bytes", randomBytes(8).length)
      .setBool("nowIsRecent", now() > 1700000000000);
  }
  if (op == "trace") {
    trace("tracing", 2, 1.5, -2);
    abort("after the trace");
  }
  return call.fail("unknown op: " + op);
}

register(MANIFEST, run);
