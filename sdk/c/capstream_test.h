/*
 * capstream_test.h: an in-memory capstream host for native tests of a tool
 * written with capstream.h, as the Go SDK's sdktest is for Go tools.
 *
 * Compile the tool's file for the machine you are on, and link it with one
 * test file that includes this header (which defines the cs_sys_* functions
 * the tool imports):
 *
 *     #include "capstream_test.h"
 *
 *     int main(void) {
 *         cs_test_result r = cs_test_call("{\"name\":\"Ada\"}");
 *         CS_TEST_EXPECT_STR(r.output, "{\"greeting\":\"Hello, Ada!\"}");
 *         CS_TEST_EXPECT_STR(r.events, "host.log {\"level\":\"info\",\"message\":\"greeting Ada\"}");
 *         return cs_test_failures();
 *     }
 *
 *     cc -I path/to/sdk/c -o hello_test hello.c hello_test.c && ./hello_test
 *
 * The host makes the checks the runtime makes on arguments (log levels,
 * progress that must increase, key and value sizes, JSON output) and grants
 * what the tool's manifest needs, as a permissive policy would: KV (with
 * write if the manifest asks for it) and HTTP through cs_test.http. It does
 * not check the input against the schema, match URLs against rules, or
 * apply limits of time, memory, output, events or host calls; a trap
 * (cs_abort) ends the test program. Events are rendered as the Go SDK's
 * sdktest renders them: "host.log {"level":"info","message":"hi"}", with
 * sorted keys, one per line.
 */
#ifndef CAPSTREAM_TEST_H
#define CAPSTREAM_TEST_H

#if defined(__wasm__)
#error "capstream_test.h is a host for native tests; a tool built for wasm32 includes capstream.h only"
#endif

#include "capstream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cs_test_http_func answers an outbound request (JSON, as the tool sent
 * it) with the response JSON the host stages: {"status", "headers",
 * "body", "url"}. It returns CS_OK, or a negative code with the message in
 * response. */
typedef int (*cs_test_http_func)(cs_json request, cs_buf *response);

/* cs_test_config is what the host grants. The zero value grants what the
 * manifest needs, with no HTTP upstream. */
typedef struct cs_test_config {
    bool deny_kv;            /* refuse every KV call */
    bool read_only_kv;       /* refuse kv_set and kv_delete */
    cs_test_http_func http;  /* NULL: refuse every request */
    const char *claims;      /* capability claims; NULL: made from the manifest */
} cs_test_config;

/* cs_test is the host's configuration: set it before a call. */
cs_test_config cs_test;

/* cs_test_result is how a call ended. Its strings are valid until the next
 * call. */
typedef struct cs_test_result {
    int rc;             /* what capstream_run returned */
    const char *output; /* the result JSON; "null" if none was set */
    const char *error;  /* the tool error message; NULL if rc is 0 */
    const char *events; /* the host events, one per line; "" if none */
    size_t event_count;
} cs_test_result;

typedef struct cs__test_kv {
    cs_buf key, value;
} cs__test_kv;

/* The host's state: one call at a time. */
static struct {
    cs_buf manifest, claims, input, staged, output, error, events;
    bool have_output, in_manifest, have_progress;
    double progress;
    size_t event_count;
    cs__test_kv *kv;
    size_t kv_count;
    bool needs_kv, needs_kv_write, needs_http;
    char name[65];
    uint64_t random;
    int failures;
} cs__test;

/* Plumbing. */

static inline void cs__test_stage(const void *p, size_t n) {
    cs_buf_reset(&cs__test.staged);
    cs_buf_append(&cs__test.staged, p, n);
}

static inline int32_t cs__test_refuse(int32_t code, const char *msg) {
    cs__test_stage(msg, strlen(msg) > CS_MAX_ERROR_MESSAGE ? CS_MAX_ERROR_MESSAGE : strlen(msg));
    return code;
}

int32_t cs_sys_input(void) {
    cs__test_stage(cs__test.input.data, cs__test.input.len);
    return (int32_t)cs__test.input.len;
}

