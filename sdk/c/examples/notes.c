// notes keeps short notes for the caller in its KV namespace (one per
// principal), append-only until cleared: plugins/notes, written in C, with
// the same keys, outputs and error messages.
//
// Each note is its own key, written once and never read back to be changed,
// so calls that add at the same time cannot lose each other's notes:
// "note/", a zero-padded sequence number one past the last note's, "-" and
// 16 hex digits of random bytes, so that two calls which pick the same
// number still write different keys. Keys sort in the order notes were
// added.
//
// Build: make examples
#include "../capstream.h"

// MAX_NOTES bounds a namespace so that listing it (one host call per note)
// stays well inside the default host-call limit.
#define MAX_NOTES 200

// PREFIX starts every note's key.
#define PREFIX "note/"

// go_quote appends s as Go's %q verb writes it: in double quotes, with
// backslash escapes for quotes, backslashes, control characters, bytes that
// are not UTF-8 and characters that are not printable. Printable is Go's
// unicode.IsPrint for ASCII and for the spaces and format characters Go
// escapes; other non-ASCII characters are kept.
static void go_quote(cs_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    cs_buf_append_char(b, '"');
    while (p < e) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            cs_buf_append_char(b, '\\');
            cs_buf_append_char(b, (char)c);
            p++;
            continue;
        }
        if (c >= 0x20 && c < 0x7F) {
            cs_buf_append_char(b, (char)c);
            p++;
            continue;
        }
        const char *esc = NULL;
        switch (c) {
        case '\a': esc = "\\a"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\v': esc = "\\v"; break;
        }
        if (esc) {
            cs_buf_append_str(b, esc);
            p++;
            continue;
        }
        size_t len = c >= 0x80 ? cs__utf8_len(p, e) : 0;
        if (len == 0) {
            cs_buf_printf(b, "\\x%c%c", hex[c >> 4], hex[c & 15]);
            p++;
            continue;
        }
        uint32_t r = len == 2 ? (uint32_t)(c & 0x1F) << 6 | (p[1] & 0x3F)
                   : len == 3 ? (uint32_t)(c & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F)
                              : (uint32_t)(c & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
                                    (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
        bool print = !(r <= 0xA0 || r == 0xAD || r == 0x1680 || r == 0x180E || (r >= 0x2000 && r <= 0x200F) ||
                       (r >= 0x2028 && r <= 0x202F) || (r >= 0x205F && r <= 0x206F) || r == 0x3000 ||
                       (r >= 0xE000 && r <= 0xF8FF) || r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB) ||
                       r >= 0xF0000);
        if (print)
            cs_buf_append(b, p, len);
        else if (r < 0x10000)
            cs_buf_printf(b, "\\u%04x", (unsigned)r);
        else
            cs_buf_printf(b, "\\U%08x", (unsigned)r);
        p += len;
    }
    cs_buf_append_char(b, '"');
}

// fail ends the call with "<context>: <the host's error>", as Go's
// fmt.Errorf("<context>: %w", err) does with the SDK's error.
static int fail(const char *context, int code) { return cs_errorf("%s: %s", context, cs_strerror(code)); }

// atoi_go parses s (n bytes) as Go's strconv.Atoi does: an optional sign
// and decimal digits, in range. On failure it sets the tool error as
// notes.go reports it and returns false.
static bool atoi_go(const char *s, size_t n, const char *key, long long *out) {
    const char *p = s, *e = s + n, *why = "invalid syntax";
    bool negative = false;
    unsigned long long u = 0, limit = 9223372036854775807ULL;
    if (p < e && (*p == '+' || *p == '-')) negative = *p++ == '-';
    if (negative) limit++;
    if (p == e) goto fail;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9') goto fail;
        unsigned d = (unsigned)(*p - '0');
        if (u > (limit - d) / 10) {
            why = "value out of range";
            goto fail;
        }
        u = u * 10 + d;
    }
    *out = negative ? (long long)(0 - u) : (long long)u;
    return true;
