// Unit tests of tool.c, run natively against the in-memory host of
// capstream_test.h (no runtime needed): make test.
#include "capstream_test.h"

// test_manifest checks what the runtime will read from the module: the name
// callers and policies use, and the input schema.
static void test_manifest(void) {
    const char *m = cs_test_manifest();
    cs_json manifest = {NULL, 0};
    CS_TEST_EXPECT(m != NULL && cs_json_parse(m, strlen(m), &manifest));
    CS_TEST_EXPECT(cs_json_equals(cs_json_get(manifest, "name"), "hello"));
    cs_json name = cs_json_get(cs_json_get(cs_json_get(manifest, "inputSchema"), "properties"), "name");
    CS_TEST_EXPECT(cs_json_equals(cs_json_get(name, "type"), "string"));
}

// test_hello calls the tool as the runtime would.
static void test_hello(void) {
    cs_test_result r = cs_test_call("{\"name\":\"Ada\"}");
    CS_TEST_EXPECT(r.rc == 0);
    CS_TEST_EXPECT_STR(r.output, "{\"greeting\":\"Hello, Ada!\"}");
    CS_TEST_EXPECT_STR(r.events, "host.log {\"level\":\"info\",\"message\":\"greeting Ada\"}");

    r = cs_test_call("{\"name\":\"Z\\u00f6e \\\"Z\\\"\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"greeting\":\"Hello, Z\xc3\xb6" "e \\\"Z\\\"!\"}");

    r = cs_test_call("{}");
    CS_TEST_EXPECT_STR(r.error, "name must be a string");
}

int main(void) {
    test_manifest();
    test_hello();
    if (cs_test_failures()) return 1;
    printf("ok\n");
    return 0;
}