int32_t cs_sys_read(void *ptr, size_t len) {
    size_t n = len < cs__test.staged.len ? len : cs__test.staged.len;
    if (n) memcpy(ptr, cs__test.staged.data, n);
    return (int32_t)n;
}

int32_t cs_sys_set_output(const void *ptr, size_t len) {
    cs_json v;
    if (!cs_json_parse((const char *)ptr, len, &v)) return cs__test_refuse(CS_ERR_INVALID, "the output is not JSON");
    cs_buf_reset(&cs__test.output);
    cs_buf_append(&cs__test.output, ptr, len);
    cs__test.have_output = true;
    return CS_OK;
}

int32_t cs_sys_set_error(const void *ptr, size_t len) {
    cs_buf_reset(&cs__test.error);
    cs_buf_append(&cs__test.error, ptr, len > 4096 ? 4096 : len);
    return CS_OK;
}

/* Events. */

/* cs__test_event starts an event's line: "type {". The caller writes the
 * data's members in sorted order and calls cs__test_event_end. */
static inline cs_buf *cs__test_event(const char *type) {
    cs_buf *b = &cs__test.events;
    if (b->len) cs_buf_append_char(b, '\n');
    cs_buf_append_str(b, type);
    cs_buf_append_str(b, " {");
    cs__test.event_count++;
    return b;
}

static inline void cs__test_event_end(void) { cs_buf_append_char(&cs__test.events, '}'); }

/* cs__test_decision writes "denied" or "error" for a refusal. */
static inline void cs__test_decision(cs_buf *b, const char *grant, int32_t code, const char *msg) {
    if (code == CS_ERR_DENIED) {
        cs_put_key(b, "denied");
        cs_put_object(b);
        cs_put_key(b, "grant");
        cs_put_string(b, grant);
        cs_put_key(b, "reason");
        cs_put_string(b, msg);
    } else {
        cs_put_key(b, "error");
        cs_put_object(b);
        cs_put_key(b, "code");
        cs_put_string(b, cs_code_name(code));
        cs_put_key(b, "message");
        cs_put_string(b, msg);
    }
    cs_put_object_end(b);
}

/* cs__test_act refuses a host call while the manifest is read. */
static inline bool cs__test_act(void) {
    if (!cs__test.in_manifest) return true;
    cs__test_refuse(CS_ERR_DENIED, "host calls are not allowed while the manifest is read");
    return false;
}

int32_t cs_sys_log(int32_t level, const void *ptr, size_t len) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (!cs__test_act()) return CS_ERR_DENIED;
    cs_buf *b = cs__test_event("host.log");
    if (level < 0 || level > 3) {
        char msg[64], name[32];
        snprintf(msg, sizeof msg, "unknown log level %d", (int)level);
        snprintf(name, sizeof name, "Level(%d)", (int)level);
        cs__test_decision(b, "log", CS_ERR_INVALID, msg);
        cs_put_key(b, "level");
        cs_put_string(b, name);
        cs__test_event_end();
        return cs__test_refuse(CS_ERR_INVALID, msg);
    }
    if (len > 64 << 10) {
        const char *msg = "a log message is at most 65536 bytes";
        cs__test_decision(b, "log", CS_ERR_TOO_LARGE, msg);
        cs_put_key(b, "level");
        cs_put_string(b, names[level]);
        cs__test_event_end();
        return cs__test_refuse(CS_ERR_TOO_LARGE, msg);
    }
    cs_put_key(b, "level");
    cs_put_string(b, names[level]);
    cs_put_key(b, "message");
    cs_put_string_n(b, (const char *)ptr, len);
    cs__test_event_end();
    return CS_OK;
}

