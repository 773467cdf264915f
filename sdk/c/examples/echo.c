// echo returns its input text unchanged and logs one line: plugins/echo,
// written in C.
//
// Build: make examples (clang --target=wasm32-wasi -mexec-model=reactor -Oz
// -Wl,-z,stack-size=65536 -o echo.wasm echo.c)
#include "../capstream.h"

// run echoes the input's text. The runtime has checked the input against
// inputSchema, so text is there and a string.
static int run(cs_json in) {
    cs_buf text = {0}, msg = {0}, out = {0};
    if (!cs_json_string(cs_json_get(in, "text"), &text)) return cs_error("text must be a string");

    cs_buf_append_str(&msg, "echoing ");
    cs_buf_append_int(&msg, (int64_t)text.len);
    cs_buf_append_str(&msg, " bytes");
    int rc = cs_log_n(CS_LOG_INFO, msg.data, msg.len);
    if (rc < 0) return cs_error(cs_strerror(rc));

    cs_put_object(&out);
    cs_put_key(&out, "text");
    cs_put_string_n(&out, cs_buf_str(&text), text.len);
    cs_put_object_end(&out);
    return cs_finish(&out);
}

CAPSTREAM_TOOL(CS_JSON({
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
}), run)
