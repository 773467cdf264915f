// Tests of the SDK under Node: the example tools and test/json.ts, built by
// `make test` into $WASM_DIR, run in testhost.mjs. sdk/conformance runs the
// same tools in the runtime itself.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { TestHost, deny, eventLine } from "../testhost.mjs";

const dir = process.env.WASM_DIR || "build/test";

async function load(name, host = new TestHost()) {
  return host.load(readFileSync(path.join(dir, name + ".wasm")));
}

function lines(events) {
  return events.map(eventLine);
}

test("echo returns its text and logs its length in bytes", async () => {
  const echo = await load("echo");
  assert.deepEqual(echo.manifest, {
    name: "echo",
    title: "Echo",
    description: "Returns its input text unchanged, and logs one line.",
    inputSchema: {
      type: "object",
      properties: { text: { type: "string", description: "Text to echo back" } },
      required: ["text"],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  });
  const r = echo.call({ text: "héllo 🌍" });
  assert.equal(r.failure, null);
  assert.deepEqual(r.output, { text: "héllo 🌍" });
  assert.deepEqual(lines(r.events), ['host.log {"level":"info","message":"echoing 11 bytes"}']);
});

test("notes adds, lists and clears, keyed as the Go tool keys them", async () => {
  const host = new TestHost();
  const notes = await load("notes", host);
  assert.deepEqual(notes.manifest.needs, { kv: { write: true } });
  const steps = [
    [{ op: "list" }, { notes: [] }],
    [{ op: "add", text: "first é" }, { notes: ["first é"] }],
    [{ op: "add", text: "second" }, { notes: ["first é", "second"] }],
  ];
  for (const [input, want] of steps) {
    const r = notes.call(input);
    assert.equal(r.failure, null, JSON.stringify(r.failure));
    assert.deepEqual(r.output, want);
  }
  const keys = [...host.kv.keys()].sort();
  assert.equal(keys.length, 2);
  assert.match(keys[0], /^note\/00000000-[0-9a-f]{16}$/);
  assert.match(keys[1], /^note\/00000001-[0-9a-f]{16}$/);
  assert.notEqual(keys[0].slice(-16), keys[1].slice(-16));
  assert.deepEqual(notes.call({ op: "clear" }).output, { notes: [] });
  assert.equal(host.kv.size, 0);
});

test("notes fails as the Go tool fails", async () => {
  const full = new Map();
  for (let i = 0; i < 200; i++) full.set(`note/${String(i).padStart(8, "0")}-0000000000000000`, new TextEncoder().encode("n"));
  const cases = [
    [new TestHost(), { op: "add" }, "op add needs a non-empty text"],
    [new TestHost(), { op: "shred" }, 'unknown op "shred": want add, list or clear'],
    [new TestHost({ kv: full }), { op: "add", text: "one too many" }, "there are already 200 notes; clear them first"],
  ];
  for (const [host, input, message] of cases) {
    const r = (await load("notes", host)).call(input);
    assert.deepEqual(r.failure, { code: "tool_error", message });
  }
  const readOnly = new TestHost();
  const notes = await load("notes", readOnly);
  readOnly.claims = { cap: { kv: { namespace: "notes/t", read: true, write: false }, http: [], limits: { outputBytes: 1 << 20, events: 1000, hostCalls: 500 } } };
  const r = notes.call({ op: "add", text: "x" });
  assert.deepEqual(r.failure, { code: "tool_error", message: "adding the note: denied: the capability grants read-only key-value storage" });
});

test("conform's events", async () => {
  const r = (await load("conform")).call({ op: "events" });
  assert.deepEqual(r.output, { ok: true });
  assert.deepEqual(lines(r.events), [
    'host.log {"level":"debug","message":"debug"}',
    'host.log {"level":"info","message":"info"}',
    'host.log {"level":"warn","message":"warn"}',
    'host.log {"level":"error","message":"error ü"}',
    'host.progress {"message":"one","progress":1,"total":3}',
    'host.progress {"progress":2,"total":3}',
    'host.progress {"progress":3}',
    'host.output {"chunk":"partial é"}',
  ]);
});

test("conform's refusals are data", async () => {
  const host = new TestHost({
    http: (req) => {
      if (req.url.includes("secret")) throw deny("not on the list");
      return { status: 201, headers: { "content-type": "text/plain" }, body: "héllo", url: req.url + "?final" };
    },
  });
  const conform = await load("conform", host);
  assert.deepEqual(conform.call({ op: "http", method: "GET", url: "https://api.test/ok" }).output,
    { status: 201, url: "https://api.test/ok?final", body: "héllo", contentType: "text/plain" });
  assert.deepEqual(conform.call({ op: "http", method: "GET", url: "https://api.test/secret" }).output,
    { error: { code: -1, message: "not on the list" } });
  assert.deepEqual(conform.call({ op: "kv_get", key: "k" }).output, { error: { code: -2, message: "no such key" } });
  assert.deepEqual(conform.call({ op: "kv_set", key: "", value: "v" }).output, { error: { code: -3, message: "the key is empty" } });
  assert.deepEqual(conform.call({ op: "kv_set", key: "k/é", value: "v ✓" }).output, { ok: true });
  assert.deepEqual(conform.call({ op: "kv_list", prefix: "k/" }).output, { keys: ["k/é"] });
  assert.deepEqual(conform.call({ op: "kv_get", key: "k/é" }).output, { value: "v ✓" });
  assert.equal(conform.call({ op: "capability" }).output.claims.sub, "tester");
});

test("conform's failures", async () => {
  const host = new TestHost();
  const conform = await load("conform", host);
  const failure = (input) => conform.call(input).failure;
  assert.deepEqual(failure({ op: "fail", message: "asked ü" }), { code: "tool_error", message: "asked ü" });
  assert.deepEqual(failure({ op: "fail", message: "" }), { code: "tool_error", message: "the tool failed without a message" });
  assert.deepEqual(failure({ op: "nope" }), { code: "tool_error", message: "unknown op: nope" });
  const trap = failure({ op: "trap", message: "asked to trap" });
  assert.equal(trap.code, "trap");
  assert.match(trap.message, /^abort: asked to trap\n/);
  assert.equal(failure({ op: "badptr" }).code, "abi_violation");
  host.claims = { cap: { http: [], limits: { outputBytes: 10 << 10, events: 1000, hostCalls: 500 } } };
  const flood = conform.call({ op: "flood" });
  assert.equal(flood.failure.code, "output_limit");
  assert.equal(flood.events.length, 10);
  host.claims = { cap: { http: [], limits: { outputBytes: 1 << 20, events: 1000, hostCalls: 25 } } };
  const calls = conform.call({ op: "calls" });
  assert.equal(calls.failure.code, "host_call_limit");
  assert.equal(calls.events.length, 25);
});

test("JSON parses what JSON.parse parses, and nothing else", async () => {
  const tool = await load("json");
  const corpus = [
    "", " ", "null", "true", "false", "nul", "0", "-0", "01", "-", "1.", ".5", "1e", "1E-2", "-1.5e+10", "+1",
    '"abc"', '"a\\u00e9"', '"\\ud83d\\ude00"', '"\\x"', '"\\u12g4"', '"tab\there"', '"unterminated',
    "[]", "[1,]", "[,1]", "[1 2]", "{}", '{"a":1,}', '{"a" 1}', "{a:1}", '{"a":1}x', ' {"a":[1,{"b":[]}]} ',
    '"\\/\\b\\f\\n\\r\\t\\"\\\\"', "123456789012345678901234567890", '"\u2028é😀"', '"\\u0000"', '{"":""}',
    '{"a":1,"a":2}', "[[[[]]]]", "-01", "0.0e0", "1E400", "[-]", '"\\u"', "[1]\n",
  ];
  for (const text of corpus) {
    let want;
    try {
      want = { ok: true, value: JSON.parse(text) };
    } catch {
      want = { ok: false };
    }
    const r = tool.call({ op: "parse", text });
    assert.equal(r.failure, null);
    assert.equal(r.output.ok, want.ok, `${JSON.stringify(text)}: ${r.output.error}`);
    if (want.ok) assert.deepEqual(JSON.parse(r.output.text), want.value, JSON.stringify(text));
    else assert.ok(r.output.error.length > 0);
  }
});

test("JSON keeps number literals, member order and unpaired surrogates as U+FFFD", async () => {
  const tool = await load("json");
  const text = (t) => tool.call({ op: "parse", text: t }).output.text;
  assert.equal(text(' [ 1.0 , -0, 1.5e300, 12345678901234567890123 ] '), "[1.0,-0,1.5e300,12345678901234567890123]");
  assert.equal(text('{"b":1,"a":{"z":1,"y":2},"b":3}'), '{"b":3,"a":{"z":1,"y":2}}');
  assert.equal(text('"\\ud800x\\udc00\\ud83d\\ude00"'), '"\ufffdx\ufffd😀"');
  assert.equal(text('"\\u0001\\u2028"'), '"\\u0001\\u2028"');
  const deep = (n) => "[".repeat(n) + "]".repeat(n);
  assert.equal(tool.call({ op: "parse", text: deep(256) }).output.ok, true);
  assert.match(tool.call({ op: "parse", text: deep(257) }).output.error, /nested deeper than 256/);
});

test("Value builds JSON", async () => {
  const tool = await load("json");
  const r = tool.call({ op: "build" });
  assert.equal(r.failure, null);
  const want = {
    int: 43, neg: -7, frac: 0.30000000000000004, big: 1e21, small: 1e-7, nan: null, inf: null,
    escapes: "\"\\/\b\f\n\r\t\u0001\u007f\u2028\u2029é😀",
    lone: "\ud800x\udc00", // written as \u escapes: UTF-8 cannot carry them
    t: true, n: null, list: ["a", "b", []],
  };
  for (let i = 0; i < 20; i++) want["k" + i] = i === 3 ? "again" : i;
  assert.deepEqual(r.output, want);
  assert.deepEqual(Object.keys(r.output), Object.keys(want));
});

test("Value's accessors", async () => {
  const tool = await load("json");
  const r = tool.call({ op: "getters", v: { s: "str", n: 2.5, b: true, a: [1, 7] } });
  assert.equal(r.failure, null);
  assert.deepEqual(r.output, {
    s: "str", missing: "fallback", wrongKind: "fallback", n: 2.5, b: true, has: true, length: 4,
    keys: ["s", "n", "b", "a"], kind: "array", at1: 7, atPastEnd: true, quoted: '"q\\"\\n"', tryParseBad: true,
    parsed: { x: [1, "é"] },
  });
  const wrong = tool.call({ op: "wrongkind", v: "text" });
  assert.equal(wrong.failure.code, "trap");
  assert.match(wrong.failure.message, /the JSON value is string, not number/);
});

test("Math.random, randomBytes and now come from WASI", async () => {
  const tool = await load("json");
  const a = tool.call({ op: "random" }).output;
  const b = tool.call({ op: "random" }).output;
  assert.notEqual(a.math, b.math);
  assert.equal(a.bytes, 8);
  assert.equal(a.nowIsRecent, true);
  const traced = tool.call({ op: "trace" });
  assert.match(traced.stderr, /^trace: tracing 1\.5, -2\.0\nabort: after the trace\n$/);
});
