/* SCRAM credentials: known keys (RFC 5803 / RFC 7677 example), SASLprep, verification,
   storage form. */
#include <string.h>

#include "corvid/base64.h"
#include "corvid/scram.h"
#include "sasl_int.h"
#include "check.h"

static size_t b64(const char *s, uint8_t *out, size_t cap)
{
    cv_buf_t b = CV_BUF_INIT;
    size_t n = 0;
    if (cv_base64_decode(s, strlen(s), &b) == 0 && b.len <= cap) {
        memcpy(out, b.data, b.len);
        n = b.len;
    }
    cv_buf_free(&b);
    return n;
}

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    for (; s[0] && s[1]; s += 2) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
    }
    return n;
}

static int all_zero(const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        if (b[i])
            return 0;
    return 1;
}

/* Expected keys from Python's hashlib and RFC 5803 §4 (SHA-1) for user "user", password
   "pencil" of the RFC 5802 / RFC 7677 examples. */
static void test_known_keys(void)
{
    static const struct {
        cv_scram_hash_t h;
        const char *salt, *stored, *server;
    } v[] = {
        {CV_SCRAM_SHA1, "QSXCR+Q6sek8bf92",
         "6dlGYMOdZcOPutkcNY8U2g7vK9Y=", "D+CSWLOshSulAsxiupA+qs2/fTE="},
        {CV_SCRAM_SHA256,
         "W22ZaJ0SNY7soEsUEjb6gQ==", "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
         "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(v); i++) {
        uint8_t salt[32], stored[32], server[32];
        size_t sl = b64(v[i].salt, salt, sizeof(salt));
        size_t hl = cv_scram_hash_len(v[i].h);
        CHECK(b64(v[i].stored, stored, sizeof(stored)) == hl);
        CHECK(b64(v[i].server, server, sizeof(server)) == hl);
        cv_scram_cred_t c;
        CHECK(cv_scram_cred_derive(&c, "pencil", 4096, salt, sl) == 0);
        CHECK(c.iterations == 4096 && c.salt_len == sl && memcmp(c.salt, salt, sl) == 0);
        CHECK(memcmp(c.keys[v[i].h].stored_key, stored, hl) == 0);
        CHECK(memcmp(c.keys[v[i].h].server_key, server, hl) == 0);
        CHECK(cv_scram_cred_verify_password(&c, "pencil") == 0);
        CHECK(cv_scram_cred_verify_password(&c, "pencil ") == CV_EAUTH);
        CHECK(cv_scram_cred_verify_password(&c, "Pencil") == CV_EAUTH);
        CHECK(cv_scram_cred_verify_password(&c, "") == CV_EAUTH);
    }
    CHECK(cv_scram_hash_len(CV_SCRAM_SHA1) == 20);
    CHECK(cv_scram_hash_len(CV_SCRAM_SHA256) == 32);
}

static void test_saslprep(void)
{
    static const uint8_t salt[4] = {1, 2, 3, 4};
    cv_scram_cred_t ix, c;
    CHECK(cv_scram_cred_derive(&ix, "IX", 16, salt, sizeof(salt)) == 0);
    /* RFC 4013 §3: SOFT HYPHEN maps to nothing; ROMAN NUMERAL NINE and FEMININE ORDINAL
       INDICATOR are NFKC-mapped. */
    CHECK(cv_scram_cred_derive(&c, "I\xc2\xadX", 16, salt, sizeof(salt)) == 0);
    CHECK(memcmp(&c.keys, &ix.keys, sizeof(c.keys)) == 0);
    CHECK(cv_scram_cred_verify_password(&ix, "\xe2\x85\xa8") == 0);
    CHECK(cv_scram_cred_verify_password(&ix, "I\xc2\xadX") == 0);
    CHECK(cv_scram_cred_verify_password(&ix, "ix") == CV_EAUTH);
    /* Non-ASCII space maps to SPACE. */
    cv_scram_cred_t sp;
    CHECK(cv_scram_cred_derive(&sp, "a b", 16, salt, sizeof(salt)) == 0);
    CHECK(cv_scram_cred_verify_password(&sp, "a\xc2\xa0"
                                             "b") == 0);
    /* Prohibited output (a control character) and bidi violations are refused. */
    CHECK(cv_scram_cred_derive(&c, "a\x07", 16, salt, sizeof(salt)) == CV_EINVAL);
    CHECK(all_zero(&c, sizeof(c)));
    CHECK(cv_scram_cred_derive(&c,
                               "\xd8\xa7"
                               "1",
                               16, salt, sizeof(salt)) == CV_EINVAL);
    CHECK(cv_scram_cred_verify_password(&ix, "I\x07X") == CV_EAUTH);
    /* Only a soft hyphen: empty after preparation. */
    CHECK(cv_scram_cred_derive(&c, "\xc2\xad", 16, salt, sizeof(salt)) == CV_EINVAL);
    /* Invalid UTF-8. */
    CHECK(cv_scram_cred_derive(&c, "\xff\xfe", 16, salt, sizeof(salt)) == CV_EINVAL);
}

static void test_derive_params(void)
{
    uint8_t salt[33] = {0};
    cv_scram_cred_t a, b;
    CHECK(cv_scram_cred_derive(&a, "secret", 0, salt, 16) == CV_EINVAL);
    CHECK(cv_scram_cred_derive(&a, "secret", CV_SCRAM_MAX_ITERATIONS + 1, salt, 16) == CV_EINVAL);
    CHECK(cv_scram_cred_derive(&a, "secret", 16, salt, 0) == CV_EINVAL);
    CHECK(cv_scram_cred_derive(&a, "secret", 16, salt, 33) == CV_EINVAL);
    CHECK(cv_scram_cred_derive(&a, "", 16, NULL, 0) == CV_EINVAL);
    CHECK(cv_scram_cred_derive(&a, "secret", 16, salt, 32) == 0);
    CHECK(a.salt_len == 32);
    /* Random salts: right length, different each time, and still verifiable. */
    CHECK(cv_scram_cred_derive(&a, "secret", 16, NULL, 0) == 0);
    CHECK(cv_scram_cred_derive(&b, "secret", 16, NULL, 0) == 0);
    CHECK(a.salt_len == CV_SCRAM_DEFAULT_SALT_LEN && b.salt_len == CV_SCRAM_DEFAULT_SALT_LEN);
    CHECK(memcmp(a.salt, b.salt, a.salt_len) != 0);
    CHECK(memcmp(a.keys, b.keys, sizeof(a.keys)) != 0);
    CHECK(cv_scram_cred_verify_password(&a, "secret") == 0);
    CHECK(cv_scram_cred_verify_password(&b, "secret") == 0);
    CHECK(cv_scram_cred_verify_password(&b, "secreT") == CV_EAUTH);
    /* A damaged credential never verifies. */
    b.iterations = 0;
    CHECK(cv_scram_cred_verify_password(&b, "secret") == CV_EAUTH);
}

static void test_storage_form(void)
{
    cv_scram_cred_t c, d;
    cv_buf_t blob = CV_BUF_INIT;
    CHECK(cv_scram_cred_derive(&c, "hunter2", 4096, NULL, 0) == 0);
    CHECK(cv_scram_cred_encode(&c, &blob) == 0);
    CHECK(blob.len == 3 + 4 + 1 + 16 + 40 + 64);
    CHECK(blob.len > 3 && memcmp(blob.data, "SC\x01", 3) == 0);
    CHECK(cv_scram_cred_decode(&d, blob.data, blob.len) == 0);
    CHECK(d.iterations == 4096 && d.salt_len == 16 && memcmp(d.salt, c.salt, 16) == 0);
    CHECK(memcmp(d.keys[CV_SCRAM_SHA256].stored_key, c.keys[CV_SCRAM_SHA256].stored_key, 32) == 0);
    CHECK(memcmp(d.keys[CV_SCRAM_SHA256].server_key, c.keys[CV_SCRAM_SHA256].server_key, 32) == 0);
    CHECK(memcmp(d.keys[CV_SCRAM_SHA1].stored_key, c.keys[CV_SCRAM_SHA1].stored_key, 20) == 0);
    CHECK(memcmp(d.keys[CV_SCRAM_SHA1].server_key, c.keys[CV_SCRAM_SHA1].server_key, 20) == 0);
    CHECK(cv_scram_cred_verify_password(&d, "hunter2") == 0);

    /* Every truncation and one extra byte are refused. */
    for (size_t n = 0; n < blob.len; n++)
        CHECK(cv_scram_cred_decode(&d, blob.data, n) == CV_EINVAL);
    uint8_t big[256];
    memcpy(big, blob.data, blob.len);
    big[blob.len] = 0;
    CHECK(cv_scram_cred_decode(&d, big, blob.len + 1) == CV_EINVAL);
    CHECK(all_zero(&d, sizeof(d)));

    static const struct {
        size_t off;
        uint8_t val;
    } corrupt[] = {
        {0, 'X'},  {1, 'X'}, {2, 2}, /* magic and version */
        {3, 0},    {4, 0},   {5, 0}, /* with {6, 0}: iterations 0 */
        {7, 0},    {7, 33},          /* salt length */
        {3, 0xff},                   /* iterations above the maximum */
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(corrupt); i++) {
        memcpy(big, blob.data, blob.len);
        big[corrupt[i].off] = corrupt[i].val;
        if (corrupt[i].off >= 3 && corrupt[i].off <= 5 && corrupt[i].val == 0)
            big[3] = big[4] = big[5] = big[6] = 0;
        CHECK(cv_scram_cred_decode(&d, big, blob.len) == CV_EINVAL);
    }
    /* Out-of-range credentials are not encoded. */
    cv_buf_clear(&blob);
    d = c;
    d.salt_len = 0;
    CHECK(cv_scram_cred_encode(&d, &blob) == CV_EINVAL);
    d = c;
    d.iterations = 0;
    CHECK(cv_scram_cred_encode(&d, &blob) == CV_EINVAL);
    CHECK(blob.len == 0);
    cv_buf_free(&blob);
}

static void test_primitives(void)
{
    uint8_t out[32], want[32];
    /* RFC 2202 §3 test 2 and RFC 4231 §4.3. */
    const char *data = "what do ya want for nothing?";
    CHECK(cv__scram_hmac(CV_SCRAM_SHA1, (const uint8_t *)"Jefe", 4, data, strlen(data), out) == 0);
    CHECK(unhex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", want) == 20);
    CHECK(memcmp(out, want, 20) == 0);
    CHECK(cv__scram_hmac(CV_SCRAM_SHA256, (const uint8_t *)"Jefe", 4, data, strlen(data), out) ==
          0);
    CHECK(unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want) == 32);
    CHECK(memcmp(out, want, 32) == 0);
    CHECK(cv__scram_hash(CV_SCRAM_SHA256, "abc", 3, out) == 0);
    CHECK(unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want) == 32);
    CHECK(memcmp(out, want, 32) == 0);

    CHECK(cv__scram_ct_compare("abcd", "abcd", 4) == 0);
    CHECK(cv__scram_ct_compare("abcd", "abce", 4) != 0);
    CHECK(cv__scram_ct_compare("xbcd", "abcd", 4) != 0);
    CHECK(cv__scram_ct_compare("", "", 0) == 0);

    uint8_t r1[24] = {0}, r2[24] = {0};
    CHECK(cv__scram_random(r1, sizeof(r1)) == 0);
    CHECK(cv__scram_random(r2, sizeof(r2)) == 0);
    CHECK(memcmp(r1, r2, sizeof(r1)) != 0);
    cv__scram_wipe(r1, sizeof(r1));
    CHECK(all_zero(r1, sizeof(r1)));
}

int main(void)
{
    test_known_keys();
    test_saslprep();
    test_derive_params();
    test_storage_form();
    test_primitives();
    if (failures)
        printf("%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
