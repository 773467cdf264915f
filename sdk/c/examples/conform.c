// conform is the C SDK's conformance tool: it does what
// sdk/conformance/SPEC.md says, as every other language's conform does, so
// that one table of scenarios checks them all. It uses the SDK's public API
// throughout; only badptr calls an import directly.
//
// Build: make examples
#include "../capstream.h"

// ok sets the output {"ok": true}.
static int ok(void) {
    static const char json[] = "{\"ok\":true}";
    int rc = cs_set_output(json, sizeof json - 1);
    return rc < 0 ? cs_error(cs_strerror(rc)) : 0;
}

// refusal makes a host function's refusal the call's output:
// {"error": {"code": code, "message": <the host's message>}}.
static int refusal(int code) {
    cs_buf out = {0};
    cs_put_object(&out);
    cs_put_key(&out, "error");
    cs_put_object(&out);
    cs_put_key(&out, "code");
    cs_put_int(&out, code);
    cs_put_key(&out, "message");
    cs_put_string(&out, cs_last_message());
    cs_put_object_end(&out);
    cs_put_object_end(&out);
    return cs_finish(&out);
}

// arg reads the string argument name into out: "" when it is absent.
static void arg(cs_json in, const char *name, cs_buf *out) {
    cs_buf_reset(out);
    cs_json_string(cs_json_get(in, name), out);
    cs_buf_reserve(out, 0);
}

static int events(void) {
    static const char *const messages[] = {"debug", "info", "warn", "error \xc3\xbc"};
    for (int level = CS_LOG_DEBUG; level <= CS_LOG_ERROR; level++) {
        int rc = cs_log(level, messages[level]);
        if (rc < 0) return cs_error(cs_strerror(rc));
    }
    static const struct {
        double progress, total;
        const char *msg;
    } steps[] = {{1, 3, "one"}, {2, 3, ""}, {3, 0, ""}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int rc = cs_progress(steps[i].progress, steps[i].total, steps[i].msg);
        if (rc < 0) return cs_error(cs_strerror(rc));
    }
    int rc = cs_output("partial \xc3\xa9");
    if (rc < 0) return cs_error(cs_strerror(rc));
    return ok();
}

static int http(cs_json in) {
    cs_buf url = {0}, method = {0}, out = {0};
    arg(in, "url", &url);
    arg(in, "method", &method);
    cs_http_request req = {0};
    req.method = method.data;
    req.url = url.data;
    cs_http_response resp;
    int rc = cs_http(&req, &resp);
    if (rc < 0) return refusal(rc);
    cs_put_object(&out);
    cs_put_key(&out, "status");
    cs_put_int(&out, resp.status);
    cs_put_key(&out, "url");
    cs_put_string_n(&out, resp.url.ptr, resp.url.len);
    cs_put_key(&out, "body");
    cs_put_string_n(&out, resp.body.ptr, resp.body.len);
    cs_put_key(&out, "contentType");
    cs_put_string(&out, cs_http_header_get(&resp, "Content-Type"));
    cs_put_object_end(&out);
    cs_http_response_free(&resp);
    return cs_finish(&out);
}

static int kv(cs_json in, const char *op) {
    cs_buf key = {0}, value = {0}, out = {0};
    arg(in, "key", &key);
    int rc;
    if (strcmp(op, "kv_set") == 0) {
        arg(in, "value", &value);
        rc = cs_kv_set_n(key.data, key.len, value.data, value.len);
        return rc < 0 ? refusal(rc) : ok();
    }
    if (strcmp(op, "kv_get") == 0) {
        rc = cs_kv_get_n(key.data, key.len, &value);
        if (rc < 0) return refusal(rc);
        cs_put_object(&out);
        cs_put_key(&out, "value");
        cs_put_string_n(&out, cs_buf_str(&value), value.len);
        cs_put_object_end(&out);
        return cs_finish(&out);
    }
    if (strcmp(op, "kv_delete") == 0) {
        rc = cs_kv_delete_n(key.data, key.len);
        return rc < 0 ? refusal(rc) : ok();
    }
    cs_buf prefix = {0};
    cs_strings keys;
    arg(in, "prefix", &prefix);
    rc = cs_kv_list_n(prefix.data, prefix.len, &keys);
    if (rc < 0) return refusal(rc);
    cs_put_object(&out);
    cs_put_key(&out, "keys");
    cs_put_array(&out);
    for (size_t i = 0; i < keys.count; i++) cs_put_string_n(&out, keys.items[i].ptr, keys.items[i].len);
    cs_put_array_end(&out);
    cs_put_object_end(&out);
    cs_strings_free(&keys);
    return cs_finish(&out);
}

