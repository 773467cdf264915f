// hello is a capstream tool template: it greets someone by name. Copy this
// directory, rename the tool and replace the logic (README.md).

import { Call, Level, Value, register } from "capstream-as";
export { capstream_manifest, capstream_run } from "capstream-as";

// The manifest: the tool's name (what callers and policies use), what it
// does, and the JSON Schema the runtime checks every input against.
const MANIFEST = `{
  "name": "hello",
  "title": "Hello",
  "description": "Greets someone by name.",
  "inputSchema": {
    "type": "object",
    "properties": {
      "name": {"type": "string", "description": "Who to greet", "minLength": 1, "maxLength": 100}
    },
    "required": ["name"],
    "additionalProperties": false
  },
  "annotations": {"readOnlyHint": true, "openWorldHint": false}
}`;

function run(call: Call, input: Value): Value {
  const name = input.getString("name");
  const err = call.log(Level.Info, "greeting " + name);
  if (err !== null) return call.fail(err);
  return Value.object().setString("greeting", "Hello, " + name + "!");
}

register(MANIFEST, run);
