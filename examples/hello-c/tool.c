// hello is a capstream tool template in C: it greets someone by name.
// Copy this directory, rename the tool and replace the logic (README.md).
//
// Build: make (clang --target=wasm32-wasi -mexec-model=reactor -Oz
// -Wl,-z,stack-size=65536 -I../../sdk/c -o hello.wasm tool.c)
#include "capstream.h"

// run is called once per call, in a fresh instance, with the call's input:
// a JSON object that the runtime has already checked against the manifest's
// inputSchema. It returns cs_finish(&output), or cs_error(message) to fail
// the call.
static int run(cs_json in) {
    cs_buf name = {0}, greeting = {0}, out = {0};
    if (!cs_json_string(cs_json_get(in, "name"), &name)) return cs_error("name must be a string");

    int rc = cs_logf(CS_LOG_INFO, "greeting %s", name.data);
    if (rc < 0) return cs_errorf("logging: %s", cs_strerror(rc));

    cs_buf_printf(&greeting, "Hello, %s!", name.data);
    cs_put_object(&out);
    cs_put_key(&out, "greeting");
    cs_put_string_n(&out, greeting.data, greeting.len);
    cs_put_object_end(&out);
    return cs_finish(&out);
}

// The manifest: what the runtime reads from the module when it loads it.
// The runtime checks every input against inputSchema before the call.
CAPSTREAM_TOOL(CS_JSON({
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
}), run)
