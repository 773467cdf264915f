/*
 * capstream.h: the capstream SDK for C and C++, in one header.
 *
 * A tool is a C file that includes this header, writes a run function and
 * names it, with the tool's manifest, in CAPSTREAM_TOOL:
 *
 *     #include "capstream.h"
 *
 *     static int run(cs_json in) {
 *         cs_buf name = {0}, out = {0};
 *         cs_json_string(cs_json_get(in, "name"), &name);
 *         cs_log(CS_LOG_INFO, "greeting someone");
 *         cs_put_object(&out);
 *         cs_put_key(&out, "greeting");
 *         cs_put_string(&out, name.data);
 *         cs_put_object_end(&out);
 *         return cs_finish(&out);
 *     }
 *
 *     CAPSTREAM_TOOL(CS_JSON({"name": "hello", "inputSchema": {"type": "object"}}), run)
 *
 * Build it with clang and wasi-libc as a WASI reactor with a 64 KiB stack:
 *
 *     clang --target=wasm32-wasi -mexec-model=reactor -Oz -Wl,-z,stack-size=65536 \
 *           -o hello.wasm hello.c
 *
 * README.md documents the API; sdk/ABI.md (in the capstream repository) is
 * the ABI it implements. Every function is static inline, so what a tool
 * does not call costs nothing. Compiled for another target than wasm32 (for
 * native tests), the cs_sys_* functions are plain external functions that
 * the test provides; capstream_test.h is such a host.
 */
#ifndef CAPSTREAM_H
#define CAPSTREAM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__wasi__)
#include <wasi/api.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Limits and codes
 * ------------------------------------------------------------------------ */

/* CS_JSON_MAX_DEPTH bounds the nesting of arrays and objects the JSON reader
 * accepts: 10000, as Go's encoding/json. The reader keeps one bit per level
 * on the stack. Define it before including this header to change it. */
#ifndef CS_JSON_MAX_DEPTH
#define CS_JSON_MAX_DEPTH 10000
#endif

/* CS_MAX_ERROR_MESSAGE is the longest message the host stages with an
 * error code. */
#define CS_MAX_ERROR_MESSAGE 1024

/* Results of host functions: CS_OK, or one of the ABI's negative error
 * codes. After an error, cs_last_message() holds the host's message. */
#define CS_OK 0
#define CS_ERR_DENIED (-1)    /* the call's capability does not grant this */
#define CS_ERR_NOT_FOUND (-2) /* no such key */
#define CS_ERR_INVALID (-3)   /* a malformed argument */
#define CS_ERR_QUOTA (-4)     /* the KV write would exceed the quota */
#define CS_ERR_UPSTREAM (-5)  /* the outbound request failed */
#define CS_ERR_TOO_LARGE (-6) /* an argument is larger than the host accepts */
#define CS_ERR_STORAGE (-7)   /* the host's store failed; nothing was written */

/* Log levels for cs_log. */
#define CS_LOG_DEBUG 0
#define CS_LOG_INFO 1
#define CS_LOG_WARN 2
#define CS_LOG_ERROR 3

/* ------------------------------------------------------------------------
 * The imports of module capstream_v1, as sdk/ABI.md declares them. A
 * pointer and a size_t are both i32 on wasm32. The functions below wrap
 * them; a tool rarely needs these.
 * ------------------------------------------------------------------------ */

#if defined(__wasm__)
#define CS__IMPORT(name) __attribute__((import_module("capstream_v1"), import_name(name)))
#define CS__EXPORT(name) __attribute__((export_name(name)))
#else
#define CS__IMPORT(name)
#define CS__EXPORT(name)
#endif

CS__IMPORT("input") int32_t cs_sys_input(void);
CS__IMPORT("read") int32_t cs_sys_read(void *ptr, size_t len);
CS__IMPORT("set_output") int32_t cs_sys_set_output(const void *ptr, size_t len);
CS__IMPORT("set_error") int32_t cs_sys_set_error(const void *ptr, size_t len);
CS__IMPORT("log") int32_t cs_sys_log(int32_t level, const void *ptr, size_t len);
CS__IMPORT("progress") int32_t cs_sys_progress(double progress, double total, const void *ptr, size_t len);
CS__IMPORT("output") int32_t cs_sys_output(const void *ptr, size_t len);
CS__IMPORT("http") int32_t cs_sys_http(const void *ptr, size_t len);
CS__IMPORT("kv_get") int32_t cs_sys_kv_get(const void *key, size_t key_len);
CS__IMPORT("kv_set") int32_t cs_sys_kv_set(const void *key, size_t key_len, const void *value, size_t value_len);
CS__IMPORT("kv_delete") int32_t cs_sys_kv_delete(const void *key, size_t key_len);
CS__IMPORT("kv_list") int32_t cs_sys_kv_list(const void *prefix, size_t prefix_len);
CS__IMPORT("capability") int32_t cs_sys_capability(void);

#if !defined(__wasi__)
/* cs_sys_random fills buf with random bytes, for cs_random in native
 * builds; the test host provides it. */
void cs_sys_random(void *buf, size_t len);
#endif

/* The exports CAPSTREAM_TOOL defines. */
int32_t capstream_manifest(void);
int32_t capstream_run(void);

/* ------------------------------------------------------------------------
 * Aborting
 * ------------------------------------------------------------------------ */

static inline void cs__stderr(const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

/* cs_abort writes msg and a newline to stderr and traps. The call fails
 * with the code trap, and its message quotes msg (or with memory_limit, if
 * the memory could not grow before). */
__attribute__((noreturn)) static inline void cs_abort(const char *msg) {
    cs__stderr(msg, strlen(msg));
    cs__stderr("\n", 1);
    __builtin_trap();
}

/* cs_abortf is cs_abort with a printf-style message (at most 1 KiB). */
__attribute__((noreturn, format(printf, 1, 2))) static inline void cs_abortf(const char *format, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, format);
    vsnprintf(msg, sizeof msg, format, ap);
    va_end(ap);
    cs_abort(msg);
}

/* ------------------------------------------------------------------------
 * cs_buf: a growable byte buffer
 * ------------------------------------------------------------------------ */

/* cs_buf is a growable buffer of bytes. The zero value, cs_buf b = {0}, is
 * an empty buffer. data is NULL or holds len bytes followed by a NUL byte,
 * so that it can be used as a C string. Running out of memory aborts. */
typedef struct cs_buf {
    char *data;
    size_t len;
    size_t cap;
} cs_buf;

