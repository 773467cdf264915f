// capstream.h compiled as C++: a tool defined in C++ (with CAPSTREAM_TOOL),
// built for wasm32 and called natively through capstream_test.h's host.
#ifdef __wasm__
#include "../capstream.h"
#else
#include "../capstream_test.h"
#endif

static int run(cs_json in) {
    cs_buf name = {NULL, 0, 0}, out = {NULL, 0, 0};
    if (!cs_json_string(cs_json_get(in, "name"), &name)) return cs_error("name must be a string");
    if (cs_logf(CS_LOG_INFO, "greeting %s", name.data) < 0) return cs_error(cs_strerror(CS_ERR_DENIED));
    cs_put_object(&out);
    cs_put_key(&out, "greeting");
    cs_put_string(&out, name.data);
    cs_put_object_end(&out);
    return cs_finish(&out);
}

CAPSTREAM_TOOL(CS_JSON({"name": "cxx", "inputSchema": {"type": "object"}}), run)

#ifndef __wasm__
int main() {
    cs_test_result r = cs_test_call("{\"name\":\"Ada\"}");
    CS_TEST_EXPECT_STR(r.output, "{\"greeting\":\"Ada\"}");
    CS_TEST_EXPECT_STR(r.events, "host.log {\"level\":\"info\",\"message\":\"greeting Ada\"}");
    r = cs_test_call("{\"name\":1}");
    CS_TEST_EXPECT_STR(r.error, "name must be a string");
    if (cs_test_failures()) return 1;
    printf("cxx_test: ok\n");
    return 0;
}
#endif
