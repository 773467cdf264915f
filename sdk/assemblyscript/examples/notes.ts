// notes keeps notes for the caller in its KV namespace (one per
// principal), append-only until cleared: the AssemblyScript twin of
// plugins/notes, with the same manifest, keys, outputs and errors.
//
// Each note is its own key, written once: "note/", a zero-padded sequence
// number one past the last note's, "-" and 16 hex digits of 8 random
// bytes, so that two calls which pick the same number still write
// different keys. Keys sort in the order notes were added.

import { Call, HostError, NOT_FOUND, Value, randomBytes, register } from "../index";
export { capstream_manifest, capstream_run } from "../index";

// MAX_NOTES bounds a namespace so that listing it (one host call per
// note) stays well inside the default host-call limit.
const MAX_NOTES = 200;

const PREFIX = "note/";

const MANIFEST = `{
  "name": "notes",
  "title": "Notes",
  "description": "Keeps short notes for the caller: add one, list them, or clear them all. Every operation returns the notes, oldest first; at most 200 are kept.",
  "inputSchema": {
    "type": "object",
    "properties": {
      "op": {
        "type": "string",
        "description": "add appends text as a note; list returns the notes; clear deletes them all",
        "enum": ["add", "list", "clear"]
      },
      "text": {
        "type": "string",
        "description": "The note to add (op add only)",
        "minLength": 1,
        "maxLength": 4096
      }
    },
    "required": ["op"],
    "additionalProperties": false
  },
  "annotations": {"destructiveHint": true, "openWorldHint": false},
  "needs": {"kv": {"write": true}}
}`;

function run(call: Call, input: Value): Value {
  const op = input.getString("op");
  if (op == "add") {
    const err = add(call, input.getString("text"));
    if (err !== null) return call.fail(err);
  } else if (op == "clear") {
    const err = clearNotes(call);
    if (err !== null) return call.fail(err);
  } else if (op != "list") {
    return call.fail("unknown op " + quote(op) + ": want add, list or clear");
  }
  return list(call);
}

// add stores text as the next note; it returns the failure's message, or null.
function add(call: Call, text: string): string | null {
  if (text.length == 0) return "op add needs a non-empty text";
  const r = call.kvList(PREFIX);
  const err = r.error;
  if (err !== null) return "listing notes: " + err.toString();
  const keys = r.value;
  if (keys.length >= MAX_NOTES) return "there are already " + MAX_NOTES.toString() + " notes; clear them first";
  let seq: i64 = 0;
  if (keys.length > 0) {
    const lastKey = keys[keys.length - 1];
    let last = lastKey.startsWith(PREFIX) ? lastKey.substring(PREFIX.length) : lastKey;
    const dash = last.indexOf("-");
    if (dash >= 0) last = last.substring(0, dash);
    const n = atoi(last);
    if (n == ATOI_FAILED) {
      return "reading the last note's key " + quote(lastKey) + ": strconv.Atoi: parsing " + quote(last) + ": invalid syntax";
    }
    seq = n + 1;
  }
  // randomBytes asks the host each time: a pseudo-random generator could
  // start from the same state in every instance.
  const key = PREFIX + pad8(seq) + "-" + hex(randomBytes(8));
  const setErr = call.kvSet(key, text);
  if (setErr !== null) return "adding the note: " + setErr.toString();
  return null;
}

// list returns the output: the notes, oldest first.
function list(call: Call): Value {
  const r = call.kvList(PREFIX);
  const err = r.error;
  if (err !== null) return call.fail("listing notes: " + err.toString());
  const keys = r.value;
  const notes = Value.array();
  for (let i = 0; i < keys.length; i++) {
    const v = call.kvGet(keys[i]);
    const getErr = v.error;
    if (getErr !== null) {
      if (getErr.code == NOT_FOUND) continue; // cleared meanwhile
      return call.fail("reading " + keys[i] + ": " + getErr.toString());
    }
    notes.push(Value.string(v.value));
  }
  return Value.object().set("notes", notes);
}

function clearNotes(call: Call): string | null {
  const r = call.kvList(PREFIX);
  const err = r.error;
  if (err !== null) return "listing notes: " + err.toString();
  const keys = r.value;
  for (let i = 0; i < keys.length; i++) {
    const delErr: HostError | null = call.kvDelete(keys[i]);
    if (delErr !== null) return "deleting " + keys[i] + ": " + delErr.toString();
  }
  return null;
}

const ATOI_FAILED: i64 = i64.MIN_VALUE;

// atoi parses a decimal integer with an optional sign, as Go's strconv.Atoi
// does; ATOI_FAILED if s is not one.
function atoi(s: string): i64 {
  let i = 0;
  let neg = false;
  if (s.length > 0 && (s.charCodeAt(0) == 0x2B || s.charCodeAt(0) == 0x2D)) {
    neg = s.charCodeAt(0) == 0x2D;
    i = 1;
  }
  if (i == s.length || s.length - i > 18) return ATOI_FAILED;
  let n: i64 = 0;
  for (; i < s.length; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return ATOI_FAILED;
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

// pad8 formats n with at least 8 digits, as Go's %08d.
function pad8(n: i64): string {
  const digits = (n < 0 ? -n : n).toString();
  const width = n < 0 ? 7 : 8;
  return (n < 0 ? "-" : "") + (digits.length < width ? "0".repeat(width - digits.length) : "") + digits;
}

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) {
    const v = b[i];
    s += (v < 0x10 ? "0" : "") + v.toString(16);
  }
  return s;
}

// quote quotes s as Go's %q does for the printable text keys hold.
function quote(s: string): string {
  return '"' + s.replaceAll("\\", "\\\\").replaceAll('"', '\\"') + '"';
}

register(MANIFEST, run);