int32_t cs_sys_progress(double progress, double total, const void *ptr, size_t len) {
    if (!cs__test_act()) return CS_ERR_DENIED;
    cs_buf *b = cs__test_event("host.progress");
    const char *msg = NULL;
    char text[96];
    if (progress != progress || total != total || progress - progress != 0 || total - total != 0) {
        msg = "progress and total must be finite numbers";
    } else if (cs__test.have_progress && progress <= cs__test.progress) {
        snprintf(text, sizeof text, "progress %g does not increase from %g", progress, cs__test.progress);
        msg = text;
    } else if (len > 64 << 10) {
        msg = "a progress message is at most 65536 bytes";
    }
    if (msg) {
        cs__test_decision(b, "progress", CS_ERR_INVALID, msg);
        cs__test_event_end();
        return cs__test_refuse(CS_ERR_INVALID, msg);
    }
    cs__test.progress = progress;
    cs__test.have_progress = true;
    if (len) {
        cs_put_key(b, "message");
        cs_put_string_n(b, (const char *)ptr, len);
    }
    cs_put_key(b, "progress");
    cs_put_number(b, progress);
    if (total > 0) {
        cs_put_key(b, "total");
        cs_put_number(b, total);
    }
    cs__test_event_end();
    return CS_OK;
}

int32_t cs_sys_output(const void *ptr, size_t len) {
    if (!cs__test_act()) return CS_ERR_DENIED;
    cs_buf *b = cs__test_event("host.output");
    cs_put_key(b, "chunk");
    cs_put_string_n(b, (const char *)ptr, len);
    cs__test_event_end();
    return CS_OK;
}

int32_t cs_sys_capability(void) {
    if (!cs__test_act()) return CS_ERR_DENIED;
    cs_buf *b = cs__test_event("host.capability");
    cs_put_key(b, "bytes");
    cs_put_int(b, (int64_t)cs__test.claims.len);
    cs__test_event_end();
    cs__test_stage(cs__test.claims.data, cs__test.claims.len);
    return (int32_t)cs__test.claims.len;
}

/* HTTP. */

int32_t cs_sys_http(const void *ptr, size_t len) {
    if (!cs__test_act()) return CS_ERR_DENIED;
    cs_json req;
    cs_buf method = {NULL, 0, 0}, url = {NULL, 0, 0}, resp = {NULL, 0, 0};
    if (!cs_json_parse((const char *)ptr, len, &req) || cs_json_kind(req) != CS_OBJECT) {
        cs_buf *b = cs__test_event("host.http");
        cs__test_decision(b, "http", CS_ERR_INVALID, "the request is not JSON");
        cs__test_event_end();
        return cs__test_refuse(CS_ERR_INVALID, "the request is not JSON");
    }
    if (!cs_json_string(cs_json_get(req, "method"), &method) || method.len == 0) {
        cs_buf_reset(&method);
        cs_buf_append_str(&method, "GET");
    }
    cs_json_string(cs_json_get(req, "url"), &url);
    size_t shown = strcspn(cs_buf_str(&url), "?#"); /* the query may carry secrets */
    int32_t code = CS_OK;
    const char *msg = NULL;
    if (!cs__test.needs_http) {
        code = CS_ERR_DENIED;
        msg = "the manifest needs no HTTP";
    } else if (!cs_test.http) {
        code = CS_ERR_DENIED;
        msg = "the test host has no HTTP upstream (set cs_test.http)";
    } else {
        code = cs_test.http(req, &resp);
        msg = cs_buf_str(&resp);
    }
    cs_json answer = {NULL, 0};
    int64_t status = 0;
    cs_json body = {NULL, 0};
    if (code == CS_OK) {
        if (!cs_json_parse(resp.data, resp.len, &answer) ||
            !cs_json_int(cs_json_get(answer, "status"), &status) ||
            cs_json_kind(body = cs_json_get(answer, "body")) != CS_STRING) {
            code = CS_ERR_UPSTREAM;
            msg = "cs_test.http answered something other than {status, headers, body, url}";
        }
    }
    cs_buf *b = cs__test_event("host.http");
    cs_buf decoded = {NULL, 0, 0};
    cs_json_string(body, &decoded);
    cs_put_key(b, "bytes");
    cs_put_int(b, (int64_t)decoded.len);
    if (code < 0) cs__test_decision(b, "http", code, msg);
    cs_put_key(b, "durationMs");
    cs_put_int(b, 0);
    cs_put_key(b, "method");
    cs_put_string_n(b, method.data, method.len);
    if (code == CS_OK) {
        cs_put_key(b, "status");
        cs_put_int(b, status);
    }
    cs_put_key(b, "url");
    cs_put_string_n(b, cs_buf_str(&url), shown);
    cs__test_event_end();
    int32_t rc = code < 0 ? cs__test_refuse(code, msg) : (cs__test_stage(resp.data, resp.len), (int32_t)resp.len);
    cs_buf_free(&method);
    cs_buf_free(&url);
    cs_buf_free(&resp);
    cs_buf_free(&decoded);
    return rc;
}

