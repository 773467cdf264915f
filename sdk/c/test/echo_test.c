// Native tests of examples/echo.c, against capstream_test.h's host.
#include "../capstream_test.h"

int main(void) {
    const char *m = cs_test_manifest();
    cs_json manifest = {NULL, 0};
    CS_TEST_EXPECT(m && cs_json_parse(m, strlen(m), &manifest));
    CS_TEST_EXPECT(cs_json_equals(cs_json_get(manifest, "name"), "echo"));
    CS_TEST_EXPECT(cs_json_count(cs_json_get(manifest, "inputSchema")) == 4);

    cs_test_result r = cs_test_call("{\"text\":\"h\\u00e9llo <b>\"}");
    CS_TEST_EXPECT(r.rc == 0);
    CS_TEST_EXPECT_STR(r.output, "{\"text\":\"h\xc3\xa9llo <b>\"}");
    CS_TEST_EXPECT_STR(r.events, "host.log {\"level\":\"info\",\"message\":\"echoing 10 bytes\"}");

    r = cs_test_call("{\"text\":\"\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"text\":\"\"}");

    // The runtime checks inputs against the schema; a tool called without
    // it still fails cleanly.
    r = cs_test_call("{\"text\":5}");
    CS_TEST_EXPECT_STR(r.error, "text must be a string");
    CS_TEST_EXPECT(r.event_count == 0);

    if (cs_test_failures()) return 1;
    printf("echo_test: ok\n");
    return 0;
}
