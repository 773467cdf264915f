// Native tests of examples/conform.c, against capstream_test.h's host: the
// operations that end normally (the limits, traps and bad pointers need the
// runtime, and sdk/conformance runs them all).
#include "../capstream_test.h"

static int answer(cs_json request, cs_buf *response) {
    cs_buf url = {0};
    cs_json_string(cs_json_get(request, "url"), &url);
    if (strstr(url.data, "down")) {
        cs_buf_append_str(response, "connection refused");
        return CS_ERR_UPSTREAM;
    }
    cs_put_object(response);
    cs_put_key(response, "status");
    cs_put_int(response, 201);
    cs_put_key(response, "headers");
    cs_put_raw(response, "{\"Content-Type\":\"text/plain; charset=utf-8\"}", 44);
    cs_put_key(response, "body");
    cs_put_string(response, "h\xc3\xa9llo");
    cs_put_key(response, "url");
    cs_put_string(response, url.data);
    cs_put_object_end(response);
    cs_buf_free(&url);
    return CS_OK;
}

int main(void) {
    cs_test_result r = cs_test_call("{\"op\":\"echo\",\"text\":\"h\\u00e9 \\ud83c\\udf0d \\\"q\\\" \\\\ \\t\\n\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"echo\":\"h\xc3\xa9 \xf0\x9f\x8c\x8d \\\"q\\\" \\\\ \\t\\n\"}");

    const char *in = "{\"op\":\"input\", \"n\":[1,2.5,-3e2,true,null],\"s\":\"\\u0000\",\"o\":{\"a\":{}}}";
    r = cs_test_call(in);
    CS_TEST_EXPECT_STR(r.output, in);

    r = cs_test_call("{\"op\":\"events\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"ok\":true}");
    CS_TEST_EXPECT_STR(r.events, "host.log {\"level\":\"debug\",\"message\":\"debug\"}\n"
                                 "host.log {\"level\":\"info\",\"message\":\"info\"}\n"
                                 "host.log {\"level\":\"warn\",\"message\":\"warn\"}\n"
                                 "host.log {\"level\":\"error\",\"message\":\"error \xc3\xbc\"}\n"
                                 "host.progress {\"message\":\"one\",\"progress\":1,\"total\":3}\n"
                                 "host.progress {\"progress\":2,\"total\":3}\n"
                                 "host.progress {\"progress\":3}\n"
                                 "host.output {\"chunk\":\"partial \xc3\xa9\"}");

    r = cs_test_call("{\"op\":\"kv_get\",\"key\":\"k\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"error\":{\"code\":-2,\"message\":\"no such key\"}}");
    r = cs_test_call("{\"op\":\"kv_set\",\"key\":\"k/\\u00e9\",\"value\":\"v \\u2713\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"ok\":true}");
    r = cs_test_call("{\"op\":\"kv_get\",\"key\":\"k/\\u00e9\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"value\":\"v \xe2\x9c\x93\"}");
    r = cs_test_call("{\"op\":\"kv_list\",\"prefix\":\"k/\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"keys\":[\"k/\xc3\xa9\"]}");
    r = cs_test_call("{\"op\":\"kv_set\",\"key\":\"\",\"value\":\"x\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"error\":{\"code\":-3,\"message\":\"the key is empty\"}}");
    r = cs_test_call("{\"op\":\"kv_delete\",\"key\":\"k/\\u00e9\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"ok\":true}");
    r = cs_test_call("{\"op\":\"kv_list\",\"prefix\":\"\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"keys\":[]}");

    r = cs_test_call("{\"op\":\"http\",\"method\":\"GET\",\"url\":\"https://api.example.com/ok\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"error\":{\"code\":-1,\"message\":\"the test host has no HTTP upstream (set cs_test.http)\"}}");
    cs_test.http = answer;
    r = cs_test_call("{\"op\":\"http\",\"method\":\"GET\",\"url\":\"https://api.example.com/ok?q=secret\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"status\":201,\"url\":\"https://api.example.com/ok?q=secret\",\"body\":\"h\xc3\xa9llo\","
                                 "\"contentType\":\"text/plain; charset=utf-8\"}");
    CS_TEST_EXPECT_STR(r.events, "host.http {\"bytes\":6,\"durationMs\":0,\"method\":\"GET\",\"status\":201,\"url\":\"https://api.example.com/ok\"}");
    r = cs_test_call("{\"op\":\"http\",\"url\":\"https://down.example.com/\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"error\":{\"code\":-5,\"message\":\"connection refused\"}}");

    r = cs_test_call("{\"op\":\"capability\"}");
    CS_TEST_EXPECT(r.output && strncmp(r.output, "{\"claims\":{\"iss\":\"capstream\",\"sub\":\"tester\"", 40) == 0);
    CS_TEST_EXPECT(r.output && strstr(r.output, "\"namespace\":\"conform/tester\""));

    r = cs_test_call("{\"op\":\"fail\",\"message\":\"asked to fail: \\u00fcn\\u00efcode\"}");
    CS_TEST_EXPECT(r.rc != 0);
    CS_TEST_EXPECT_STR(r.error, "asked to fail: \xc3\xbcn\xc3\xaf" "code");
    r = cs_test_call("{\"op\":\"nope\"}");
    CS_TEST_EXPECT_STR(r.error, "unknown op: nope");

    if (cs_test_failures()) return 1;
    printf("conform_test: ok\n");
    return 0;
}
