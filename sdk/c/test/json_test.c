// Native tests of capstream.h's buffer, JSON writer and JSON reader: pure
// code, no host. Run with make test.
#define CS_JSON_MAX_DEPTH 16
#include "../capstream.h"

static int failures;

#define EXPECT(cond)                                                   \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                \
        }                                                              \
    } while (0)

static void expect_str(int line, const char *what, const char *got, size_t got_len, const char *want,
                       size_t want_len) {
    if (got_len == want_len && memcmp(got, want, got_len) == 0) return;
    fprintf(stderr, "%s:%d: %s\n\tgot  %.*s\n\twant %.*s\n", __FILE__, line, what, (int)got_len, got,
            (int)want_len, want);
    failures++;
}

#define EXPECT_BUF(b, want) expect_str(__LINE__, #b, cs_buf_str(b), (b)->len, want, sizeof(want) - 1)

static cs_json parse(const char *text) {
    cs_json v;
    if (!cs_json_parse(text, strlen(text), &v)) {
        fprintf(stderr, "does not parse: %s\n", text);
        failures++;
    }
    return v;
}

static void test_parse(void) {
    static const char *const valid[] = {
        "0", "-0", "1", "-1", "12.5", "1e3", "1E+3", "1e-3", "-0.0e0", "true", "false", "null", "\"\"",
        "\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"", "[]", "{}", " [ 1 , [ ] , { } ] ",
        "{\"a\":{\"b\":[1,{\"c\":null}]}}", "\"\xc3\xa9\xff\"", "\t\r\n 7 \n",
        "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]", /* 16 deep: the limit of this test */
    };
    static const char *const invalid[] = {
        "", " ", "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "tru", "nul", "truex", "[1,]", "[,1]",
        "{\"a\":1,}", "{\"a\"}", "{\"a\":}", "{a:1}", "{\"a\" 1}", "[1 2]", "\"abc", "\"\\x\"", "\"\\u12\"",
        "\"\\u12g4\"", "\"a\nb\"", "\"\x01\"", "[", "]", "{", "}", "[}", "{]", "1 2", "\"a\" \"b\"", "[1]]",
        "[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]", /* 17 deep */
        "NaN", "Infinity", "'a'",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        cs_json v;
        if (!cs_json_parse(valid[i], strlen(valid[i]), &v)) {
            fprintf(stderr, "valid JSON refused: %s\n", valid[i]);
            failures++;
        }
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        cs_json v;
        if (cs_json_parse(invalid[i], strlen(invalid[i]), &v) || cs_json_exists(v)) {
            fprintf(stderr, "invalid JSON accepted: %s\n", invalid[i]);
            failures++;
        }
    }
    cs_json v;
    EXPECT(!cs_json_parse(NULL, 0, &v));
    EXPECT(cs_json_parse("[1]xyz", 3, &v) && v.len == 3); /* only len bytes count */
    v = parse("  {\"a\": 1}  ");
    EXPECT(v.len == 8 && v.ptr[0] == '{');
}

