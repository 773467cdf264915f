// Tests of the tool's .wasm file under Node, in the SDK's in-memory host
// (testhost.mjs): the calls the runtime makes, without the runtime.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { TestHost, eventLine } from "capstream-as/testhost.mjs";

const wasm = readFileSync(process.env.TOOL_WASM || "hello.wasm");

test("greets by name, logging one line", async () => {
  const tool = await new TestHost().load(wasm);
  const { output, events, failure } = tool.call({ name: "Ada" });
  assert.equal(failure, null);
  assert.deepEqual(output, { greeting: "Hello, Ada!" });
  assert.deepEqual(events.map(eventLine), ['host.log {"level":"info","message":"greeting Ada"}']);
});

// The manifest is what the runtime reads from the module: the name callers
// and policies use, and the input schema.
test("manifest", async () => {
  const tool = await new TestHost().load(wasm);
  assert.equal(tool.manifest.name, "hello");
  assert.deepEqual(tool.manifest.inputSchema.required, ["name"]);
});
