// A tool's two exports, and the plumbing functions they use. The tool's
// own file registers the tool and re-exports these:
//
//     export { capstream_manifest, capstream_run } from "capstream-as";
//     register(MANIFEST, run);

import * as abi from "./abi";
import { Call, HostError, fetch, hostError, utf8 } from "./call";
import { Parser, Value, Writer } from "./json";

/**
 * Run is a tool's body: it gets the call and the input (a JSON object that
 * the runtime has checked against the manifest's inputSchema) and returns
 * the result, or call.fail(…) to fail the call with tool_error.
 */
export type Run = (call: Call, input: Value) => Value;

class Tool {
  constructor(readonly manifest: string, readonly run: Run) {}
}

let registered: Tool | null = null;

/**
 * register makes run the module's tool, with manifest, its JSON text:
 * name (^[a-z][a-z0-9_-]{0,63}$), title, description, inputSchema (a JSON
 * Schema of type object), and optionally outputSchema, annotations and
 * needs (sdk/ABI.md, "Manifest"). Call it once, at the top level of the
 * tool's file; a second call aborts. run must be a named function: closures
 * over local variables are not supported by AssemblyScript.
 */
export function register(manifest: string, run: Run): void {
  if (registered !== null) abort("capstream: register called twice: a module holds one tool");
  registered = new Tool(manifest, run);
}

/** capstream_manifest is the module's export that pushes the manifest. */
export function capstream_manifest(): i32 {
  const t = registered;
  if (t === null) return fail(NOT_REGISTERED);
  const err = setOutput(t.manifest);
  if (err !== null) return fail("capstream: setting the manifest: " + err.toString());
  return 0;
}

/**
 * capstream_run is the module's export that runs a call: it reads and
 * decodes the input, calls run, and pushes its result or its failure. An
 * abort is not caught: the call fails with trap, quoting the message.
 */
export function capstream_run(): i32 {
  const t = registered;
  if (t === null) return fail(NOT_REGISTERED);
  const r = fetch(abi.input());
  const err = r.error;
  if (err !== null) return fail("capstream: reading the input: " + err.toString());
  const p = new Parser(r.value);
  const input = p.parse();
  if (input === null) return fail("capstream: decoding the input: " + p.error);
  const call = new Call();
  const out = t.run(call, input);
  const reason = call.failure;
  if (reason !== null) return fail(reason);
  const w = new Writer();
  out.write(w);
  const rc = abi.set_output(w.ptr, <usize>w.length);
  if (rc < 0) return fail("capstream: setting the output: " + hostError(rc).toString());
  return 0;
}

const NOT_REGISTERED = "capstream: no tool is registered: call register(manifest, run) at the top level of the tool's file";

// fail sets the tool error message and returns the non-zero result of an
// export that failed.
function fail(message: string): i32 {
  setError(message.length == 0 ? "the tool failed without a message" : message);
  return 1;
}

/** input returns the call's input, as JSON text. run gets it decoded; this is for a tool that wants the text itself. */
export function input(): string {
  const r = fetch(abi.input());
  const err = r.error;
  if (err !== null) abort("capstream: reading the input: " + err.toString());
  return String.UTF8.decode(r.value);
}

/** setOutput sets the call's result to json, which must be JSON text (INVALID otherwise). The result of run replaces it. */
export function setOutput(json: string): HostError | null {
  const b = utf8(json);
  const rc = abi.set_output(changetype<usize>(b), <usize>b.byteLength);
  return rc < 0 ? hostError(rc) : null;
}

/** setError sets the message of a failing call (cut at 4 KiB). Call.fail is the way for run to fail; this is the plumbing under it. */
export function setError(message: string): void {
  const b = utf8(message);
  abi.set_error(changetype<usize>(b), <usize>b.byteLength);
}