static void test_navigate(void) {
    cs_json doc = parse("{\"name\":\"Ada\",\"n\":[1,2.5,-3e2,true,null,\"s\",[],{}],\"o\":{\"a\":{\"b\":7}},"
                        "\"dup\":1,\"dup\":2,\"k\\u00e9y\":\"escaped\",\"nul\\u0000\":\"x\"}");
    cs_json n = cs_json_get(doc, "n"), missing = cs_json_get(doc, "nope");
    EXPECT(cs_json_kind(doc) == CS_OBJECT);
    EXPECT(cs_json_kind(n) == CS_ARRAY && cs_json_count(n) == 8);
    EXPECT(cs_json_count(doc) == 7);
    EXPECT(cs_json_kind(missing) == CS_MISSING && !cs_json_exists(missing));
    EXPECT(cs_json_kind(cs_json_get(missing, "x")) == CS_MISSING);
    EXPECT(cs_json_kind(cs_json_at(n, 8)) == CS_MISSING);
    EXPECT(cs_json_kind(cs_json_at(doc, 0)) == CS_MISSING); /* not an array */
    EXPECT(cs_json_kind(cs_json_get(n, "x")) == CS_MISSING); /* not an object */
    EXPECT(cs_json_kind(cs_json_at(n, 3)) == CS_BOOL);
    EXPECT(cs_json_is_null(cs_json_at(n, 4)));
    EXPECT(cs_json_kind(cs_json_at(n, 6)) == CS_ARRAY && cs_json_count(cs_json_at(n, 6)) == 0);
    EXPECT(cs_json_kind(cs_json_at(n, 7)) == CS_OBJECT);
    EXPECT(cs_json_equals(cs_json_get(doc, "name"), "Ada"));
    EXPECT(!cs_json_equals(cs_json_get(doc, "name"), "Ad"));
    EXPECT(!cs_json_equals(cs_json_get(doc, "name"), "Adam"));
    EXPECT(!cs_json_equals(cs_json_get(doc, "n"), "Ada"));
    EXPECT(cs_json_equals(cs_json_get(doc, "k\xc3\xa9y"), "escaped"));
    EXPECT(cs_json_equals(cs_json_get_n(doc, "nul\0", 4), "x"));
    EXPECT(!cs_json_exists(cs_json_get(doc, "nul")));

    int64_t i;
    EXPECT(cs_json_int(cs_json_get(doc, "dup"), &i) && i == 2); /* the last wins */
    EXPECT(cs_json_int(cs_json_get(cs_json_get(cs_json_get(doc, "o"), "a"), "b"), &i) && i == 7);

    cs_json_iter it = cs_json_iterate(cs_json_get(doc, "o"));
    cs_json key, val;
    EXPECT(cs_json_next(&it, &key, &val) && cs_json_equals(key, "a") && cs_json_kind(val) == CS_OBJECT);
    EXPECT(!cs_json_next(&it, &key, &val));
    it = cs_json_iterate(n);
    size_t count = 0;
    while (cs_json_next(&it, &key, &val)) {
        EXPECT(!cs_json_exists(key));
        count++;
    }
    EXPECT(count == 8);
    it = cs_json_iterate(cs_json_get(doc, "name"));
    EXPECT(!cs_json_next(&it, NULL, &val));
}

static void expect_decoded(int line, const char *json, const char *want, size_t want_len) {
    cs_buf b = {0};
    cs_json v = parse(json);
    if (!cs_json_string(v, &b)) {
        fprintf(stderr, "%s:%d: not a string: %s\n", __FILE__, line, json);
        failures++;
    }
    expect_str(line, json, cs_buf_str(&b), b.len, want, want_len);
    EXPECT(cs_json_equals_n(v, want, want_len));
    size_t n;
    char *dup = cs_json_strdup(v, &n);
    EXPECT(dup && n == want_len && memcmp(dup, want, n) == 0 && dup[n] == 0);
    free(dup);
    cs_buf_free(&b);
}

#define EXPECT_DECODED(json, want) expect_decoded(__LINE__, json, want, sizeof(want) - 1)