/* KV. */

static inline cs__test_kv *cs__test_kv_find(const void *key, size_t n) {
    for (size_t i = 0; i < cs__test.kv_count; i++)
        if (cs__test.kv[i].key.len == n && memcmp(cs__test.kv[i].key.data, key, n) == 0) return &cs__test.kv[i];
    return NULL;
}

/* cs__test_kv_check starts a host.kv event and checks the grant and the
 * key; it returns CS_OK, or a refusal it has recorded and staged. */
static inline int32_t cs__test_kv_check(const char *op, const void *key, size_t n, bool write, cs_buf **event) {
    const char *msg = NULL;
    int32_t code = CS_OK;
    if (!cs__test.needs_kv || cs_test.deny_kv) {
        code = CS_ERR_DENIED;
        msg = "the capability grants no key-value storage";
    } else if (write && (!cs__test.needs_kv_write || cs_test.read_only_kv)) {
        code = CS_ERR_DENIED;
        msg = "the capability grants read-only key-value storage";
    } else if (n == 0 && strcmp(op, "list") != 0) {
        code = CS_ERR_INVALID;
        msg = "the key is empty";
    } else if (n > 1024) {
        code = CS_ERR_TOO_LARGE;
        msg = "a key is at most 1024 bytes";
    }
    *event = cs__test_event("host.kv");
    if (code == CS_OK) return CS_OK;
    cs__test_decision(*event, "kv", code, msg);
    cs_put_key(*event, "key");
    cs_put_string_n(*event, code == CS_ERR_TOO_LARGE ? "" : (const char *)key, code == CS_ERR_TOO_LARGE ? 0 : n);
    cs_put_key(*event, "op");
    cs_put_string(*event, op);
    cs__test_event_end();
    return cs__test_refuse(code, msg);
}

static inline void cs__test_kv_end(cs_buf *b, const char *op, const void *key, size_t n) {
    cs_put_key(b, "key");
    cs_put_string_n(b, (const char *)key, n);
    cs_put_key(b, "op");
    cs_put_string(b, op);
    cs__test_event_end();
}

int32_t cs_sys_kv_get(const void *key, size_t n) {
    cs_buf *b;
    if (!cs__test_act()) return CS_ERR_DENIED;
    int32_t rc = cs__test_kv_check("get", key, n, false, &b);
    if (rc < 0) return rc;
    cs__test_kv *e = cs__test_kv_find(key, n);
    if (e) {
        cs_put_key(b, "bytes");
        cs_put_int(b, (int64_t)e->value.len);
    }
    cs_put_key(b, "hit");
    cs_put_bool(b, e != NULL);
    cs__test_kv_end(b, "get", key, n);
    if (!e) return cs__test_refuse(CS_ERR_NOT_FOUND, "no such key");
    cs__test_stage(e->value.data, e->value.len);
    return (int32_t)e->value.len;
}

/* cs_test_kv_put stores a value in the host's KV namespace, as a test's
 * seed. */