/* cs_buf_reserve makes room for n more bytes. */
static inline void cs_buf_reserve(cs_buf *b, size_t n) {
    if (b->cap > b->len && b->cap - b->len > n) return;
    size_t need = b->len + n + 1;
    if (need <= b->len) cs_abort("capstream: out of memory");
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *data = (char *)realloc(b->data, cap);
    if (!data) cs_abort("capstream: out of memory");
    data[b->len] = 0;
    b->data = data;
    b->cap = cap;
}

/* cs_buf_append appends the n bytes at p. */
static inline void cs_buf_append(cs_buf *b, const void *p, size_t n) {
    cs_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

/* cs_buf_append_str appends the C string s. */
static inline void cs_buf_append_str(cs_buf *b, const char *s) { cs_buf_append(b, s, strlen(s)); }

/* cs_buf_append_char appends one byte. */
static inline void cs_buf_append_char(cs_buf *b, char c) { cs_buf_append(b, &c, 1); }

/* cs__format_int writes n in decimal to out (at least 21 bytes), without a
 * NUL, and returns the length. */
static inline size_t cs__format_int(char *out, int64_t n) {
    char digits[21];
    size_t i = sizeof digits;
    uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
    do {
        digits[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (n < 0) digits[--i] = '-';
    memcpy(out, digits + i, sizeof digits - i);
    return sizeof digits - i;
}

/* cs_buf_append_int appends n in decimal. */
static inline void cs_buf_append_int(cs_buf *b, int64_t n) {
    char digits[21];
    cs_buf_append(b, digits, cs__format_int(digits, n));
}

/* cs_buf_vprintf appends text formatted as by vprintf. */
static inline void cs_buf_vprintf(cs_buf *b, const char *format, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, format, copy);
    va_end(copy);
    if (n < 0) return;
    cs_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, format, ap);
    b->len += (size_t)n;
}

/* cs_buf_printf appends text formatted as by printf. */
__attribute__((format(printf, 2, 3))) static inline void cs_buf_printf(cs_buf *b, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    cs_buf_vprintf(b, format, ap);
    va_end(ap);
}

/* cs_buf_reset empties b and keeps its memory. */
static inline void cs_buf_reset(cs_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

/* cs_buf_free releases b's memory and leaves it empty. Every call runs in
 * a fresh instance whose memory is released when it ends, so a tool needs
 * to free only what it allocates over and over. */
static inline void cs_buf_free(cs_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* cs_buf_str returns b's bytes as a C string: "" when b is empty. */
static inline const char *cs_buf_str(const cs_buf *b) { return b->data ? b->data : ""; }

/* cs_str is a string of known length; ptr is followed by a NUL byte. */
typedef struct cs_str {
    const char *ptr;
    size_t len;
} cs_str;

/* ------------------------------------------------------------------------
 * UTF-8
 * ------------------------------------------------------------------------ */

/* cs__utf8_len returns the length of the valid UTF-8 sequence at p (which
 * is before e), or 0 if the byte at p does not start one. */
static inline size_t cs__utf8_len(const unsigned char *p, const unsigned char *e) {
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(e - p) < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return n;
}

/* cs__utf8_encode writes code point cp (at most U+10FFFF, no surrogate) to
 * out and returns its length. */
static inline size_t cs__utf8_encode(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

#define CS__REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD in UTF-8 */

#define CS__STRING_(x) #x
#define CS__STRING(x) CS__STRING_(x)

/* ------------------------------------------------------------------------
 * Writing JSON
 *
 * The cs_put functions append JSON to a buffer that holds one JSON document,
 * written from its start: each writes the comma it needs before a key or a
 * value, so a tool writes keys and values in order and nothing else.
 * ------------------------------------------------------------------------ */

/* cs__sep writes a comma unless b is empty or ends with {, [ or :. */
static inline void cs__sep(cs_buf *b) {
    if (b->len == 0) return;
    char last = b->data[b->len - 1];
    if (last != '{' && last != '[' && last != ':') cs_buf_append_char(b, ',');
}

/* cs__quote appends s (n bytes) as a JSON string: quotes, backslashes and
 * control characters escaped, UTF-8 passed through, and each byte that is
 * not part of valid UTF-8 replaced by U+FFFD. */
static inline void cs__quote(cs_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *e = p + n, *run = p;
    cs_buf_reserve(b, n + 2);
    cs_buf_append_char(b, '"');
    while (p < e) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            p++;
            continue;
        }
        size_t valid = c >= 0x80 ? cs__utf8_len(p, e) : 0;
        if (valid) {
            p += valid;
            continue;
        }
        cs_buf_append(b, run, (size_t)(p - run));
        switch (c) {
        case '"': cs_buf_append(b, "\\\"", 2); break;
        case '\\': cs_buf_append(b, "\\\\", 2); break;
        case '\n': cs_buf_append(b, "\\n", 2); break;
        case '\r': cs_buf_append(b, "\\r", 2); break;
        case '\t': cs_buf_append(b, "\\t", 2); break;
        case '\b': cs_buf_append(b, "\\b", 2); break;
        case '\f': cs_buf_append(b, "\\f", 2); break;
        default:
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                cs_buf_append(b, u, 6);
            } else {
                cs_buf_append(b, CS__REPLACEMENT, 3);
            }
        }
        run = ++p;
    }
    cs_buf_append(b, run, (size_t)(p - run));
    cs_buf_append_char(b, '"');
}

/* cs_put_object starts an object; cs_put_object_end ends it. */
static inline void cs_put_object(cs_buf *b) {
    cs__sep(b);
    cs_buf_append_char(b, '{');
}
static inline void cs_put_object_end(cs_buf *b) { cs_buf_append_char(b, '}'); }

/* cs_put_array starts an array; cs_put_array_end ends it. */
static inline void cs_put_array(cs_buf *b) {
    cs__sep(b);
    cs_buf_append_char(b, '[');
}
static inline void cs_put_array_end(cs_buf *b) { cs_buf_append_char(b, ']'); }

/* cs_put_key_n writes an object member's key (n bytes) and its colon. */
static inline void cs_put_key_n(cs_buf *b, const char *key, size_t n) {
    cs__sep(b);
    cs__quote(b, key, n);
    cs_buf_append_char(b, ':');
}

/* cs_put_key writes an object member's key and its colon. */
static inline void cs_put_key(cs_buf *b, const char *key) { cs_put_key_n(b, key, strlen(key)); }

/* cs_put_string_n writes the n bytes at s as a JSON string. */
static inline void cs_put_string_n(cs_buf *b, const char *s, size_t n) {
    cs__sep(b);
    cs__quote(b, s, n);
}

/* cs_put_string writes the C string s as a JSON string, or null if s is
 * NULL. */
static inline void cs_put_string(cs_buf *b, const char *s) {
    if (!s) {
        cs__sep(b);
        cs_buf_append(b, "null", 4);
        return;
    }
    cs_put_string_n(b, s, strlen(s));
}

/* cs_put_int writes an integer. */
static inline void cs_put_int(cs_buf *b, int64_t n) {
    cs__sep(b);
    cs_buf_append_int(b, n);
}

/* cs_put_number writes a number: integers up to 2^53 as integers, others
 * with the fewest digits that read back as the same double. JSON has no
 * NaN or infinity: they are written as null. */
static inline void cs_put_number(cs_buf *b, double d) {
    cs__sep(b);
    if (d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308) {
        cs_buf_append(b, "null", 4);
        return;
    }
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(int64_t)d) {
        cs_buf_append_int(b, (int64_t)d);
        return;
    }
    char text[32];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, d);
        if (strtod(text, NULL) == d) break;
    }
    cs_buf_append_str(b, text);
}

