/* Fuzzes the SASL server: arbitrary first and second client messages through every
   mechanism, plus the base64 and credential-blob decoders on the same bytes.
   Input: byte 0 = mechanism (low 3 bits) and environment flags; bytes 1-2 = length of the
   first message; the rest is split into first and second message. */
#include <string.h>

#include "corvid/base64.h"
#include "corvid/sasl.h"
#include "sasl_int.h"

static const char *const mech_names[] = {
    "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN",
};

/* Read-only after LLVMFuzzerInitialize. */
static cv_scram_cred_t user_cred;

static int lookup(void *ctx, const char *authcid, cv_scram_cred_t *out)
{
    (void)ctx;
    if (strcmp(authcid, "user") == 0) {
        *out = user_cred;
        return 0;
    }
    if (strcmp(authcid, "broken") == 0)
        return CV_ESTORE;
    return CV_ENOTFOUND;
}

static int channel_binding(void *ctx, const char *type, uint8_t *out, size_t cap, size_t *len)
{
    int endpoint = *(const int *)ctx;
    size_t n = 32;
    if (strcmp(type, "tls-exporter") != 0 &&
        !(endpoint && strcmp(type, "tls-server-end-point") == 0))
        return CV_EUNSUPP;
    if (n > cap)
        return CV_EUNSUPP;
    memset(out, 0x42, n);
    *len = n;
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Few iterations keep PLAIN fast enough to fuzz. */
    static const uint8_t salt[] = "fuzzsalt";
    if (cv_scram_cred_derive(&user_cred, "pencil", 2, salt, sizeof(salt) - 1) != 0)
        abort();
    return 0;
}

static void check_step(int rc, const cv_buf_t *out, cv_sasl_failure_t f, const cv_sasl_t *s)
{
    if (rc > 0) {
        CV_ASSERT(rc == CV_SASL_CONTINUE);
        CV_ASSERT(cv_sasl_authcid(s) == NULL);
    } else if (rc == 0) {
        CV_ASSERT(cv_sasl_authcid(s) != NULL);
    } else {
        CV_ASSERT(out->len == 0);
        CV_ASSERT((unsigned)f <= CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE);
        CV_ASSERT(cv_sasl_authcid(s) == NULL);
    }
}

static void fuzz_decoders(const uint8_t *data, size_t size)
{
    cv_buf_t b = CV_BUF_INIT, e = CV_BUF_INIT;
    if (cv_base64_decode((const char *)data, size, &b) == 0) {
        /* Strict decoding means re-encoding gives the input back. */
        CV_ASSERT(cv_base64_encode(b.data, b.len, &e) == 0);
        CV_ASSERT(e.len == size && (size == 0 || memcmp(e.data, data, size) == 0));
    }
    cv_scram_cred_t c;
    if (cv_scram_cred_decode(&c, data, size) == 0) {
        cv_buf_clear(&e);
        CV_ASSERT(cv_scram_cred_encode(&c, &e) == 0);
        CV_ASSERT(e.len == size && memcmp(e.data, data, size) == 0);
    }
    cv_buf_free(&b);
    cv_buf_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decoders(data, size);
    if (size < 3)
        return 0;
    uint8_t sel = data[0];
    size_t first_len = (size_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;
    if (first_len > size)
        first_len = size;

    int endpoint = (sel >> 5) & 1;
    cv_sasl_env_t env = {
        .domain = "example.com",
        .tls_active = (sel >> 3) & 1,
        .allow_plain_insecure = 0,
        .plus_offered = (sel >> 4) & 1,
        .lookup = lookup,
        .channel_binding = channel_binding,
        .ctx = &endpoint,
        .fake_iterations = 2,
    };
    cv_sasl_t *s = NULL;
    cv_buf_t out = CV_BUF_INIT;
    cv_sasl_failure_t f = CV_SASL_FAIL_ABORTED;
    int rc = cv_sasl_start(&s, mech_names[(sel & 7) % CV_ARRAY_LEN(mech_names)], &env);
    if (rc < 0) {
        CV_ASSERT(rc == CV_EUNSUPP && s == NULL);
        return 0;
    }
    /* A fixed server nonce lets inputs reach the proof check. */
    CV_ASSERT(cv__sasl_set_test_nonce(s, "N") == 0);
    if (sel & 0x40) {
        rc = cv_sasl_step(s, NULL, 0, &out, &f);
        CV_ASSERT(rc == CV_SASL_CONTINUE || rc < 0);
    }
    rc = cv_sasl_step(s, data, first_len, &out, &f);
    check_step(rc, &out, f, s);
    if (rc == CV_SASL_CONTINUE) {
        rc = cv_sasl_step(s, data + first_len, size - first_len, &out, &f);
        check_step(rc, &out, f, s);
    }
    if (rc <= 0)
        CV_ASSERT(cv_sasl_step(s, data, size, &out, &f) == CV_EPROTO);
    cv_sasl_free(s);
    cv_buf_free(&out);
    return 0;
}
