// echo returns its input text unchanged and logs one line: plugins/echo,
// written in C.
//
// Build: make examples (clang --target=wasm32-wasi -mexec-model=reactor -Oz
// -Wl,-z,stack-size=65536 -o echo.wasm echo.c)
#include "../capstream.h"

// same_fold reports whether key equals name ignoring ASCII case.
static bool same_fold(const cs_buf *key, const char *name) {
    if (key->len != strlen(name)) return false;
    for (size_t i = 0; i < key->len; i++) {
        char a = key->data[i], b = name[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a != b) return false;
    }
    return true;
}

// decode reads the members of the input named in names (lowercase) into
// out, as Go's encoding/json decodes an object into a struct of string
// fields: a key matches a field ignoring ASCII case, a later member
// replaces an earlier one, null changes nothing, and the first member of
// another type fails the call. (The runtime checks inputs against the
// schema first, which admits only strings under the exact names.)
static bool decode(cs_json in, const char *const *names, cs_buf *out, size_t n) {
    cs_json key, value;
    cs_json bad = {0};
    const char *bad_name = NULL;
    cs_buf k = {0};
    cs_json_iter it = cs_json_iterate(in);
    while (cs_json_next(&it, &key, &value)) {
        cs_buf_reset(&k);
        cs_json_string(key, &k);
        for (size_t i = 0; i < n; i++) {
            if (!same_fold(&k, names[i]) || cs_json_is_null(value)) continue;
            cs_buf_reset(&out[i]);
            if (!cs_json_string(value, &out[i]) && !bad_name) {
                bad = value;
                bad_name = names[i];
            }
        }
    }
    cs_buf_free(&k);
    for (size_t i = 0; i < n; i++) cs_buf_reserve(&out[i], 0);
    if (!bad_name) return true;
    cs_buf msg = {0};
    cs_buf_append_str(&msg, "invalid input: field \"");
    cs_buf_append_str(&msg, bad_name);
    cs_buf_append_str(&msg, "\": want a string, got ");
    cs_buf_append_str(&msg, cs_kind_name(cs_json_kind(bad)));
    cs_error_n(msg.data, msg.len);
    return false;
}

static int run(cs_json in) {
    static const char *const fields[] = {"text"};
    cs_buf text = {0}, msg = {0}, out = {0};
    if (!decode(in, fields, &text, 1)) return 1;

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
