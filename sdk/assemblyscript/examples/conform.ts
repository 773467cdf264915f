// conform is the AssemblyScript SDK's conformance tool: it does what
// sdk/conformance/SPEC.md says, as every other language's conform does, so
// that one table of scenarios checks them all. It is written through the
// SDK's public API; only badptr reaches for the raw import.

import { Call, HTTPRequest, HostError, Level, Result, Value, abi, register } from "../index";
export { capstream_manifest, capstream_run } from "../index";

const MANIFEST = `{
  "name": "conform",
  "title": "Conformance",
  "description": "Runs one scenario of capstream's cross-language conformance suite.",
  "inputSchema": {"type": "object", "properties": {"op": {"type": "string"}}, "required": ["op"]},
  "needs": {"http": [{"url": "*", "methods": ["GET"]}], "kv": {"write": true}}
}`;

function ok(): Value {
  return Value.object().setBool("ok", true);
}

// refusal makes a host function's refusal the call's output.
function refusal(err: HostError): Value {
  return Value.object().set(
    "error",
    Value.object().setNumber("code", err.code).setString("message", err.message)
  );
}

function run(call: Call, input: Value): Value {
  const op = input.getString("op");
  if (op == "echo") {
    return Value.object().setString("echo", input.getString("text"));
  }
  if (op == "input") {
    return input;
  }
  if (op == "events") {
    const levels = [Level.Debug, Level.Info, Level.Warn, Level.Error];
    const messages = ["debug", "info", "warn", "error ü"];
    for (let i = 0; i < levels.length; i++) {
      const err = call.log(levels[i], messages[i]);
      if (err !== null) return call.fail(err);
    }
    let err = call.progress(1, 3, "one");
    if (err === null) err = call.progress(2, 3, "");
    if (err === null) err = call.progress(3, 0, "");
    if (err === null) err = call.output("partial é");
    if (err !== null) return call.fail(err);
    return ok();
  }
  if (op == "http") {
    const r = call.http(new HTTPRequest(input.getString("url"), input.getString("method")));
    const err = r.error;
    if (err !== null) return refusal(err);
    const resp = r.value;
    const contentType = resp.header("Content-Type");
    return Value.object()
      .setNumber("status", resp.status)
      .setString("url", resp.url)
      .setString("body", resp.body)
      .set("contentType", contentType !== null ? Value.string(contentType) : Value.null());
  }
  if (op == "kv_set") {
    const err = call.kvSet(input.getString("key"), input.getString("value"));
    return err !== null ? refusal(err) : ok();
  }
  if (op == "kv_get") {
    const r: Result<string> = call.kvGet(input.getString("key"));
    const err = r.error;
    return err !== null ? refusal(err) : Value.object().setString("value", r.value);
  }
  if (op == "kv_delete") {
    const err = call.kvDelete(input.getString("key"));
    return err !== null ? refusal(err) : ok();
  }
  if (op == "kv_list") {
    const r = call.kvList(input.getString("prefix"));
    const err = r.error;
    return err !== null ? refusal(err) : Value.object().set("keys", Value.strings(r.value));
  }
  if (op == "capability") {
    const r = call.capability();
    const err = r.error;
    return err !== null ? refusal(err) : Value.object().set("claims", r.value);
  }
  if (op == "fail") {
    return call.fail(input.getString("message"));
  }
  if (op == "trap") {
    abort(input.getString("message"));
  }
  if (op == "badptr") {
    abi.log(1, 0xFFFFFF00, 512);
    return ok();
  }
  if (op == "alloc") {
    const b = new Uint8Array(<i32>input.getNumber("mib") << 20);
    for (let i = 0; i < b.length; i += 4096) b[i] = 1;
    return ok();
  }
  if (op == "spin") {
    while (true) {}
  }
  if (op == "flood") {
    const chunk = "x".repeat(1024);
    while (true) {
      const err = call.output(chunk);
      if (err !== null) return call.fail(err);
    }
  }
  if (op == "calls") {
    while (true) {
      const err = call.log(Level.Debug, "tick");
      if (err !== null) return call.fail(err);
    }
  }
  return call.fail("unknown op: " + op);
}

register(MANIFEST, run);
