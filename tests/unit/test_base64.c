/* base64 (RFC 4648): the §10 vectors, round trips and the strict rejections. */
#include <string.h>

#include "corvid/base64.h"
#include "check.h"

static void test_rfc4648_vectors(void)
{
    static const struct {
        const char *plain, *enc;
    } v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(v); i++) {
        cv_buf_t e = CV_BUF_INIT, d = CV_BUF_INIT;
        CHECK(cv_base64_encode(v[i].plain, strlen(v[i].plain), &e) == 0);
        CHECK(e.len == strlen(v[i].enc) && (e.len == 0 || strcmp(e.data, v[i].enc) == 0));
        CHECK(cv_base64_encoded_len(strlen(v[i].plain)) == strlen(v[i].enc));
        CHECK(cv_base64_decode(v[i].enc, strlen(v[i].enc), &d) == 0);
        CHECK(d.len == strlen(v[i].plain) &&
              (d.len == 0 || memcmp(d.data, v[i].plain, d.len) == 0));
        cv_buf_free(&e);
        cv_buf_free(&d);
    }
}

static void test_round_trip(void)
{
    uint8_t data[300];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(data); i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    for (size_t n = 0; n <= sizeof(data); n++) {
        cv_buf_t e = CV_BUF_INIT, d = CV_BUF_INIT;
        CHECK(cv_base64_encode(data, n, &e) == 0);
        CHECK(e.len == cv_base64_encoded_len(n));
        CHECK(cv_base64_decode(e.data, e.len, &d) == 0);
        CHECK(d.len == n && (n == 0 || memcmp(d.data, data, n) == 0));
        cv_buf_free(&e);
        cv_buf_free(&d);
    }
}

static void test_appends(void)
{
    cv_buf_t b = CV_BUF_INIT;
    CHECK(cv_buf_append_str(&b, "x:") == 0);
    CHECK(cv_base64_encode("foo", 3, &b) == 0);
    CHECK(strcmp(b.data, "x:Zm9v") == 0);
    CHECK(cv_base64_decode("YmFy", 4, &b) == 0);
    CHECK(strcmp(b.data, "x:Zm9vbar") == 0);
    cv_buf_free(&b);
}

static void test_rejections(void)
{
    static const char *const bad[] = {
        "=",    "Zg=",  "Zg",       "Z",        "Zh==",    "Zm9=",     "Zm8==",    "Z===",
        "====", "Zm=v", "Zg==Zg==", "Zm9v====", "Zm 9v",   "Zm9v\n",   " Zm9v",    "Zm9v\r\n",
        "Zm-v", "Zm_v", "Zm9\tv",   "Zm9v=",    "Zm9vYg=", "Zm9vYmF=", "Zm9vY===", "\xc3\xa9xyz",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        cv_buf_t d = CV_BUF_INIT;
        CHECK(cv_buf_append_str(&d, "keep") == 0);
        int rc = cv_base64_decode(bad[i], strlen(bad[i]), &d);
        if (rc != CV_EINVAL)
            printf("FAIL: accepted or misreported \"%s\" (rc %d)\n", bad[i], rc);
        CHECK(rc == CV_EINVAL);
        /* On error the output is left as it was, terminator included. */
        CHECK(d.len == 4 && strcmp(d.data, "keep") == 0);
        cv_buf_free(&d);
    }
    /* An embedded NUL is not a base64 character either. */
    cv_buf_t d = CV_BUF_INIT;
    CHECK(cv_base64_decode("Zm\0v", 4, &d) == CV_EINVAL);
    CHECK(d.len == 0);
    cv_buf_free(&d);
}

static void test_sasl_payload(void)
{
    cv_buf_t d = CV_BUF_INIT;
    CHECK(cv_base64_decode_sasl("=", 1, &d) == 0);
    CHECK(d.len == 0);
    CHECK(cv_base64_decode_sasl("", 0, &d) == 0);
    CHECK(d.len == 0);
    CHECK(cv_base64_decode_sasl("Zm9v", 4, &d) == 0);
    CHECK(d.len == 3 && memcmp(d.data, "foo", 3) == 0);
    cv_buf_clear(&d);
    CHECK(cv_base64_decode_sasl("==", 2, &d) == CV_EINVAL);
    CHECK(cv_base64_decode_sasl("Zg=", 3, &d) == CV_EINVAL);
    CHECK(d.len == 0);
    cv_buf_free(&d);
}

int main(void)
{
    test_rfc4648_vectors();
    test_round_trip();
    test_appends();
    test_rejections();
    test_sasl_payload();
    if (failures)
        printf("%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