static inline void cs_test_kv_put(const char *key, size_t klen, const void *value, size_t vlen) {
    cs__test_kv *e = cs__test_kv_find(key, klen);
    if (!e) {
        cs__test.kv = (cs__test_kv *)realloc(cs__test.kv, (cs__test.kv_count + 1) * sizeof *cs__test.kv);
        if (!cs__test.kv) cs_abort("capstream_test: out of memory");
        e = &cs__test.kv[cs__test.kv_count++];
        memset(e, 0, sizeof *e);
        cs_buf_append(&e->key, key, klen);
    }
    cs_buf_reset(&e->value);
    cs_buf_append(&e->value, value, vlen);
    cs_buf_reserve(&e->value, 0);
}

int32_t cs_sys_kv_set(const void *key, size_t klen, const void *value, size_t vlen) {
    cs_buf *b;
    if (!cs__test_act()) return CS_ERR_DENIED;
    int32_t rc = cs__test_kv_check("set", key, klen, true, &b);
    if (rc < 0) return rc;
    cs_put_key(b, "bytes");
    cs_put_int(b, (int64_t)vlen);
    if (vlen > 1 << 20) {
        cs__test_decision(b, "kv", CS_ERR_TOO_LARGE, "a value is at most 1048576 bytes");
        cs__test_kv_end(b, "set", key, klen);
        return cs__test_refuse(CS_ERR_TOO_LARGE, "a value is at most 1048576 bytes");
    }
    cs__test_kv_end(b, "set", key, klen);
    cs_test_kv_put((const char *)key, klen, value, vlen);
    return CS_OK;
}

int32_t cs_sys_kv_delete(const void *key, size_t n) {
    cs_buf *b;
    if (!cs__test_act()) return CS_ERR_DENIED;
    int32_t rc = cs__test_kv_check("delete", key, n, true, &b);
    if (rc < 0) return rc;
    cs__test_kv *e = cs__test_kv_find(key, n);
    cs_put_key(b, "hit");
    cs_put_bool(b, e != NULL);
    cs__test_kv_end(b, "delete", key, n);
    if (e) {
        cs_buf_free(&e->key);
        cs_buf_free(&e->value);
        *e = cs__test.kv[--cs__test.kv_count];
    }
    return CS_OK;
}

