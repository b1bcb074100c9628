/* The load generator's SCRAM client: the RFC 5802 (SHA-1) and RFC 7677 (SHA-256) example
   exchanges, the salted-password cache, and refusal of malformed server messages. */
#include <stdio.h>
#include <string.h>

#include "scram_client.h"
#include "check.h"

static const struct {
    int sha256;
    const char *cnonce, *server_first, *client_final, *server_final;
} vec[] = {
    {0, "fyko+d2lbbFgONRv9qkxdawL",
     "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
     "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
     "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
    {1, "rOprNGfwEbeRWgbNEkqO",
     "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
     "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
     "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
     "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
};

static void test_vectors(void)
{
    cv_bench_scram_cache_t cache;
    cv_bench_scram_cache_init(&cache, 100);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
            cv_bench_scram_t s;
            cv_buf_t first = CV_BUF_INIT, final = CV_BUF_INIT;
            memset(&s, 0, sizeof s);
            CHECK(cv_bench_scram_first(&s, vec[i].sha256, "user", vec[i].cnonce, &first) == 0);
            char expect[128];
            snprintf(expect, sizeof expect, "n,,n=user,r=%s", vec[i].cnonce);
            CHECK(first.data && strcmp(first.data, expect) == 0);
            CHECK(cv_bench_scram_final(&s, "pencil", vec[i].server_first,
                                       strlen(vec[i].server_first), &cache, &final) == 0);
            CHECK(final.data && strcmp(final.data, vec[i].client_final) == 0);
            CHECK(cv_bench_scram_verify(&s, vec[i].server_final, strlen(vec[i].server_final)) == 0);
            /* A wrong server signature and a server error are authentication failures. */
            CHECK(cv_bench_scram_verify(&s, "v=rmF9pqV8S7suAoZWja4dJRkFsKA=", 30) == CV_EAUTH);
            CHECK(cv_bench_scram_verify(&s, "e=invalid-proof", 15) == CV_EAUTH);
            cv_bench_scram_clear(&s);
            cv_buf_free(&first);
            cv_buf_free(&final);
        }
    }
    /* First round: two PBKDF2 runs; second round: both from the cache, same results. */
    CHECK(cache.misses == 2 && cache.hits == 2 && cache.used == 2);
    cv_bench_scram_cache_free(&cache);
}

static void test_cache_keys(void)
{
    /* Another salt, iteration count or password must not hit the cached value; another
       user with the same password and salt must (SaltedPassword does not depend on the
       user), and still gets a proof of its own. */
    cv_bench_scram_cache_t cache;
    cv_bench_scram_cache_init(&cache, 1000);
    const char *msgs[] = {
        "r=abcdefXYZ,s=QSXCR+Q6sek8bf92,i=4096",
        "r=abcdefXYZ,s=QSXCR+Q6sek8bf93,i=4096",
        "r=abcdefXYZ,s=QSXCR+Q6sek8bf92,i=4097",
    };
    const char *users[] = {"user", "user", "user", "user", "other"};
    const char *passwords[] = {"pencil", "pencil", "pencil", "pencil2", "pencil"};
    cv_buf_t outs[5] = {CV_BUF_INIT, CV_BUF_INIT, CV_BUF_INIT, CV_BUF_INIT, CV_BUF_INIT};
    for (int i = 0; i < 5; i++) {
        cv_bench_scram_t s;
        cv_buf_t first = CV_BUF_INIT;
        memset(&s, 0, sizeof s);
        CHECK(cv_bench_scram_first(&s, 1, users[i], "abcdef", &first) == 0);
        const char *m = msgs[i < 3 ? i : 0];
        CHECK(cv_bench_scram_final(&s, passwords[i], m, strlen(m), &cache, &outs[i]) == 0);
        cv_bench_scram_clear(&s);
        cv_buf_free(&first);
    }
    CHECK(cache.misses == 4 && cache.hits == 1);
    CHECK(strcmp(outs[0].data, outs[1].data) != 0 && strcmp(outs[0].data, outs[2].data) != 0);
    CHECK(strcmp(outs[0].data, outs[3].data) != 0 && strcmp(outs[0].data, outs[4].data) != 0);
    /* Many passwords: the table grows and every one is found again. */
    for (int round = 0; round < 2; round++) {
        for (int u = 0; u < 300; u++) {
            char name[16], pw[16];
            cv_bench_scram_t s;
            cv_buf_t first = CV_BUF_INIT, out = CV_BUF_INIT;
            memset(&s, 0, sizeof s);
            snprintf(name, sizeof name, "u%d", u);
            snprintf(pw, sizeof pw, "pw%d", u);
            CHECK(cv_bench_scram_first(&s, 0, name, "nonce", &first) == 0);
            CHECK(cv_bench_scram_final(&s, pw, "r=nonceX,s=AAAA,i=2", 19, &cache, &out) == 0);
            cv_bench_scram_clear(&s);
            cv_buf_free(&first);
            cv_buf_free(&out);
        }
    }
    CHECK(cache.misses == 304 && cache.hits == 301 && cache.used == 304);
    for (int i = 0; i < 5; i++)
        cv_buf_free(&outs[i]);
    cv_bench_scram_cache_free(&cache);
}

static void test_malformed(void)
{
    const char *bad[] = {
        "",
        "s=QSXCR+Q6sek8bf92,r=abcdefX,i=4096", /* nonce not first */
        "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096",  /* nonce not extended */
        "r=abXdefX,s=QSXCR+Q6sek8bf92,i=4096", /* nonce not ours */
        "r=abcdefX,s=QSXCR+Q6sek8bf92",        /* no iterations */
        "r=abcdefX,i=4096",                    /* no salt */
        "r=abcdefX,s=,i=4096",                 /* empty salt */
        "r=abcdefX,s=QSXCR+Q6sek8bf9,i=4096",  /* bad base64 */
        "r=abcdefX,s=QSXCR+Q6sek8bf92,i=0",
        "r=abcdefX,s=QSXCR+Q6sek8bf92,i=99999999999",
        "r=abcdefX,s=QSXCR+Q6sek8bf92,i=12a",
        "r=abcdefX,s=QSXCR+Q6sek8bf92,i=20000000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cv_bench_scram_t s;
        cv_buf_t first = CV_BUF_INIT, out = CV_BUF_INIT;
        memset(&s, 0, sizeof s);
        CHECK(cv_bench_scram_first(&s, 1, "user", "abcdef", &first) == 0);
        int rc = cv_bench_scram_final(&s, "pencil", bad[i], strlen(bad[i]), NULL, &out);
        if (rc != CV_EPROTO) {
            printf("FAIL accepted server-first \"%s\" (%d)\n", bad[i], rc);
            failures++;
        }
        /* No signature to check after a refused exchange. */
        CHECK(cv_bench_scram_verify(&s, "v=AAAA", 6) == CV_EPROTO);
        cv_bench_scram_clear(&s);
        cv_buf_free(&first);
        cv_buf_free(&out);
    }
    cv_bench_scram_t s;
    cv_buf_t first = CV_BUF_INIT;
    memset(&s, 0, sizeof s);
    CHECK(cv_bench_scram_first(&s, 1, "user", "has,comma", &first) == CV_EINVAL);
    CHECK(cv_bench_scram_first(&s, 1, "a=b,c", "nonce", &first) == 0);
    CHECK(strcmp(first.data, "n,,n=a=3Db=2Cc,r=nonce") == 0);
    cv_bench_scram_clear(&s);
    cv_buf_free(&first);
}

int main(void)
{
    test_vectors();
    test_cache_keys();
    test_malformed();
    return failures ? 1 : 0;
}