/* cs_put_bool writes true or false. */
static inline void cs_put_bool(cs_buf *b, bool v) {
    cs__sep(b);
    if (v)
        cs_buf_append(b, "true", 4);
    else
        cs_buf_append(b, "false", 5);
}

/* cs_put_null writes null. */
static inline void cs_put_null(cs_buf *b) {
    cs__sep(b);
    cs_buf_append(b, "null", 4);
}

/* cs_put_raw writes n bytes of JSON as they are: a value the tool encoded
 * itself, or one it read (see cs_put_json). */
static inline void cs_put_raw(cs_buf *b, const char *json, size_t n) {
    cs__sep(b);
    cs_buf_append(b, json, n);
}

/* ------------------------------------------------------------------------
 * Reading JSON
 *
 * cs_json_parse checks a whole document; a cs_json is then one value of it,
 * as a view of its text (no copy, no tree). The functions that navigate
 * (cs_json_get, cs_json_at, cs_json_next) scan that text, and the ones that
 * convert (cs_json_string, cs_json_number, ...) decode it. A value that
 * is not there (a missing member, an index past the end) is CS_MISSING, and
 * every function accepts it.
 * ------------------------------------------------------------------------ */

/* cs_json is a JSON value: ptr points at its first byte, len is its length.
 * ptr is NULL for a missing value. It borrows the document's text, which
 * must outlive it. */
typedef struct cs_json {
    const char *ptr;
    size_t len;
} cs_json;

/* cs_kind is the type of a JSON value. */
typedef enum cs_kind {
    CS_MISSING = 0,
    CS_NULL,
    CS_BOOL,
    CS_NUMBER,
    CS_STRING,
    CS_ARRAY,
    CS_OBJECT
} cs_kind;

static inline const char *cs__ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static inline int cs__hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* cs__hex4 reads four hex digits at p, or returns -1. */
static inline long cs__hex4(const char *p, const char *e) {
    if (e - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = cs__hex(p[i]);
        if (h < 0) return -1;
        v = v << 4 | h;
    }
    return v;
}

/* cs__skip_string returns the end of the string starting at p (a quote),
 * or NULL if it is not a valid JSON string. */
static inline const char *cs__skip_string(const char *p, const char *e) {
    for (p++; p < e;) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"') return p;
        if (c < 0x20) return NULL;
        if (c != '\\') continue;
        if (p >= e) return NULL;
        switch (*p++) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            break;
        case 'u':
            if (cs__hex4(p, e) < 0) return NULL;
            p += 4;
            break;
        default:
            return NULL;
        }
    }
    return NULL;
}

static inline bool cs__digit(const char *p, const char *e) { return p < e && *p >= '0' && *p <= '9'; }

