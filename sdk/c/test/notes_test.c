// Native tests of examples/notes.c, against capstream_test.h's host.
#include "../capstream_test.h"

int main(void) {
    cs_test_result r = cs_test_call("{\"op\":\"list\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"notes\":[]}");
    CS_TEST_EXPECT_STR(r.events, "host.kv {\"count\":0,\"key\":\"note/\",\"op\":\"list\"}");

    r = cs_test_call("{\"op\":\"add\",\"text\":\"first \\u00e9\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"notes\":[\"first \xc3\xa9\"]}");
    CS_TEST_EXPECT(r.event_count == 4); /* list, set, list, get */
    r = cs_test_call("{\"op\":\"add\",\"text\":\"second\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"notes\":[\"first \xc3\xa9\",\"second\"]}");

    /* Keys: note/<8 digits>-<16 hex digits>, in the order of adding. */
    CS_TEST_EXPECT(cs_test_kv_count() == 2);
    cs_test_result l = cs_test_call("{\"op\":\"list\"}");
    const char *k0 = strstr(l.events, "note/00000000-"), *k1 = strstr(l.events, "note/00000001-");
    CS_TEST_EXPECT(k0 && k1 && strspn(k0 + 14, "0123456789abcdef") == 16 && k0[30] == '"');

    r = cs_test_call("{\"op\":\"add\",\"text\":\"\"}");
    CS_TEST_EXPECT_STR(r.error, "op add needs a non-empty text");
    r = cs_test_call("{\"op\":\"nope\\n\"}");
    CS_TEST_EXPECT_STR(r.error, "unknown op \"nope\\n\": want add, list or clear");
    r = cs_test_call("{\"op\":\"\\u00e4dd\\u0001\\u00a0\"}");
    CS_TEST_EXPECT_STR(r.error, "unknown op \"\xc3\xa4" "dd\\x01\\u00a0\": want add, list or clear");
    r = cs_test_call("{}");
    CS_TEST_EXPECT_STR(r.error, "unknown op \"\": want add, list or clear");

    cs_test.read_only_kv = true;
    r = cs_test_call("{\"op\":\"add\",\"text\":\"x\"}");
    CS_TEST_EXPECT_STR(r.error, "adding the note: denied: the capability grants read-only key-value storage");
    cs_test.read_only_kv = false;
    cs_test.deny_kv = true;
    r = cs_test_call("{\"op\":\"list\"}");
    CS_TEST_EXPECT_STR(r.error, "listing notes: denied: the capability grants no key-value storage");
    cs_test.deny_kv = false;

    r = cs_test_call("{\"op\":\"clear\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"notes\":[]}");
    CS_TEST_EXPECT(cs_test_kv_count() == 0);

    /* A key that is not a note's stops add, as in the Go tool. */
    cs_test_kv_put("note/abc-x", 10, "v", 1);
    r = cs_test_call("{\"op\":\"add\",\"text\":\"y\"}");
    CS_TEST_EXPECT_STR(r.error,
                       "reading the last note's key \"note/abc-x\": strconv.Atoi: parsing \"abc\": invalid syntax");
    cs_test_reset();
    cs_test_kv_put("note/00000041-0000000000000000", 30, "forty-one", 9);
    r = cs_test_call("{\"op\":\"add\",\"text\":\"next\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"notes\":[\"forty-one\",\"next\"]}");
    CS_TEST_EXPECT(strstr(r.events, "\"key\":\"note/00000042-") != NULL);

    /* At most 200 notes. */
    cs_test_reset();
    char key[48];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "note/%08d-%016x", i, i);
        cs_test_kv_put(key, strlen(key), "n", 1);
    }
    r = cs_test_call("{\"op\":\"add\",\"text\":\"one too many\"}");
    CS_TEST_EXPECT_STR(r.error, "there are already 200 notes; clear them first");

    if (cs_test_failures()) return 1;
    printf("notes_test: ok\n");
    return 0;
}