static inline int cs__test_kv_order(const void *a, const void *b) {
    const cs__test_kv *x = (const cs__test_kv *)a, *y = (const cs__test_kv *)b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = memcmp(x->key.data, y->key.data, n);
    return c ? c : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

int32_t cs_sys_kv_list(const void *prefix, size_t n) {
    cs_buf *b, list = {NULL, 0, 0};
    if (!cs__test_act()) return CS_ERR_DENIED;
    int32_t rc = cs__test_kv_check("list", prefix, n, false, &b);
    if (rc < 0) return rc;
    if (cs__test.kv_count) qsort(cs__test.kv, cs__test.kv_count, sizeof *cs__test.kv, cs__test_kv_order);
    int64_t count = 0;
    cs_put_array(&list);
    for (size_t i = 0; i < cs__test.kv_count && count < 1000; i++) {
        const cs_buf *k = &cs__test.kv[i].key;
        if (k->len < n || memcmp(k->data, prefix, n) != 0) continue;
        cs_put_string_n(&list, k->data, k->len);
        count++;
    }
    cs_put_array_end(&list);
    cs_put_key(b, "count");
    cs_put_int(b, count);
    cs__test_kv_end(b, "list", prefix, n);
    cs__test_stage(list.data, list.len);
    cs_buf_free(&list);
    return (int32_t)cs__test.staged.len;
}

void cs_sys_random(void *buf, size_t len) {
    /* splitmix64: different bytes on every use, the same in every run. */
    unsigned char *p = (unsigned char *)buf;
    for (size_t i = 0; i < len; i++) {
        uint64_t z = (cs__test.random += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        p[i] = (unsigned char)(z ^ (z >> 31));
    }
}

/* The test API. */

/* cs_test_manifest runs the tool's capstream_manifest, with host calls
 * refused as the runtime refuses them, checks what it pushed (a JSON
 * object with a valid name and an inputSchema of type object) and returns
 * it; or prints why not and returns NULL. */
static inline bool cs__test_valid_name(const cs_buf *name) {
    if (name->len < 1 || name->len > 64 || name->data[0] < 'a' || name->data[0] > 'z') return false;
    return strspn(name->data, "abcdefghijklmnopqrstuvwxyz0123456789_-") == name->len;
}

static inline const char *cs_test_manifest(void) {
    cs_json m, needs;
    cs_buf name = {NULL, 0, 0};
    cs_buf_reset(&cs__test.output);
    cs_buf_reset(&cs__test.error);
    cs__test.have_output = false;
    cs__test.in_manifest = true;
    int32_t rc = capstream_manifest();
    cs__test.in_manifest = false;
    const char *why = NULL;
    if (rc != 0)
        why = cs__test.error.len ? cs__test.error.data : "capstream_manifest returned non-zero";
    else if (!cs__test.have_output || !cs_json_parse(cs__test.output.data, cs__test.output.len, &m) ||
             cs_json_kind(m) != CS_OBJECT)
        why = "the manifest is not a JSON object";
    else if (!cs_json_string(cs_json_get(m, "name"), &name) || !cs__test_valid_name(&name))
        why = "the manifest's name does not match ^[a-z][a-z0-9_-]{0,63}$";
    else if (!cs_json_equals(cs_json_get(cs_json_get(m, "inputSchema"), "type"), "object"))
        why = "the manifest's inputSchema is not an object schema with \"type\": \"object\"";
    if (why) {
        fprintf(stderr, "capstream_test: invalid manifest: %s\n", why);
        cs__test.failures++;
        return NULL;
    }
    cs_buf_reset(&cs__test.manifest);
    cs_buf_append(&cs__test.manifest, cs__test.output.data, cs__test.output.len);
    memcpy(cs__test.name, name.data, name.len + 1);
    cs_buf_free(&name);
    needs = cs_json_get(m, "needs");
    bool write = false;
    cs__test.needs_kv = cs_json_kind(cs_json_get(needs, "kv")) == CS_OBJECT;
    cs__test.needs_kv_write = cs_json_bool(cs_json_get(cs_json_get(needs, "kv"), "write"), &write) && write;
    cs__test.needs_http = cs_json_count(cs_json_get(needs, "http")) > 0;
    return cs__test.manifest.data;
}

/* cs__test_claims makes the claims a permissive policy would grant. */
static inline void cs__test_claims(void) {
    cs_buf *b = &cs__test.claims;
    static const char digest[] = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    cs_buf_reset(b);
    if (cs_test.claims) {
        cs_buf_append_str(b, cs_test.claims);
        return;
    }
    cs_put_object(b);
    cs_put_key(b, "iss"); cs_put_string(b, "capstream");
    cs_put_key(b, "sub"); cs_put_string(b, "tester");
    cs_put_key(b, "aud"); cs_put_array(b); cs_put_string(b, cs__test.name); cs_put_string(b, digest); cs_put_array_end(b);
    cs_put_key(b, "exp"); cs_put_int(b, 1767225630);
    cs_put_key(b, "iat"); cs_put_int(b, 1767225600);
    cs_put_key(b, "jti"); cs_put_string(b, "cstest-call");
    cs_put_key(b, "roles"); cs_put_array(b); cs_put_string(b, "tester"); cs_put_array_end(b);
    cs_put_key(b, "digest"); cs_put_string(b, digest);
    cs_put_key(b, "cap");
    cs_put_object(b);
    cs_put_key(b, "http");
    cs_put_array(b);
    if (cs__test.needs_http && cs_test.http) cs_put_raw(b, "{\"url\":\"*\",\"methods\":[\"*\"]}", strlen("{\"url\":\"*\",\"methods\":[\"*\"]}"));
    cs_put_array_end(b);
    if (cs__test.needs_kv && !cs_test.deny_kv) {
        cs_put_key(b, "kv");
        cs_put_object(b);
        char ns[80];
        snprintf(ns, sizeof ns, "%s/tester", cs__test.name);
        cs_put_key(b, "namespace"); cs_put_string(b, ns);
        cs_put_key(b, "read"); cs_put_bool(b, true);
        cs_put_key(b, "write"); cs_put_bool(b, cs__test.needs_kv_write && !cs_test.read_only_kv);
        cs_put_key(b, "quota"); cs_put_int(b, 1 << 20);
        cs_put_object_end(b);
    }
    cs_put_key(b, "limits");
    static const char limits[] =
        "{\"timeoutMs\":30000,\"memoryBytes\":67108864,\"outputBytes\":1048576,\"events\":1000,\"hostCalls\":500}";
    cs_put_raw(b, limits, sizeof limits - 1);
    cs_put_object_end(b);
    cs_put_object_end(b);
}

/* cs_test_call runs the tool's capstream_run with input (a JSON object) and
 * returns how it ended. */
static inline cs_test_result cs_test_call(const char *input) {
    cs_test_result r;
    if (!cs__test.manifest.len && !cs_test_manifest()) cs_abort("capstream_test: no valid manifest");
    cs__test_claims();
    cs_buf_reset(&cs__test.input);
    cs_buf_append_str(&cs__test.input, input);
    cs_buf_reset(&cs__test.output);
    cs_buf_reset(&cs__test.error);
    cs_buf_reset(&cs__test.events);
    cs_buf_reserve(&cs__test.events, 0);
    cs__test.event_count = 0;
    cs__test.have_output = cs__test.have_progress = false;
    r.rc = capstream_run();
    if (r.rc == 0 && !cs__test.have_output) cs_buf_append_str(&cs__test.output, "null");
    if (r.rc != 0 && cs__test.error.len == 0) cs_buf_printf(&cs__test.error, "the tool returned %d", r.rc);
    r.output = r.rc == 0 ? cs__test.output.data : NULL;
    r.error = r.rc != 0 ? cs__test.error.data : NULL;
    r.events = cs__test.events.data;
    r.event_count = cs__test.event_count;
    return r;
}

/* cs_test_kv_value returns the value stored under key (NUL-terminated), or
 * NULL. */
static inline const char *cs_test_kv_value(const char *key) {
    cs__test_kv *e = cs__test_kv_find(key, strlen(key));
    return e ? cs_buf_str(&e->value) : NULL;
}

/* cs_test_kv_count returns the number of keys stored. */
static inline size_t cs_test_kv_count(void) { return cs__test.kv_count; }

/* cs_test_reset empties the KV namespace and resets cs_test. */
static inline void cs_test_reset(void) {
    for (size_t i = 0; i < cs__test.kv_count; i++) {
        cs_buf_free(&cs__test.kv[i].key);
        cs_buf_free(&cs__test.kv[i].value);
    }
    cs__test.kv_count = 0;
    memset(&cs_test, 0, sizeof cs_test);
}

/* cs_test_failures returns the number of failed expectations so far: the
 * exit status of a test's main. */
static inline int cs_test_failures(void) { return cs__test.failures; }

static inline void cs__test_expect_str(const char *file, int line, const char *expr, const char *got, const char *want) {
    if (got && want ? strcmp(got, want) == 0 : got == want) return;
    fprintf(stderr, "%s:%d: %s\n\tgot  %s\n\twant %s\n", file, line, expr, got ? got : "(null)", want ? want : "(null)");
    cs__test.failures++;
}

static inline void cs__test_expect(const char *file, int line, const char *expr, bool ok) {
    if (ok) return;
    fprintf(stderr, "%s:%d: expected %s\n", file, line, expr);
    cs__test.failures++;
}

/* CS_TEST_EXPECT_STR reports a failure unless the strings got and want are
 * equal (or both NULL). */
#define CS_TEST_EXPECT_STR(got, want) cs__test_expect_str(__FILE__, __LINE__, #got, (got), (want))

/* CS_TEST_EXPECT reports a failure unless cond holds. */
#define CS_TEST_EXPECT(cond) cs__test_expect(__FILE__, __LINE__, #cond, (cond))

#ifdef __cplusplus
}
#endif

#endif /* CAPSTREAM_TEST_H */