static int capability(void) {
    cs_buf claims = {0}, out = {0};
    int rc = cs_capability(&claims);
    if (rc < 0) return refusal(rc);
    cs_put_object(&out);
    cs_put_key(&out, "claims");
    cs_put_raw(&out, claims.data, claims.len);
    cs_put_object_end(&out);
    return cs_finish(&out);
}

// alloc takes mib MiB from the heap and writes one byte in every 4 KiB, so
// that the memory is really there. Running out of memory aborts, which the
// host reports as memory_limit.
static int alloc(cs_json in) {
    double mib = 0;
    cs_json_number(cs_json_get(in, "mib"), &mib);
    if (!(mib >= 0 && mib < 4096)) cs_abort("alloc: mib out of range");
    size_t n = (size_t)mib << 20;
    volatile char *p = (volatile char *)malloc(n ? n : 1);
    if (!p) cs_abort("alloc: out of memory");
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    return ok();
}

static int run(cs_json in) {
    cs_json op = cs_json_get(in, "op");
    if (cs_json_equals(op, "echo")) {
        cs_buf text = {0}, out = {0};
        arg(in, "text", &text);
        cs_put_object(&out);
        cs_put_key(&out, "echo");
        cs_put_string_n(&out, text.data, text.len);
        cs_put_object_end(&out);
        return cs_finish(&out);
    }
    if (cs_json_equals(op, "input")) {
        int rc = cs_set_output(in.ptr, in.len);
        return rc < 0 ? cs_error(cs_strerror(rc)) : 0;
    }
    if (cs_json_equals(op, "events")) return events();
    if (cs_json_equals(op, "http")) return http(in);
    static const char *const kv_ops[] = {"kv_set", "kv_get", "kv_delete", "kv_list"};
    for (size_t i = 0; i < sizeof kv_ops / sizeof kv_ops[0]; i++)
        if (cs_json_equals(op, kv_ops[i])) return kv(in, kv_ops[i]);
    if (cs_json_equals(op, "capability")) return capability();
    if (cs_json_equals(op, "fail")) {
        cs_buf msg = {0};
        arg(in, "message", &msg);
        return cs_error_n(msg.data, msg.len);
    }
    if (cs_json_equals(op, "trap")) {
        cs_buf msg = {0};
        arg(in, "message", &msg);
        cs_abort(msg.data);
    }
    if (cs_json_equals(op, "badptr")) {
        cs_sys_log(CS_LOG_INFO, (const void *)(uintptr_t)0xFFFFFF00u, 512);
        return ok();
    }
    if (cs_json_equals(op, "alloc")) return alloc(in);
    if (cs_json_equals(op, "spin")) {
        for (volatile unsigned i = 0;; i++) {
        }
    }
    if (cs_json_equals(op, "flood")) {
        char chunk[1024];
        memset(chunk, 'x', sizeof chunk);
        for (;;) {
            int rc = cs_output_n(chunk, sizeof chunk);
            if (rc < 0) return cs_error(cs_strerror(rc));
        }
    }
    if (cs_json_equals(op, "calls")) {
        for (;;) {
            int rc = cs_log(CS_LOG_DEBUG, "tick");
            if (rc < 0) return cs_error(cs_strerror(rc));
        }
    }
    cs_buf msg = {0};
    cs_buf_append_str(&msg, "unknown op: ");
    cs_json_string(op, &msg);
    return cs_error_n(msg.data, msg.len);
}

CAPSTREAM_TOOL(CS_JSON({
    "name": "conform",
    "title": "Conformance",
    "description": "Runs one scenario of capstream's cross-language conformance suite.",
    "inputSchema": {"type": "object", "properties": {"op": {"type": "string"}}, "required": ["op"]},
    "needs": {"http": [{"url": "*", "methods": ["GET"]}], "kv": {"write": true}}
}), run)