/* cs__skip_number returns the end of the number starting at p, or NULL. */
static inline const char *cs__skip_number(const char *p, const char *e) {
    if (p < e && *p == '-') p++;
    if (!cs__digit(p, e)) return NULL;
    if (*p++ != '0')
        while (cs__digit(p, e)) p++;
    if (p < e && *p == '.') {
        if (!cs__digit(++p, e)) return NULL;
        while (cs__digit(p, e)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (!cs__digit(p, e)) return NULL;
        while (cs__digit(p, e)) p++;
    }
    return p;
}

static inline const char *cs__skip_word(const char *p, const char *e, const char *word, size_t n) {
    return (size_t)(e - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* cs__skip_key returns what follows the key at p and its colon, or NULL. */
static inline const char *cs__skip_key(const char *p, const char *e) {
    if (p >= e || *p != '"' || !(p = cs__skip_string(p, e))) return NULL;
    p = cs__ws(p, e);
    return p < e && *p == ':' ? p + 1 : NULL;
}

/* cs__skip_value returns the end of the JSON value that starts at p (after
 * optional whitespace), or NULL if there is no valid value there. It
 * checks nesting without recursion, up to CS_JSON_MAX_DEPTH. */
static inline const char *cs__skip_value(const char *p, const char *e) {
    unsigned char objects[(CS_JSON_MAX_DEPTH + 7) / 8]; /* bit set: an object; written before read */
    size_t depth = 0;
    bool want_value = true;
    for (;;) {
        if (want_value) {
            p = cs__ws(p, e);
            if (p >= e) return NULL;
            char c = *p;
            if (c == '{' || c == '[') {
                if (depth >= CS_JSON_MAX_DEPTH) return NULL;
                bool object = c == '{';
                unsigned char bit = (unsigned char)(1u << (depth % 8));
                objects[depth / 8] = (unsigned char)(object ? objects[depth / 8] | bit : objects[depth / 8] & ~bit);
                depth++;
                p = cs__ws(p + 1, e);
                if (p < e && *p == (object ? '}' : ']')) {
                    p++;
                    depth--;
                    want_value = false;
                } else if (object && !(p = cs__skip_key(p, e))) {
                    return NULL;
                }
                continue;
            }
            switch (c) {
            case '"': p = cs__skip_string(p, e); break;
            case 't': p = cs__skip_word(p, e, "true", 4); break;
            case 'f': p = cs__skip_word(p, e, "false", 5); break;
            case 'n': p = cs__skip_word(p, e, "null", 4); break;
            default: p = cs__skip_number(p, e);
            }
            if (!p) return NULL;
            want_value = false;
            continue;
        }
        if (depth == 0) return p;
        p = cs__ws(p, e);
        if (p >= e) return NULL;
        bool object = objects[(depth - 1) / 8] >> ((depth - 1) % 8) & 1;
        if (*p == ',') {
            p = cs__ws(p + 1, e);
            if (object && !(p = cs__skip_key(p, e))) return NULL;
            want_value = true;
        } else if (*p == (object ? '}' : ']')) {
            p++;
            depth--;
        } else {
            return NULL;
        }
    }
}

/* cs_json_parse checks that the len bytes at text are one JSON value
 * (RFC 8259, nested at most CS_JSON_MAX_DEPTH deep), with optional
 * whitespace around it, and sets *out to that value. It returns false, and
 * sets *out to a missing value, if they are not. */
static inline bool cs_json_parse(const char *text, size_t len, cs_json *out) {
    out->ptr = NULL;
    out->len = 0;
    if (!text) return false;
    const char *e = text + len, *p = cs__ws(text, e), *end = cs__skip_value(p, e);
    if (!end || cs__ws(end, e) != e) return false;
    out->ptr = p;
    out->len = (size_t)(end - p);
    return true;
}

/* cs_json_kind returns the type of v. */
static inline cs_kind cs_json_kind(cs_json v) {
    if (!v.ptr || !v.len) return CS_MISSING;
    switch (v.ptr[0]) {
    case 'n': return CS_NULL;
    case 't': case 'f': return CS_BOOL;
    case '"': return CS_STRING;
    case '[': return CS_ARRAY;
    case '{': return CS_OBJECT;
    default: return CS_NUMBER;
    }
}

/* cs_kind_name returns the name of a type: "missing", "null", "bool",
 * "number", "string", "array" or "object". */
static inline const char *cs_kind_name(cs_kind k) {
    static const char *const names[] = {"missing", "null", "bool", "number", "string", "array", "object"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

/* cs_json_iter walks the elements of an array or the members of an object. */
typedef struct cs_json_iter {
    const char *p, *end;
    bool object;
} cs_json_iter;

/* cs_json_iterate starts walking v, an array or an object; anything else
 * has no elements. */
static inline cs_json_iter cs_json_iterate(cs_json v) {
    cs_json_iter it;
    cs_kind k = cs_json_kind(v);
    it.object = k == CS_OBJECT;
    if (k == CS_ARRAY || k == CS_OBJECT) {
        it.p = v.ptr + 1;
        it.end = v.ptr + v.len - 1; /* the closing bracket */
    } else {
        it.p = it.end = NULL;
    }
    return it;
}

/* cs_json_next moves to the next element and returns true, or returns false
 * at the end. For an object, *key is the member's key, a JSON string (use
 * cs_json_string or cs_json_equals on it); for an array it is missing. key
 * may be NULL. */
static inline bool cs_json_next(cs_json_iter *it, cs_json *key, cs_json *value) {
    const char *p = cs__ws(it->p, it->end), *e = it->end;
    cs_json k = {NULL, 0};
    if (p < e && *p == ',') p = cs__ws(p + 1, e);
    if (p >= e) return false;
    if (it->object) {
        const char *q = *p == '"' ? cs__skip_string(p, e) : NULL;
        if (!q) return false;
        k.ptr = p;
        k.len = (size_t)(q - p);
        p = cs__ws(q, e);
        if (p >= e || *p != ':') return false;
        p = cs__ws(p + 1, e);
    }
    const char *end = cs__skip_value(p, e);
    if (!end) return false;
    if (key) *key = k;
    value->ptr = p;
    value->len = (size_t)(end - p);
    it->p = end;
    return true;
}

/* cs__decode reads one character of the string body at *pp (before e, the
 * closing quote) into out, advances *pp and returns the length written:
 * escapes decoded (a surrogate pair to one character), and a lone
 * surrogate or a byte that is not part of valid UTF-8 made U+FFFD. */
static inline size_t cs__decode(const char **pp, const char *e, char out[4]) {
    const char *p = *pp;
    size_t n = 1;
    unsigned char c = (unsigned char)*p;
    if (c == '\\' && e - p >= 2) {
        p += 2;
        switch (p[-1]) {
        case 'b': out[0] = '\b'; break;
        case 'f': out[0] = '\f'; break;
        case 'n': out[0] = '\n'; break;
        case 'r': out[0] = '\r'; break;
        case 't': out[0] = '\t'; break;
        case 'u': {
            long cp = cs__hex4(p, e);
            if (cp < 0) {
                cp = 0xFFFD;
            } else {
                p += 4;
                if (cp >= 0xD800 && cp < 0xDC00) {
                    long lo = e - p >= 6 && p[0] == '\\' && p[1] == 'u' ? cs__hex4(p + 2, e) : -1;
                    if (lo >= 0xDC00 && lo < 0xE000) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        p += 6;
                    } else {
                        cp = 0xFFFD;
                    }
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    cp = 0xFFFD;
                }
            }
            n = cs__utf8_encode(out, (uint32_t)cp);
            break;
        }
        default: out[0] = p[-1]; /* " \ / */
        }
    } else if (c >= 0x80) {
        n = cs__utf8_len((const unsigned char *)p, (const unsigned char *)e);
        if (n) {
            memcpy(out, p, n);
            p += n;
        } else {
            memcpy(out, CS__REPLACEMENT, 3);
            n = 3;
            p++;
        }
    } else {
        out[0] = (char)c;
        p++;
    }
    *pp = p;
    return n;
}

/* cs_json_string appends the decoded value of the string v to out and
 * returns true, or returns false if v is not a string. */
static inline bool cs_json_string(cs_json v, cs_buf *out) {
    if (cs_json_kind(v) != CS_STRING || v.len < 2) return false;
    const char *p = v.ptr + 1, *e = v.ptr + v.len - 1;
    cs_buf_reserve(out, v.len);
    while (p < e) {
        char ch[4];
        size_t n = cs__decode(&p, e, ch);
        cs_buf_append(out, ch, n);
    }
    return true;
}

/* cs_json_strdup returns the decoded value of the string v in memory from
 * malloc, NUL-terminated, and its length in *len if len is not NULL; or
 * NULL if v is not a string. */
static inline char *cs_json_strdup(cs_json v, size_t *len) {
    cs_buf b = {NULL, 0, 0};
    if (!cs_json_string(v, &b)) return NULL;
    if (len) *len = b.len;
    return b.data;
}

/* cs_json_equals_n reports whether v is a string whose decoded value is the
 * n bytes at s. */
static inline bool cs_json_equals_n(cs_json v, const char *s, size_t n) {
    if (cs_json_kind(v) != CS_STRING || v.len < 2) return false;
    const char *p = v.ptr + 1, *e = v.ptr + v.len - 1;
    size_t i = 0;
    while (p < e) {
        char ch[4];
        size_t k = cs__decode(&p, e, ch);
        if (k > n - i || memcmp(ch, s + i, k) != 0) return false;
        i += k;
    }
    return i == n;
}

/* cs_json_equals reports whether v is a string whose decoded value is s. */
static inline bool cs_json_equals(cs_json v, const char *s) { return cs_json_equals_n(v, s, strlen(s)); }

/* cs_json_get_n returns the member of object obj whose key is the n bytes
 * at key (compared exactly, after decoding; of duplicate keys, the last
 * wins), or a missing value. */
static inline cs_json cs_json_get_n(cs_json obj, const char *key, size_t n) {
    cs_json found = {NULL, 0}, k, v;
    if (cs_json_kind(obj) != CS_OBJECT) return found;
    cs_json_iter it = cs_json_iterate(obj);
    while (cs_json_next(&it, &k, &v))
        if (cs_json_equals_n(k, key, n)) found = v;
    return found;
}

/* cs_json_get returns the member of object obj with the given key, or a
 * missing value. */
static inline cs_json cs_json_get(cs_json obj, const char *key) { return cs_json_get_n(obj, key, strlen(key)); }

/* cs_json_at returns element i of array arr, or a missing value. */
static inline cs_json cs_json_at(cs_json arr, size_t i) {
    cs_json v = {NULL, 0};
    if (cs_json_kind(arr) != CS_ARRAY) return v;
    cs_json_iter it = cs_json_iterate(arr);
    while (cs_json_next(&it, NULL, &v))
        if (i-- == 0) return v;
    v.ptr = NULL;
    v.len = 0;
    return v;
}

/* cs_json_count returns the number of elements of an array or members of an
 * object, and 0 for anything else. */
static inline size_t cs_json_count(cs_json v) {
    cs_json_iter it = cs_json_iterate(v);
    cs_json e;
    size_t n = 0;
    while (cs_json_next(&it, NULL, &e)) n++;
    return n;
}

/* cs_json_number sets *out to the number v and returns true, or returns
 * false if v is not a number. */
static inline bool cs_json_number(cs_json v, double *out) {
    if (cs_json_kind(v) != CS_NUMBER) return false;
    char small[64];
    cs_buf big = {NULL, 0, 0};
    const char *text = small;
    if (v.len < sizeof small) {
        memcpy(small, v.ptr, v.len);
        small[v.len] = 0;
    } else {
        cs_buf_append(&big, v.ptr, v.len);
        text = big.data;
    }
    *out = strtod(text, NULL);
    cs_buf_free(&big);
    return true;
}

/* cs_json_int sets *out to the number v and returns true if it is an
 * integer that fits in int64_t (1e3 and 2.0 are), and returns false
 * otherwise. */
static inline bool cs_json_int(cs_json v, int64_t *out) {
    if (cs_json_kind(v) != CS_NUMBER) return false;
    const char *p = v.ptr, *e = v.ptr + v.len;
    bool negative = *p == '-';
    if (negative) p++;
    uint64_t u = 0, limit = negative ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    for (; p < e && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (u > (limit - d) / 10) return false;
        u = u * 10 + d;
    }
    if (p == e) {
        *out = negative ? (int64_t)(0 - u) : (int64_t)u;
        return true;
    }
    double d;
    if (!cs_json_number(v, &d) || !(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
        d != (double)(int64_t)d)
        return false;
    *out = (int64_t)d;
    return true;
}

/* cs_json_bool sets *out to the boolean v and returns true, or returns
 * false if v is not true or false. */
static inline bool cs_json_bool(cs_json v, bool *out) {
    if (cs_json_kind(v) != CS_BOOL) return false;
    *out = v.ptr[0] == 't';
    return true;
}

/* cs_json_is_null reports whether v is null. */
static inline bool cs_json_is_null(cs_json v) { return cs_json_kind(v) == CS_NULL; }

/* cs_json_exists reports whether v is there: not a missing member or
 * element. */
static inline bool cs_json_exists(cs_json v) { return cs_json_kind(v) != CS_MISSING; }

/* cs_put_json writes the value v as it is; a missing value as null. */
static inline void cs_put_json(cs_buf *b, cs_json v) {
    if (!cs_json_exists(v))
        cs_put_null(b);
    else
        cs_put_raw(b, v.ptr, v.len);
}

/* CS_JSON(...) turns JSON written as C tokens into a string literal, so
 * that a manifest needs no escaped quotes:
 *
 *     CS_JSON({"name": "echo", "inputSchema": {"type": "object"}})
 *
 * Runs of whitespace outside strings become one space. */
#define CS_JSON(...) #__VA_ARGS__

/* ------------------------------------------------------------------------
 * Errors of host functions
 * ------------------------------------------------------------------------ */

typedef struct cs__state_t {
    char message[CS_MAX_ERROR_MESSAGE + 1];
    char text[CS_MAX_ERROR_MESSAGE + 32];
} cs__state_t;

/* cs__state is the instance's one state: every call has an instance of its
 * own, used by one thread. */
static inline cs__state_t *cs__state(void) {
    static cs__state_t state;
    return &state;
}

/* cs__failed reads the message the host staged with code, and returns
 * code. */
static inline int cs__failed(int32_t code) {
    cs__state_t *s = cs__state();
    int32_t n = cs_sys_read(s->message, CS_MAX_ERROR_MESSAGE);
    if (n < 0) n = 0;
    if (n > CS_MAX_ERROR_MESSAGE) n = CS_MAX_ERROR_MESSAGE;
    s->message[n] = 0;
    return code;
}

/* cs__result turns a host function's result into CS_OK or its error code. */
static inline int cs__result(int32_t rc) { return rc < 0 ? cs__failed(rc) : CS_OK; }

/* cs__fetch reads the n bytes a host function staged into out, replacing
 * its contents; a negative n is an error code. */
static inline int cs__fetch(int32_t n, cs_buf *out) {
    if (n < 0) return cs__failed(n);
    cs_buf_reset(out);
    cs_buf_reserve(out, (size_t)n);
    int32_t got = n ? cs_sys_read(out->data, (size_t)n) : 0;
    if (got != n) cs_abort("capstream: read returned fewer bytes than the host staged");
    out->len = (size_t)n;
    out->data[n] = 0;
    return CS_OK;
}

/* cs_last_message returns the message the host staged with the last error
 * code a function returned: for people, at most 1024 bytes, maybe empty. */
static inline const char *cs_last_message(void) { return cs__state()->message; }

/* cs_code_name returns the ABI's name of an error code: "denied",
 * "not_found", "invalid", "quota", "upstream", "too_large", "storage", or
 * "ok" for CS_OK and "unknown" for anything else. */
static inline const char *cs_code_name(int code) {
    switch (code) {
    case CS_OK: return "ok";
    case CS_ERR_DENIED: return "denied";
    case CS_ERR_NOT_FOUND: return "not_found";
    case CS_ERR_INVALID: return "invalid";
    case CS_ERR_QUOTA: return "quota";
    case CS_ERR_UPSTREAM: return "upstream";
    case CS_ERR_TOO_LARGE: return "too_large";
    case CS_ERR_STORAGE: return "storage";
    }
    return "unknown";
}

/* cs_strerror describes code, which a function has just returned, with the
 * host's message: "denied: the capability grants no key-value storage", or
 * the name alone when the message is empty (the Go SDK's Error text). The
 * text is valid until the next call of cs_strerror. */
static inline const char *cs_strerror(int code) {
    cs__state_t *s = cs__state();
    const char *name = cs_code_name(code);
    char *p = s->text;
    if (strcmp(name, "unknown") == 0) {
        memcpy(p, "error ", 6);
        p += 6 + cs__format_int(p + 6, code);
    } else {
        size_t n = strlen(name);
        memcpy(p, name, n);
        p += n;
    }
    if (s->message[0]) {
        size_t n = strlen(s->message);
        memcpy(p, ": ", 2);
        memcpy(p + 2, s->message, n);
        p += n + 2;
    }
    *p = 0;
    return s->text;
}

/* ------------------------------------------------------------------------
 * The call: input, result, tool errors
 * ------------------------------------------------------------------------ */

/* cs_input reads the call's input (a JSON object) into out, replacing its
 * contents. CAPSTREAM_TOOL does this for the run function. */
static inline int cs_input(cs_buf *out) { return cs__fetch(cs_sys_input(), out); }

/* cs_set_output sets the call's result to the len bytes of JSON at json,
 * replacing an earlier one. It fails with CS_ERR_INVALID if they are not
 * JSON. */
static inline int cs_set_output(const char *json, size_t len) { return cs__result(cs_sys_set_output(json, len)); }

/* cs_set_error sets the message of the call's tool error (longer than
 * 4 KiB is cut). The call fails with it if run then returns non-zero. */
static inline int cs_set_error(const char *msg, size_t len) { return cs__result(cs_sys_set_error(msg, len)); }

/* cs_error_n sets the tool error message to the len bytes at msg and
 * returns 1, for run to return: return cs_error_n(msg, len). */
static inline int cs_error_n(const char *msg, size_t len) {
    if (len == 0) {
        msg = "the tool failed without a message";
        len = strlen(msg);
    }
    cs_sys_set_error(msg, len);
    return 1;
}

/* cs_error sets the tool error message and returns 1, for run to return:
 *
 *     if (!cs_json_exists(v)) return cs_error("missing name");
 */
static inline int cs_error(const char *msg) { return cs_error_n(msg, strlen(msg)); }

/* cs_errorf is cs_error with a printf-style message. */
__attribute__((format(printf, 1, 2))) static inline int cs_errorf(const char *format, ...) {
    cs_buf b = {NULL, 0, 0};
    va_list ap;
    va_start(ap, format);
    cs_buf_vprintf(&b, format, ap);
    va_end(ap);
    cs_error_n(cs_buf_str(&b), b.len);
    cs_buf_free(&b);
    return 1;
}

/* cs__fail_code sets the error "<prefix><cs_strerror(code)>" and returns 1. */
static inline int cs__fail_code(const char *prefix, int code) {
    cs_buf b = {NULL, 0, 0};
    cs_buf_append_str(&b, prefix);
    cs_buf_append_str(&b, cs_strerror(code));
    cs_error_n(b.data, b.len);
    cs_buf_free(&b);
    return 1;
}

/* cs_finish sets the call's result to the JSON in out and returns 0, for
 * run to return: return cs_finish(&out). If the host refuses the result,
 * it sets the tool error instead and returns 1. */
static inline int cs_finish(const cs_buf *out) {
    int rc = cs_set_output(out->data, out->len);
    return rc < 0 ? cs__fail_code("capstream: setting the output: ", rc) : 0;
}

/* cs_run_func is a tool's run function. It gets the call's input, a JSON
 * object, valid while it runs, and returns 0 when the call succeeded (with
 * the result set by cs_finish or cs_set_output, or null if none was) or
 * non-zero for a tool error (see cs_error). */
typedef int (*cs_run_func)(cs_json input);

static inline int32_t cs__run(cs_run_func run) {
    cs_buf raw = {NULL, 0, 0};
    int rc = cs_input(&raw);
    if (rc < 0) return cs__fail_code("capstream: reading the input: ", rc);
    cs_json input;
    if (!cs_json_parse(raw.data, raw.len, &input))
        return cs_error("invalid input: not JSON, or nested more than " CS__STRING(CS_JSON_MAX_DEPTH) " levels deep");
    rc = run(input);
    cs_buf_free(&raw);
    return rc;
}

static inline int32_t cs__manifest(const char *manifest) {
    int rc = cs_set_output(manifest, strlen(manifest));
    return rc < 0 ? cs__fail_code("capstream: setting the manifest: ", rc) : 0;
}

#ifdef __cplusplus
#define CS__EXTERN_C extern "C"
#else
#define CS__EXTERN_C
#endif

/* CAPSTREAM_TOOL defines the module's exports: capstream_manifest, which
 * pushes manifest (a C string of JSON, see CS_JSON and sdk/ABI.md), and
 * capstream_run, which reads the input and calls run_fn (a cs_run_func).
 * Use it once, in one file of the tool. */
#define CAPSTREAM_TOOL(manifest, run_fn)                                                    \
    CS__EXTERN_C CS__EXPORT("capstream_manifest") int32_t capstream_manifest(void) {         \
        return cs__manifest(manifest);                                                      \
    }                                                                                       \
    CS__EXTERN_C CS__EXPORT("capstream_run") int32_t capstream_run(void) { return cs__run(run_fn); }

/* ------------------------------------------------------------------------
 * Host calls. Each counts against the call's limits and emits one host.*
 * event, whether it succeeds or is refused. Each returns CS_OK or a
 * negative CS_ERR_* code, with the host's message in cs_last_message().
 * A limit (time, memory, output, events, host calls) is not an error
 * code: the host function does not return, and the call fails.
 * ------------------------------------------------------------------------ */

/* cs_log_n emits host.log with a level (CS_LOG_*) and the len bytes at msg.
 * A message over 64 KiB is CS_ERR_TOO_LARGE. */
static inline int cs_log_n(int level, const char *msg, size_t len) {
    return cs__result(cs_sys_log(level, msg, len));
}

/* cs_log emits host.log with a level (CS_LOG_*) and a message. */
static inline int cs_log(int level, const char *msg) { return cs_log_n(level, msg, strlen(msg)); }

/* cs_logf is cs_log with a printf-style message. */
__attribute__((format(printf, 2, 3))) static inline int cs_logf(int level, const char *format, ...) {
    cs_buf b = {NULL, 0, 0};
    va_list ap;
    va_start(ap, format);
    cs_buf_vprintf(&b, format, ap);
    va_end(ap);
    int rc = cs_log_n(level, cs_buf_str(&b), b.len);
    cs_buf_free(&b);
    return rc;
}

/* cs_progress emits host.progress. progress must increase from one call to
 * the next (CS_ERR_INVALID otherwise); total <= 0 means unknown; msg NULL
 * or "" sends no message. */
static inline int cs_progress(double progress, double total, const char *msg) {
    return cs__result(cs_sys_progress(progress, total, msg ? msg : "", msg ? strlen(msg) : 0));
}

/* cs_output_n emits host.output with the len bytes at chunk: partial output
 * for clients to show while the tool runs, not part of the result. */
static inline int cs_output_n(const char *chunk, size_t len) { return cs__result(cs_sys_output(chunk, len)); }

/* cs_output emits host.output with a C string. */
static inline int cs_output(const char *chunk) { return cs_output_n(chunk, strlen(chunk)); }

/* cs_capability reads the call's capability claims, a JSON object
 * (sdk/ABI.md), into out, replacing its contents. Parse it with
 * cs_json_parse. */
static inline int cs_capability(cs_buf *out) { return cs__fetch(cs_sys_capability(), out); }

/* cs_random fills buf with len random bytes, fresh from the host in every
 * call (WASI random_get). */
static inline void cs_random(void *buf, size_t len) {
#if defined(__wasi__)
    if (len && __wasi_random_get((uint8_t *)buf, len) != 0) cs_abort("capstream: random_get failed");
#else
    cs_sys_random(buf, len);
#endif
}

/* ------------------------------------------------------------------------
 * KV storage: the namespace is the host's choice, one per principal per
 * tool. Keys are UTF-8, 1 to 1024 bytes; values at most 1 MiB. The manifest
 * must declare "needs": {"kv": {...}}, with "write": true for set and
 * delete.
 * ------------------------------------------------------------------------ */

/* cs_kv_get_n reads the value stored under the klen bytes at key into
 * value, replacing its contents; CS_ERR_NOT_FOUND if there is none. */
static inline int cs_kv_get_n(const char *key, size_t klen, cs_buf *value) {
    return cs__fetch(cs_sys_kv_get(key, klen), value);
}

/* cs_kv_get reads the value stored under key into value. */
static inline int cs_kv_get(const char *key, cs_buf *value) { return cs_kv_get_n(key, strlen(key), value); }

/* cs_kv_set_n stores the vlen bytes at value under the klen bytes at key.
 * CS_ERR_QUOTA or CS_ERR_STORAGE mean nothing was written. */
static inline int cs_kv_set_n(const char *key, size_t klen, const void *value, size_t vlen) {
    return cs__result(cs_sys_kv_set(key, klen, value, vlen));
}

/* cs_kv_set stores the C string value under key. */
static inline int cs_kv_set(const char *key, const char *value) {
    return cs_kv_set_n(key, strlen(key), value, strlen(value));
}

/* cs_kv_delete_n deletes the klen bytes at key; an absent key is not an
 * error. */
static inline int cs_kv_delete_n(const char *key, size_t klen) { return cs__result(cs_sys_kv_delete(key, klen)); }

/* cs_kv_delete deletes key; an absent key is not an error. */
static inline int cs_kv_delete(const char *key) { return cs_kv_delete_n(key, strlen(key)); }

/* cs_strings is a list of strings, each NUL-terminated. Release it with
 * cs_strings_free. */
typedef struct cs_strings {
    cs_str *items;
    size_t count;
    cs_buf storage; /* holds the strings */
} cs_strings;

static inline void cs_strings_free(cs_strings *s) {
    free(s->items);
    s->items = NULL;
    s->count = 0;
    cs_buf_free(&s->storage);
}

/* cs__strings decodes the n JSON strings at vals into out->storage and sets
 * out->items; false if one is not a string. */
static inline bool cs__strings(const cs_json *vals, size_t n, cs_strings *out) {
    out->count = 0;
    out->items = (cs_str *)calloc(n ? n : 1, sizeof(cs_str));
    out->storage.data = NULL;
    out->storage.len = out->storage.cap = 0;
    if (!out->items) cs_abort("capstream: out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t before = out->storage.len;
        if (!cs_json_string(vals[i], &out->storage)) {
            cs_strings_free(out);
            return false;
        }
        out->items[i].len = out->storage.len - before;
        cs_buf_append_char(&out->storage, 0);
    }
    /* Pointers last: the text may have moved while it grew. */
    const char *p = out->storage.data;
    for (size_t i = 0; i < n; i++) {
        out->items[i].ptr = p;
        p += out->items[i].len + 1;
    }
    out->count = n;
    return true;
}

/* cs__bad_staged reports JSON from the host that is not what ABI.md
 * specifies (a host bug) as CS_ERR_INVALID, with a message saying so. */
static inline int cs__bad_staged(void) {
    strcpy(cs__state()->message, "capstream: the host staged JSON that is not what sdk/ABI.md specifies");
    return CS_ERR_INVALID;
}

/* cs_kv_list_n lists the keys that start with the plen bytes at prefix
 * (empty for all), sorted, at most 1000, into keys. */
static inline int cs_kv_list_n(const char *prefix, size_t plen, cs_strings *keys) {
    cs_buf raw = {NULL, 0, 0};
    int rc = cs__fetch(cs_sys_kv_list(prefix, plen), &raw);
    keys->items = NULL;
    keys->count = 0;
    keys->storage.data = NULL;
    keys->storage.len = keys->storage.cap = 0;
    if (rc < 0) return rc;
    cs_json list, v;
    if (!cs_json_parse(raw.data, raw.len, &list) || cs_json_kind(list) != CS_ARRAY) {
        cs_buf_free(&raw);
        return cs__bad_staged();
    }
    size_t n = cs_json_count(list), i = 0;
    cs_json *vals = (cs_json *)malloc((n ? n : 1) * sizeof(cs_json));
    if (!vals) cs_abort("capstream: out of memory");
    cs_json_iter it = cs_json_iterate(list);
    while (i < n && cs_json_next(&it, NULL, &v)) vals[i++] = v;
    bool ok = cs__strings(vals, n, keys);
    free(vals);
    cs_buf_free(&raw);
    return ok ? CS_OK : cs__bad_staged();
}

/* cs_kv_list lists the keys that start with prefix ("" for all), sorted, at
 * most 1000, into keys:
 *
 *     cs_strings keys;
 *     if (cs_kv_list("note/", &keys) == CS_OK)
 *         for (size_t i = 0; i < keys.count; i++) use(keys.items[i].ptr);
 */
static inline int cs_kv_list(const char *prefix, cs_strings *keys) {
    return cs_kv_list_n(prefix, strlen(prefix), keys);
}

/* ------------------------------------------------------------------------
 * Outbound HTTP, performed by the host. The manifest must declare
 * "needs": {"http": [...]}; the host checks every URL and redirect against
 * the call's capability.
 * ------------------------------------------------------------------------ */

/* cs_http_request is an outbound request. */
typedef struct cs_http_request {
    const char *method; /* NULL or "" for GET */
    const char *url;    /* absolute, http or https */
    /* headers: NULL, or name, value, name, value, ..., NULL. A value
     * "{{secret:NAME}}" is filled in by the host for URLs whose rule lists
     * NAME; the tool never sees it. */
    const char *const *headers;
    const char *body; /* NULL for none */
    size_t body_len;  /* 0 with a body: strlen(body) */
} cs_http_request;

/* cs_http_header is a response header: canonical name, first value. */
typedef struct cs_http_header {
    cs_str name, value;
} cs_http_header;

/* cs_http_response is the answer to a request, whatever its status.
 * Release it with cs_http_response_free. */
typedef struct cs_http_response {
    int status;
    cs_str body; /* text: bytes that were not UTF-8 are U+FFFD */
    cs_str url;  /* the final URL, after redirects */
    cs_http_header *headers;
    size_t header_count;
    cs_strings storage; /* holds the strings */
} cs_http_response;

static inline void cs_http_response_free(cs_http_response *r) {
    free(r->headers);
    r->headers = NULL;
    r->header_count = 0;
    cs_strings_free(&r->storage);
}

/* cs_http_header_get returns the value of the response header name
 * (compared ignoring ASCII case), or NULL. */
static inline const char *cs_http_header_get(const cs_http_response *r, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < r->header_count; i++) {
        const cs_str *h = &r->headers[i].name;
        if (h->len != n) continue;
        size_t j = 0;
        for (; j < n; j++) {
            char a = h->ptr[j], b = name[j];
            if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
            if (a != b) break;
        }
        if (j == n) return r->headers[i].value.ptr;
    }
    return NULL;
}

/* cs__http_request_json writes req as the JSON the http host function
 * takes. */
static inline void cs__http_request_json(const cs_http_request *req, cs_buf *b) {
    cs_put_object(b);
    if (req->method && req->method[0]) {
        cs_put_key(b, "method");
        cs_put_string(b, req->method);
    }
    cs_put_key(b, "url");
    cs_put_string(b, req->url ? req->url : "");
    if (req->headers && req->headers[0]) {
        cs_put_key(b, "headers");
        cs_put_object(b);
        for (const char *const *h = req->headers; h[0] && h[1]; h += 2) {
            cs_put_key(b, h[0]);
            cs_put_string(b, h[1]);
        }
        cs_put_object_end(b);
    }
    if (req->body) {
        cs_put_key(b, "body");
        cs_put_string_n(b, req->body, req->body_len ? req->body_len : strlen(req->body));
    }
    cs_put_object_end(b);
}

/* cs__http_response reads the response JSON the host staged into resp. */
static inline bool cs__http_response(cs_json root, cs_http_response *resp) {
    cs_json headers = cs_json_get(root, "headers"), k, v;
    int64_t status;
    if (!cs_json_int(cs_json_get(root, "status"), &status) || status < 0 || status > 999) return false;
    if (cs_json_exists(headers) && cs_json_kind(headers) != CS_OBJECT) return false;
    size_t n = cs_json_count(headers), i = 2;
    cs_json *vals = (cs_json *)malloc((2 + 2 * n) * sizeof(cs_json));
    if (!vals) cs_abort("capstream: out of memory");
    vals[0] = cs_json_get(root, "body");
    vals[1] = cs_json_get(root, "url");
    cs_json_iter it = cs_json_iterate(headers);
    while (i < 2 + 2 * n && cs_json_next(&it, &k, &v)) {
        vals[i++] = k;
        vals[i++] = v;
    }
    bool ok = cs__strings(vals, 2 + 2 * n, &resp->storage);
    free(vals);
    if (!ok) return false;
    resp->status = (int)status;
    resp->body = resp->storage.items[0];
    resp->url = resp->storage.items[1];
    resp->headers = (cs_http_header *)calloc(n ? n : 1, sizeof(cs_http_header));
    if (!resp->headers) cs_abort("capstream: out of memory");
    for (i = 0; i < n; i++) {
        resp->headers[i].name = resp->storage.items[2 + 2 * i];
        resp->headers[i].value = resp->storage.items[3 + 2 * i];
    }
    resp->header_count = n;
    return true;
}

/* cs_http performs req through the host and reads the response into resp
 * (release it with cs_http_response_free). A URL or method the capability
 * does not allow is CS_ERR_DENIED; a failed request (connect, timeout, a
 * response over the size cap) is CS_ERR_UPSTREAM. */
static inline int cs_http(const cs_http_request *req, cs_http_response *resp) {
    cs_buf b = {NULL, 0, 0};
    cs_json root;
    memset(resp, 0, sizeof *resp);
    cs__http_request_json(req, &b);
    int rc = cs__fetch(cs_sys_http(b.data, b.len), &b);
    if (rc == CS_OK &&
        !(cs_json_parse(b.data, b.len, &root) && cs_json_kind(root) == CS_OBJECT && cs__http_response(root, resp))) {
        cs_http_response_free(resp);
        rc = cs__bad_staged();
    }
    cs_buf_free(&b);
    return rc;
}

/* cs_http_get performs a GET of url. */
static inline int cs_http_get(const char *url, cs_http_response *resp) {
    cs_http_request req;
    memset(&req, 0, sizeof req);
    req.url = url;
    return cs_http(&req, resp);
}

#ifdef __cplusplus
}
#endif

#endif /* CAPSTREAM_H */
