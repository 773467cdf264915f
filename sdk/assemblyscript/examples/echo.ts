// echo returns its input text and logs one line: the AssemblyScript twin of
// plugins/echo, the same manifest and the same events.

import { Call, Level, Value, register } from "../index";
export { capstream_manifest, capstream_run } from "../index";

const MANIFEST = `{
  "name": "echo",
  "title": "Echo",
  "description": "Returns its input text unchanged, and logs one line.",
  "inputSchema": {
    "type": "object",
    "properties": {"text": {"type": "string", "description": "Text to echo back"}},
    "required": ["text"],
    "additionalProperties": false
  },
  "annotations": {"readOnlyHint": true, "openWorldHint": false}
}`;

function run(call: Call, input: Value): Value {
  const text = input.getString("text");
  const err = call.log(Level.Info, "echoing " + String.UTF8.byteLength(text).toString() + " bytes");
  if (err !== null) return call.fail(err);
  return Value.object().setString("text", text);
}

register(MANIFEST, run);