fail:;
    cs_buf msg = {0};
    cs_buf_append_str(&msg, "reading the last note's key ");
    go_quote(&msg, key, strlen(key));
    cs_buf_append_str(&msg, ": strconv.Atoi: parsing ");
    go_quote(&msg, s, n);
    cs_buf_printf(&msg, ": %s", why);
    cs_error_n(msg.data, msg.len);
    return false;
}

// add appends text as a note. It returns 0, or 1 with the tool error set.
static int add(const cs_buf *text) {
    if (text->len == 0) return cs_error("op add needs a non-empty text");
    cs_strings keys;
    int rc = cs_kv_list(PREFIX, &keys);
    if (rc < 0) return fail("listing notes", rc);
    if (keys.count >= MAX_NOTES) return cs_errorf("there are already %d notes; clear them first", MAX_NOTES);
    long long seq = 0;
    if (keys.count > 0) {
        const char *last = keys.items[keys.count - 1].ptr, *num = last;
        if (strncmp(num, PREFIX, strlen(PREFIX)) == 0) num += strlen(PREFIX);
        const char *dash = strchr(num, '-');
        if (!atoi_go(num, dash ? (size_t)(dash - num) : strlen(num), last, &seq)) return 1;
        seq++;
    }
    // random_get asks the host each time; a generator seeded once would
    // start from the same state in every instance.
    unsigned char suffix[8];
    cs_random(suffix, sizeof suffix);
    cs_buf key = {0};
    cs_buf_printf(&key, "%s%08lld-", PREFIX, seq);
    for (size_t i = 0; i < sizeof suffix; i++) cs_buf_printf(&key, "%02x", suffix[i]);
    rc = cs_kv_set_n(key.data, key.len, text->data, text->len);
    if (rc < 0) return fail("adding the note", rc);
    return 0;
}

// clear_notes deletes every note.
static int clear_notes(void) {
    cs_strings keys;
    int rc = cs_kv_list(PREFIX, &keys);
    if (rc < 0) return fail("listing notes", rc);
    for (size_t i = 0; i < keys.count; i++) {
        rc = cs_kv_delete_n(keys.items[i].ptr, keys.items[i].len);
        if (rc < 0) return cs_errorf("deleting %s: %s", keys.items[i].ptr, cs_strerror(rc));
    }
    return 0;
}

// list writes {"notes": [...]}, oldest first, into out.
static int list(cs_buf *out) {
    cs_strings keys;
    int rc = cs_kv_list(PREFIX, &keys);
    if (rc < 0) return fail("listing notes", rc);
    cs_buf value = {0};
    cs_put_object(out);
    cs_put_key(out, "notes");
    cs_put_array(out);
    for (size_t i = 0; i < keys.count; i++) {
        rc = cs_kv_get_n(keys.items[i].ptr, keys.items[i].len, &value);
        if (rc == CS_ERR_NOT_FOUND) continue; // cleared meanwhile
        if (rc < 0) return cs_errorf("reading %s: %s", keys.items[i].ptr, cs_strerror(rc));
        cs_put_string_n(out, cs_buf_str(&value), value.len);
    }
    cs_put_array_end(out);
    cs_put_object_end(out);
    return 0;
}

// run does the op. The runtime has checked the input against inputSchema:
// op is one of the three, and text, if there, a string.
static int run(cs_json in) {
    cs_buf op = {0}, text = {0}, out = {0};
    cs_json_string(cs_json_get(in, "op"), &op); // absent: "", an unknown op
    cs_json_string(cs_json_get(in, "text"), &text);
    const char *o = op.data;
    int rc = 0;
    if (op.len == 3 && strcmp(o, "add") == 0) {
        rc = add(&text);
    } else if (op.len == 5 && strcmp(o, "clear") == 0) {
        rc = clear_notes();
    } else if (!(op.len == 4 && strcmp(o, "list") == 0)) {
        cs_buf msg = {0};
        cs_buf_append_str(&msg, "unknown op ");
        go_quote(&msg, o, op.len);
        cs_buf_append_str(&msg, ": want add, list or clear");
        return cs_error_n(msg.data, msg.len);
    }
    if (rc != 0) return rc;
    rc = list(&out);
    if (rc != 0) return rc;
    return cs_finish(&out);
}

CAPSTREAM_TOOL(CS_JSON({
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
}), run)