static void test_strings(void) {
    EXPECT_DECODED("\"\"", "");
    EXPECT_DECODED("\"plain\"", "plain");
    EXPECT_DECODED("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
    EXPECT_DECODED("\"\\u0041\\u00e9\\u20AC\\u0000\"", "A\xc3\xa9\xe2\x82\xac\0");
    EXPECT_DECODED("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");              /* a surrogate pair */
    EXPECT_DECODED("\"\\ud83d\"", "\xef\xbf\xbd");                         /* lone high */
    EXPECT_DECODED("\"\\ude00x\"", "\xef\xbf\xbdx");                       /* lone low */
    EXPECT_DECODED("\"\\ud83d\\u0041\"", "\xef\xbf\xbd" "A");              /* high, then not low */
    EXPECT_DECODED("\"\\ud83d\\ud83d\\ude00\"", "\xef\xbf\xbd\xf0\x9f\x98\x80");
    EXPECT_DECODED("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    EXPECT_DECODED("\"a\xff" "b\"", "a\xef\xbf\xbd" "b");                  /* not UTF-8 */
    EXPECT_DECODED("\"\xc3\"", "\xef\xbf\xbd");                            /* cut short */
    EXPECT_DECODED("\"\xed\xa0\x80\"", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* encoded surrogate */
    EXPECT_DECODED("\"\xc0\xaf\"", "\xef\xbf\xbd\xef\xbf\xbd");            /* overlong */
    EXPECT_DECODED("\"\xf4\x90\x80\x80\"", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* > U+10FFFF */
    cs_buf b = {0};
    EXPECT(!cs_json_string(parse("12"), &b) && b.len == 0);
    cs_json none = {NULL, 0};
    EXPECT(!cs_json_string(none, &b) && !cs_json_strdup(none, NULL) && !cs_json_equals(none, ""));
}

static void test_numbers(void) {
    int64_t i;
    double d;
    bool t;
    EXPECT(cs_json_int(parse("0"), &i) && i == 0);
    EXPECT(cs_json_int(parse("-0"), &i) && i == 0);
    EXPECT(cs_json_int(parse("9223372036854775807"), &i) && i == INT64_MAX);
    EXPECT(cs_json_int(parse("-9223372036854775808"), &i) && i == INT64_MIN);
    EXPECT(!cs_json_int(parse("9223372036854775808"), &i));
    EXPECT(!cs_json_int(parse("-9223372036854775809"), &i));
    EXPECT(cs_json_int(parse("1e3"), &i) && i == 1000);
    EXPECT(cs_json_int(parse("2.0"), &i) && i == 2);
    EXPECT(cs_json_int(parse("-25e-1"), &i) == false);
    EXPECT(!cs_json_int(parse("1.5"), &i));
    EXPECT(!cs_json_int(parse("1e19"), &i));
    EXPECT(!cs_json_int(parse("\"1\""), &i));
    EXPECT(cs_json_number(parse("-0.25e-3"), &d) && d == -0.25e-3);
    EXPECT(cs_json_number(parse("1e308"), &d) && d == 1e308);
    EXPECT(cs_json_number(parse("123456789012345678901234567890123456789012345678901234567890123456789"), &d) &&
           d > 1.2345e68 && d < 1.2346e68);
    EXPECT(!cs_json_number(parse("true"), &d));
    EXPECT(cs_json_bool(parse("true"), &t) && t);
    EXPECT(cs_json_bool(parse("false"), &t) && !t);
    EXPECT(!cs_json_bool(parse("null"), &t));
}

static void test_buf(void) {
    cs_buf b = {0};
    EXPECT(strcmp(cs_buf_str(&b), "") == 0);
    cs_buf_append_str(&b, "n=");
    cs_buf_append_int(&b, INT64_MIN);
    cs_buf_append_char(&b, ' ');
    cs_buf_append_int(&b, 0);
    cs_buf_printf(&b, " %s-%03d", "x", 7);
    EXPECT_BUF(&b, "n=-9223372036854775808 0 x-007");
    EXPECT(b.data[b.len] == 0);
    cs_buf_reset(&b);
    EXPECT(b.len == 0 && b.data[0] == 0);
    for (int i = 0; i < 10000; i++) cs_buf_append_char(&b, 'x');
    EXPECT(b.len == 10000 && b.cap > 10000 && b.data[10000] == 0);
    cs_buf_free(&b);
    EXPECT(!b.data && !b.len && !b.cap);
    cs_buf_reserve(&b, 10);
    EXPECT(b.data && b.data[0] == 0);
    cs_buf_free(&b);
}

static void test_writer(void) {
    cs_buf b = {0};
    cs_put_object(&b);
    cs_put_key(&b, "s");
    cs_put_string(&b, "q\" b\\ \n\r\t\b\f \x01\x1f\x7f \xc3\xa9 \xf0\x9f\x98\x80 \xff </>");
    cs_put_key(&b, "nul");
    cs_put_string_n(&b, "a\0b", 3);
    cs_put_key(&b, "null");
    cs_put_string(&b, NULL);
    cs_put_key(&b, "a");
    cs_put_array(&b);
    cs_put_int(&b, -42);
    cs_put_number(&b, 0.1);
    cs_put_number(&b, 1e21);
    cs_put_number(&b, 3.0);
    cs_put_number(&b, -0.0);
    cs_put_number(&b, 0.0 / 0.0);
    cs_put_number(&b, 1.0 / 0.0);
    cs_put_number(&b, 123456.789);
    cs_put_number(&b, 5e-324);
    cs_put_bool(&b, true);
    cs_put_bool(&b, false);
    cs_put_null(&b);
    cs_put_array(&b);
    cs_put_array_end(&b);
    cs_put_object(&b);
    cs_put_object_end(&b);
    cs_put_raw(&b, "{\"r\":[1]}", 9);
    cs_put_json(&b, parse(" [true] "));
    cs_json none = {NULL, 0};
    cs_put_json(&b, none);
    cs_put_array_end(&b);
    cs_put_key(&b, "k\"\xc3\xa9");
    cs_put_object(&b);
    cs_put_key_n(&b, "x", 1);
    cs_put_int(&b, 1);
    cs_put_object_end(&b);
    cs_put_object_end(&b);
    EXPECT_BUF(&b, "{\"s\":\"q\\\" b\\\\ \\n\\r\\t\\b\\f \\u0001\\u001f\x7f \xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd </>\","
                   "\"nul\":\"a\\u0000b\",\"null\":null,"
                   "\"a\":[-42,0.1,1e+21,3,0,null,null,123456.789,5e-324,true,false,null,[],{},"
                   "{\"r\":[1]},[true],null],"
                   "\"k\\\"\xc3\xa9\":{\"x\":1}}");
    cs_json v;
    EXPECT(cs_json_parse(b.data, b.len, &v));
    cs_buf_free(&b);
}

// test_round_trip writes random byte strings and reads them back: valid
// UTF-8 comes back as it was, everything else as U+FFFD.
static void test_round_trip(void) {
    uint64_t seed = 42;
    cs_buf b = {0}, back = {0};
    char s[64];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(seed % sizeof s);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            unsigned r = (unsigned)(seed >> 33);
            s[i] = (char)(r % 4 == 0 ? r >> 8 : r % 4 == 1 ? (r >> 8) % 0x20 : (r >> 8) % 0x60 + 0x20);
        }
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        cs_buf_reset(&b);
        cs_buf_reset(&back);
        cs_put_array(&b);
        cs_put_string_n(&b, s, n);
        cs_put_array_end(&b);
        cs_json v;
        if (!cs_json_parse(b.data, b.len, &v) || !cs_json_string(cs_json_at(v, 0), &back)) {
            fprintf(stderr, "round %d: wrote invalid JSON: %s\n", round, b.data);
            failures++;
            break;
        }
        /* Expected: s with every byte outside valid UTF-8 replaced. */
        cs_buf want = {0};
        const unsigned char *p = (const unsigned char *)s, *e = p + n;
        while (p < e) {
            size_t k = cs__utf8_len(p, e);
            if (k) {
                cs_buf_append(&want, p, k);
                p += k;
            } else {
                cs_buf_append(&want, "\xef\xbf\xbd", 3);
                p++;
            }
        }
        if (want.len != back.len || (want.len && memcmp(want.data, back.data, want.len) != 0)) {
            fprintf(stderr, "round %d: round trip differs\n", round);
            failures++;
            break;
        }
        cs_buf_free(&want);
    }
    cs_buf_free(&b);
    cs_buf_free(&back);
}

static void test_codes(void) {
    EXPECT(strcmp(cs_code_name(CS_ERR_DENIED), "denied") == 0);
    EXPECT(strcmp(cs_code_name(CS_ERR_STORAGE), "storage") == 0);
    EXPECT(strcmp(cs_code_name(-99), "unknown") == 0);
    EXPECT(strcmp(cs_strerror(CS_ERR_QUOTA), "quota") == 0); /* no message staged */
    strcpy(cs__state()->message, "over by 3 bytes");
    EXPECT(strcmp(cs_strerror(CS_ERR_QUOTA), "quota: over by 3 bytes") == 0);
    EXPECT(strcmp(cs_strerror(-12), "error -12: over by 3 bytes") == 0);
    EXPECT(strcmp(cs_kind_name(CS_OBJECT), "object") == 0 && strcmp(cs_kind_name(CS_MISSING), "missing") == 0);
}

int main(void) {
    test_parse();
    test_navigate();
    test_strings();
    test_numbers();
    test_buf();
    test_writer();
    test_round_trip();
    test_codes();
    if (failures) {
        fprintf(stderr, "json_test: %d failures\n", failures);
        return 1;
    }
    printf("json_test: ok\n");
    return 0;
}
