/* SASL server mechanisms: RFC 5802 / RFC 7677 example exchanges, a client-side SCRAM run
   against the server (with and without channel binding), failures, malformed input, PLAIN. */
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/pwdbased.h>

#include "corvid/base64.h"
#include "corvid/sasl.h"
#include "sasl_int.h"
#include "check.h"

/* ---- test environment ---------------------------------------------------------------- */

typedef struct user_s {
    const char *name;
    cv_scram_cred_t cred;
} user_t;

typedef struct ctx_s {
    user_t users[4];
    size_t n_users;
    int lookups;
    uint8_t cb_exporter[32];
    uint8_t cb_endpoint[48];
    int endpoint_supported;
} ctx_t;

static int lookup(void *vctx, const char *authcid, cv_scram_cred_t *out)
{
    ctx_t *ctx = vctx;
    ctx->lookups++;
    if (strcmp(authcid, "broken") == 0)
        return CV_ESTORE;
    if (strcmp(authcid, "weird") == 0)
        return CV_EINVAL;
    if (strcmp(authcid, "damaged") == 0) {
        memset(out, 0, sizeof(*out));
        return 0;
    }
    for (size_t i = 0; i < ctx->n_users; i++) {
        if (strcmp(ctx->users[i].name, authcid) == 0) {
            *out = ctx->users[i].cred;
            return 0;
        }
    }
    return CV_ENOTFOUND;
}

static int channel_binding(void *vctx, const char *type, uint8_t *out, size_t cap, size_t *len)
{
    ctx_t *ctx = vctx;
    const uint8_t *d;
    size_t n;
    if (strcmp(type, "tls-exporter") == 0) {
        d = ctx->cb_exporter, n = sizeof(ctx->cb_exporter);
    } else if (strcmp(type, "tls-server-end-point") == 0 && ctx->endpoint_supported) {
        d = ctx->cb_endpoint, n = sizeof(ctx->cb_endpoint);
    } else {
        return CV_EUNSUPP;
    }
    if (n > cap)
        return CV_EUNSUPP;
    memcpy(out, d, n);
    *len = n;
    return 0;
}

static void add_user(ctx_t *ctx, const char *name, const char *password, const char *salt_b64)
{
    cv_buf_t salt = CV_BUF_INIT;
    user_t *u = &ctx->users[ctx->n_users++];
    u->name = name;
    if (salt_b64)
        CHECK(cv_base64_decode(salt_b64, strlen(salt_b64), &salt) == 0);
    CHECK(cv_scram_cred_derive(&u->cred, password, 4096, salt_b64 ? (uint8_t *)salt.data : NULL,
                               salt.len) == 0);
    cv_buf_free(&salt);
}

static void env_init(cv_sasl_env_t *env, ctx_t *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    for (size_t i = 0; i < sizeof(ctx->cb_exporter); i++)
        ctx->cb_exporter[i] = (uint8_t)(0x10 + i);
    for (size_t i = 0; i < sizeof(ctx->cb_endpoint); i++)
        ctx->cb_endpoint[i] = (uint8_t)(0x80 + i);
    ctx->endpoint_supported = 1;
    memset(env, 0, sizeof(*env));
    env->domain = "example.com";
    env->tls_active = 1;
    env->plus_offered = 1;
    env->lookup = lookup;
    env->channel_binding = channel_binding;
    env->ctx = ctx;
    env->fake_iterations = 4096;
}

static int step_len(cv_sasl_t *s, const char *msg, size_t len, cv_buf_t *out, cv_sasl_failure_t *f)
{
    *f = (cv_sasl_failure_t)-1;
    return cv_sasl_step(s, (const uint8_t *)msg, len, out, f);
}

static int step(cv_sasl_t *s, const char *msg, cv_buf_t *out, cv_sasl_failure_t *f)
{
    return step_len(s, msg, strlen(msg), out, f);
}

/* ---- RFC example exchanges ----------------------------------------------------------- */

static void rfc_exchange(const char *mech, const char *salt, const char *snonce,
                         const char *client_first, const char *server_first,
                         const char *client_final, const char *server_final)
{
    cv_sasl_env_t env;
    ctx_t ctx;
    cv_sasl_t *s = NULL;
    cv_buf_t out = CV_BUF_INIT;
    cv_sasl_failure_t f;
    env_init(&env, &ctx);
    env.plus_offered = 0;
    add_user(&ctx, "user", "pencil", salt);
    CHECK(cv_sasl_start(&s, mech, &env) == 0);
    CHECK(cv__sasl_set_test_nonce(s, snonce) == 0);
    CHECK(step(s, client_first, &out, &f) == CV_SASL_CONTINUE);
    CHECK(out.data && strcmp(out.data, server_first) == 0);
    CHECK(cv_sasl_authcid(s) == NULL);
    CHECK(step(s, client_final, &out, &f) == 0);
    CHECK(out.data && strcmp(out.data, server_final) == 0);
    CHECK(cv_sasl_authcid(s) && strcmp(cv_sasl_authcid(s), "user") == 0);
    CHECK(cv_sasl_authzid(s) && strcmp(cv_sasl_authzid(s), "") == 0);
    cv_sasl_free(s);
    cv_buf_free(&out);
}

static void test_rfc_examples(void)
{
    /* RFC 5802 §5. */
    rfc_exchange("SCRAM-SHA-1", "QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j",
                 "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
                 "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                 "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                 "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                 "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    /* RFC 7677 §3. */
    rfc_exchange("SCRAM-SHA-256", "W22ZaJ0SNY7soEsUEjb6gQ==", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                 "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                 "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                 "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                 "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                 "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                 "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* ---- a SCRAM client ------------------------------------------------------------------ */

typedef struct client_opts_s {
    const char *mech;
    const char *user; /* escaped saslname as sent */
    const char *password;
    const char *gs2;   /* gs2 header, e.g. "n,," or "p=tls-exporter,," */
    const uint8_t *cb; /* the channel binding data the client sees */
    size_t cb_len;
    const char *extension; /* inserted before the proof in client-final, or NULL */
    int skip_empty;        /* 0: start with an empty initial response */
} client_opts_t;

typedef struct client_result_s {
    int rc1, rc2;
    cv_sasl_failure_t f1, f2;
    int server_sig_ok;
    char salt[64];
    char snonce[128];
    char authcid[64];
} client_result_t;

/* Runs one SCRAM exchange the way a client (RFC 5802 §3) does and checks the server's
   signature on success. */
static void run_client(const cv_sasl_env_t *env, const client_opts_t *o, client_result_t *r)
{
    static const char cnonce[] = "clientNONCE+/123";
    cv_sasl_t *s = NULL;
    cv_buf_t out = CV_BUF_INIT, msg = CV_BUF_INIT, am = CV_BUF_INIT, tmp = CV_BUF_INIT;
    cv_buf_t cbind = CV_BUF_INIT;
    cv_scram_hash_t h = strstr(o->mech, "256") ? CV_SCRAM_SHA256 : CV_SCRAM_SHA1;
    size_t hl = cv_scram_hash_len(h);
    uint8_t salted[32], ckey[32], skey[32], stored[32], sig[32], proof[32];

    memset(r, 0, sizeof(*r));
    r->rc1 = r->rc2 = 99;
    if (cv_sasl_start(&s, o->mech, env) != 0) {
        r->rc1 = -1;
        goto out;
    }
    if (!o->skip_empty) {
        cv_sasl_failure_t f;
        CHECK(cv_sasl_step(s, NULL, 0, &out, &f) == CV_SASL_CONTINUE);
        CHECK(out.len == 0);
    }
    CHECK(cv_buf_printf(&msg, "%sn=%s,r=%s", o->gs2, o->user, cnonce) == 0);
    r->rc1 = cv_sasl_step(s, (uint8_t *)msg.data, msg.len, &out, &r->f1);
    if (r->rc1 != CV_SASL_CONTINUE)
        goto out;
    /* server-first: r=<cnonce><snonce>,s=<salt>,i=<n> */
    char nonce[128], salt_b64[64];
    unsigned iter = 0;
    CHECK(sscanf(out.data, "r=%127[^,],s=%63[^,],i=%u", nonce, salt_b64, &iter) == 3);
    CHECK(strncmp(nonce, cnonce, strlen(cnonce)) == 0);
    snprintf(r->snonce, sizeof(r->snonce), "%s", nonce + strlen(cnonce));
    snprintf(r->salt, sizeof(r->salt), "%s", salt_b64);
    CHECK(cv_base64_decode(salt_b64, strlen(salt_b64), &tmp) == 0);
    CHECK(wc_PBKDF2(salted, (const byte *)o->password, (int)strlen(o->password),
                    (const byte *)tmp.data, (int)tmp.len, (int)iter, (int)hl,
                    h == CV_SCRAM_SHA1 ? WC_SHA : WC_SHA256) == 0);
    CHECK(cv__scram_hmac(h, salted, hl, "Client Key", 10, ckey) == 0);
    CHECK(cv__scram_hmac(h, salted, hl, "Server Key", 10, skey) == 0);
    CHECK(cv__scram_hash(h, ckey, hl, stored) == 0);

    CHECK(cv_buf_append_str(&cbind, o->gs2) == 0);
    CHECK(cv_buf_append(&cbind, o->cb, o->cb_len) == 0);
    cv_buf_clear(&msg);
    CHECK(cv_buf_append_str(&msg, "c=") == 0);
    CHECK(cv_base64_encode(cbind.data, cbind.len, &msg) == 0);
    CHECK(cv_buf_printf(&msg, ",r=%s", nonce) == 0);
    if (o->extension)
        CHECK(cv_buf_printf(&msg, ",%s", o->extension) == 0);
    CHECK(cv_buf_printf(&am, "n=%s,r=%s,%s,%s", o->user, cnonce, out.data, msg.data) == 0);
    CHECK(cv__scram_hmac(h, stored, hl, am.data, am.len, sig) == 0);
    for (size_t i = 0; i < hl; i++)
        proof[i] = ckey[i] ^ sig[i];
    CHECK(cv_buf_append_str(&msg, ",p=") == 0);
    CHECK(cv_base64_encode(proof, hl, &msg) == 0);
    r->rc2 = cv_sasl_step(s, (uint8_t *)msg.data, msg.len, &out, &r->f2);
    if (r->rc2 == 0) {
        cv_buf_clear(&tmp);
        CHECK(cv__scram_hmac(h, skey, hl, am.data, am.len, sig) == 0);
        CHECK(cv_buf_append_str(&tmp, "v=") == 0);
        CHECK(cv_base64_encode(sig, hl, &tmp) == 0);
        r->server_sig_ok = out.len == tmp.len && memcmp(out.data, tmp.data, tmp.len) == 0;
        snprintf(r->authcid, sizeof(r->authcid), "%s", cv_sasl_authcid(s));
    } else {
        CHECK(out.len == 0);
        CHECK(cv_sasl_authcid(s) == NULL);
    }
    /* Nothing is accepted after the end of the exchange. */
    cv_sasl_failure_t f;
    CHECK(cv_sasl_step(s, (uint8_t *)"x", 1, &out, &f) == CV_EPROTO);
out:
    cv_sasl_free(s);
    cv_buf_free(&out);
    cv_buf_free(&msg);
    cv_buf_free(&am);
    cv_buf_free(&tmp);
    cv_buf_free(&cbind);
}

static void test_client_success(void)
{
    cv_sasl_env_t env;
    ctx_t ctx;
    client_result_t r;
    env_init(&env, &ctx);
    add_user(&ctx, "juliet", "r0m30myr0m30", NULL);
    add_user(&ctx, "a,b=c", "p\xc3\xa4ss", NULL);
    static const char *const mechs[] = {"SCRAM-SHA-256", "SCRAM-SHA-1"};
    for (size_t i = 0; i < 2; i++) {
        /* 'y' is refused while -PLUS is offered, so plain SCRAM uses 'n' here. */
        client_opts_t o = {mechs[i], "juliet", "r0m30myr0m30", "n,,", NULL, 0, NULL, (int)i};
        run_client(&env, &o, &r);
        CHECK(r.rc1 == CV_SASL_CONTINUE && r.rc2 == 0 && r.server_sig_ok);
        CHECK(strcmp(r.authcid, "juliet") == 0);
        /* 24 random bytes, base64. */
        CHECK(strlen(r.snonce) == 32);
    }
    static const char *const plus[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"};
    for (size_t i = 0; i < 2; i++) {
        client_opts_t o = {plus[i],
                           "juliet",
                           "r0m30myr0m30",
                           "p=tls-exporter,,",
                           ctx.cb_exporter,
                           sizeof(ctx.cb_exporter),
                           NULL,
                           0};
        run_client(&env, &o, &r);
        CHECK(r.rc1 == CV_SASL_CONTINUE && r.rc2 == 0 && r.server_sig_ok);
        o.gs2 = "p=tls-server-end-point,a=juliet@example.com,";
        o.cb = ctx.cb_endpoint;
        o.cb_len = sizeof(ctx.cb_endpoint);
        run_client(&env, &o, &r);
        CHECK(r.rc1 == CV_SASL_CONTINUE && r.rc2 == 0 && r.server_sig_ok);
    }
    /* Escaped username, non-ASCII password, an extension before the proof, authzid with a
       differently cased domain. */
    client_opts_t o = {"SCRAM-SHA-256",
                       "a=2Cb=3Dc",
                       "p\xc3\xa4ss",
                       "n,a=a=2Cb=3Dc@EXAMPLE.com,",
                       NULL,
                       0,
                       "x=ext",
                       1};
    run_client(&env, &o, &r);
    CHECK(r.rc1 == CV_SASL_CONTINUE && r.rc2 == 0 && r.server_sig_ok);
    CHECK(strcmp(r.authcid, "a,b=c") == 0);
    /* Two exchanges never share a server nonce. */
    client_result_t r2;
    run_client(&env, &o, &r2);
    CHECK(r2.rc2 == 0 && strcmp(r.snonce, r2.snonce) != 0);
    /* Without -PLUS offered, 'y' is fine. */
    env.plus_offered = 0;
    o.gs2 = "y,,";
    run_client(&env, &o, &r);
    CHECK(r.rc1 == CV_SASL_CONTINUE && r.rc2 == 0 && r.server_sig_ok);
}

static void test_client_failures(void)
{
    cv_sasl_env_t env;
    ctx_t ctx;
    client_result_t r, r2;
    env_init(&env, &ctx);
    add_user(&ctx, "juliet", "r0m30myr0m30", NULL);

    /* Wrong password: the exchange runs to the end, then not-authorized. */
    client_opts_t o = {"SCRAM-SHA-256", "juliet", "wrong", "n,,", NULL, 0, NULL, 1};
    run_client(&env, &o, &r);
    CHECK(r.rc1 == CV_SASL_CONTINUE);
    CHECK(r.rc2 == CV_EAUTH && r.f2 == CV_SASL_FAIL_NOT_AUTHORIZED);

    /* Unknown user: indistinguishable first answer (stable salt, same iteration count),
       then not-authorized. */
    o.user = "romeo";
    o.password = "r0m30myr0m30";
    run_client(&env, &o, &r);
    run_client(&env, &o, &r2);
    CHECK(r.rc1 == CV_SASL_CONTINUE && r2.rc1 == CV_SASL_CONTINUE);
    CHECK(r.rc2 == CV_EAUTH && r.f2 == CV_SASL_FAIL_NOT_AUTHORIZED);
    CHECK(strcmp(r.salt, r2.salt) == 0 && strlen(r.salt) == 24);
    o.user = "tybalt";
    run_client(&env, &o, &r2);
    CHECK(r2.rc2 == CV_EAUTH && strcmp(r.salt, r2.salt) != 0);
    /* The server secret changes the decoy salts. */
    static const uint8_t secret[] = "server secret";
    env.fake_secret = secret;
    env.fake_secret_len = sizeof(secret) - 1;
    o.user = "romeo";
    run_client(&env, &o, &r2);
    CHECK(r2.rc2 == CV_EAUTH && strcmp(r.salt, r2.salt) != 0);
    env.fake_secret = NULL;

    /* Channel binding data differing from the server's view (a relay in the middle). */
    uint8_t other[32];
    memcpy(other, ctx.cb_exporter, sizeof(other));
    other[31] ^= 1;
    client_opts_t p = {"SCRAM-SHA-256-PLUS",
                       "juliet",
                       "r0m30myr0m30",
                       "p=tls-exporter,,",
                       other,
                       sizeof(other),
                       NULL,
                       1};
    run_client(&env, &p, &r);
    CHECK(r.rc1 == CV_SASL_CONTINUE);
    CHECK(r.rc2 == CV_EAUTH && r.f2 == CV_SASL_FAIL_NOT_AUTHORIZED);
    /* Client binds to nothing although it asked for binding. */
    p.cb_len = 0;
    run_client(&env, &p, &r);
    CHECK(r.rc2 == CV_EAUTH && r.f2 == CV_SASL_FAIL_NOT_AUTHORIZED);
    /* A type this TLS session cannot provide. */
    ctx.endpoint_supported = 0;
    p.gs2 = "p=tls-server-end-point,,";
    run_client(&env, &p, &r);
    CHECK(r.rc1 == CV_EAUTH && r.f1 == CV_SASL_FAIL_NOT_AUTHORIZED);
    p.gs2 = "p=tls-unique,,";
    run_client(&env, &p, &r);
    CHECK(r.rc1 == CV_EAUTH && r.f1 == CV_SASL_FAIL_NOT_AUTHORIZED);

    /* Downgrade: 'y' while -PLUS was offered. */
    o.user = "juliet";
    o.gs2 = "y,,";
    run_client(&env, &o, &r);
    CHECK(r.rc1 == CV_EAUTH && r.f1 == CV_SASL_FAIL_NOT_AUTHORIZED);

    /* Authorization identities other than the account itself. */
    o.gs2 = "n,a=romeo@example.com,";
    run_client(&env, &o, &r);
    CHECK(r.rc1 == CV_EAUTH && r.f1 == CV_SASL_FAIL_INVALID_AUTHZID);
    o.gs2 = "n,a=juliet@example.org,";
    run_client(&env, &o, &r);
    CHECK(r.rc1 == CV_EAUTH && r.f1 == CV_SASL_FAIL_INVALID_AUTHZID);
    o.gs2 = "n,a=juliet@example.com/balcony,";
    run_client(&env, &o, &r);
    CHECK(r.rc1 == CV_EAUTH && r.f1 == CV_SASL_FAIL_INVALID_AUTHZID);

    /* Storage trouble is temporary, whatever code the backend returns. */
    o.gs2 = "n,,";
    static const char *const bad_users[] = {"broken", "weird", "damaged"};
    for (size_t i = 0; i < CV_ARRAY_LEN(bad_users); i++) {
        o.user = bad_users[i];
        run_client(&env, &o, &r);
        CHECK(r.rc1 < 0 && r.f1 == CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE);
    }
    env.lookup = NULL;
    o.user = "juliet";
    run_client(&env, &o, &r);
    CHECK(r.rc1 < 0 && r.f1 == CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE);
}

/* ---- malformed messages -------------------------------------------------------------- */

typedef struct bad_first_s {
    const char *mech;
    const char *msg;
    size_t len; /* 0: strlen */
    int rc;
    cv_sasl_failure_t f;
} bad_first_t;

static void test_malformed_first(void)
{
    static char longmsg[CV_SASL_MAX_MESSAGE + 32];
    memcpy(longmsg, "n,,n=juliet,r=", 14);
    memset(longmsg + 14, 'x', sizeof(longmsg) - 15);
    longmsg[sizeof(longmsg) - 1] = '\0';
    const cv_sasl_failure_t M = CV_SASL_FAIL_MALFORMED_REQUEST;
    const bad_first_t t[] = {
        {"SCRAM-SHA-1", "n", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "x,,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "nn,,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,x=y,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,a=,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,a=ju=41liet@example.com,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,r=abc,n=juliet", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=jul=2Biet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=jul=iet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet=2,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet=,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet=2c,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,m=ext,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,r=", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,r=a b", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,r=ab\x7f", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,r=ab\xc3\xa9", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,x=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,r=abc,", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,r=abc,,", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,r=abc,1=x", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,r=abc,x=", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=juliet,r=abc,x", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=jul\xffiet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=jul\xc0\xafiet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=jul\xed\xa0\x80iet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-1", "n,,n=jul\0iet,r=abc", 19, CV_EINVAL, M},
        {"SCRAM-SHA-1", longmsg, 0, CV_EINVAL, M},
        /* 'p' with a non-PLUS mechanism; -PLUS without 'p'; bad channel binding names. */
        {"SCRAM-SHA-1", "p=tls-exporter,,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-256-PLUS", "n,,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-256-PLUS", "y,,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-256-PLUS", "p=,,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-256-PLUS", "p=tls exporter,,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-256-PLUS", "p,,n=juliet,r=abc", 0, CV_EINVAL, M},
        {"SCRAM-SHA-256-PLUS",
         "p=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,,"
         "n=juliet,r=abc",
         0, CV_EINVAL, M},
        {"SCRAM-SHA-256-PLUS", "p=tls-unique,,n=juliet,r=abc", 0, CV_EAUTH,
         CV_SASL_FAIL_NOT_AUTHORIZED},
        {"SCRAM-SHA-1", "y,,n=juliet,r=abc", 0, CV_EAUTH, CV_SASL_FAIL_NOT_AUTHORIZED},
        {"SCRAM-SHA-1", "n,a=romeo@example.com,n=juliet,r=abc", 0, CV_EAUTH,
         CV_SASL_FAIL_INVALID_AUTHZID},
    };
    cv_sasl_env_t env;
    ctx_t ctx;
    env_init(&env, &ctx);
    add_user(&ctx, "juliet", "r0m30myr0m30", NULL);
    for (size_t i = 0; i < CV_ARRAY_LEN(t); i++) {
        cv_sasl_t *s = NULL;
        cv_buf_t out = CV_BUF_INIT;
        cv_sasl_failure_t f;
        CHECK(cv_sasl_start(&s, t[i].mech, &env) == 0);
        if (!s)
            continue;
        size_t len = t[i].len ? t[i].len : strlen(t[i].msg);
        int rc = step_len(s, t[i].msg, len, &out, &f);
        if (rc != t[i].rc || f != t[i].f)
            printf("FAIL: first message #%zu (%.40s): rc %d failure %d\n", i, t[i].msg, rc, (int)f);
        CHECK(rc == t[i].rc && f == t[i].f);
        CHECK(out.len == 0);
        CHECK(step(s, "n,,n=juliet,r=abc", &out, &f) == CV_EPROTO);
        cv_sasl_free(s);
        cv_buf_free(&out);
    }
    /* The baseline of the table is accepted. */
    cv_sasl_t *s = NULL;
    cv_buf_t out = CV_BUF_INIT;
    cv_sasl_failure_t f;
    CHECK(cv_sasl_start(&s, "SCRAM-SHA-1", &env) == 0);
    CHECK(step(s, "n,,n=juliet,r=abc,x=1,y=2", &out, &f) == CV_SASL_CONTINUE);
    cv_sasl_free(s);
    /* Only one empty message is answered with an empty challenge. */
    CHECK(cv_sasl_start(&s, "SCRAM-SHA-1", &env) == 0);
    CHECK(step(s, "", &out, &f) == CV_SASL_CONTINUE && out.len == 0);
    CHECK(step(s, "", &out, &f) == CV_EINVAL && f == CV_SASL_FAIL_MALFORMED_REQUEST);
    cv_sasl_free(s);
    cv_buf_free(&out);
}

/* Client-final messages after a valid start; "N" in a template is replaced by the
   combined nonce and "P" by a proof of the right length (which is wrong). */
static void test_malformed_final(void)
{
    static const struct {
        const char *tmpl;
        int rc;
    } t[] = {
        {"", CV_EINVAL},
        {"c=biws", CV_EINVAL},
        {"c=biws,rN", CV_EINVAL},
        {"c=biws,r=N", CV_EINVAL},
        {"c=biws,r=N,", CV_EINVAL},
        {"c=biws,r=N,p=", CV_EINVAL},
        {"r=N,c=biws,p=P", CV_EINVAL},
        {"c=biws,p=P,r=N", CV_EINVAL},
        {"c=biws,r=N,p=P,x=1", CV_EINVAL},
        {"c=biws,r=N,1=2,p=P", CV_EINVAL},
        {"c=biws,r=N,,p=P", CV_EINVAL},
        {"c=biw,r=N,p=P", CV_EINVAL},
        {"c=bi ws,r=N,p=P", CV_EINVAL},
        {"c=biws,r=N,p=AAAA", CV_EINVAL},
        {"c=biws,r=N,p=P=", CV_EINVAL},
        {"c=biws,r=N,p=!P", CV_EINVAL},
        {"c=biws,r=N\xff,p=P", CV_EINVAL},
        {"c=eSws,r=N,p=P", CV_EAUTH},  /* "y,," instead of "n,," */
        {"c=,r=N,p=P", CV_EAUTH},      /* empty binding */
        {"c=biws,r=Nx,p=P", CV_EAUTH}, /* nonce not ours */
        {"c=biws,r=abc,p=P", CV_EAUTH},
        {"c=biws,r=N,p=P", CV_EAUTH}, /* well-formed, wrong proof */
        {"c=biws,r=N,e=x,p=P", CV_EAUTH},
    };
    cv_sasl_env_t env;
    ctx_t ctx;
    env_init(&env, &ctx);
    add_user(&ctx, "juliet", "r0m30myr0m30", NULL);
    for (size_t i = 0; i < CV_ARRAY_LEN(t); i++) {
        cv_sasl_t *s = NULL;
        cv_buf_t out = CV_BUF_INIT, msg = CV_BUF_INIT;
        cv_sasl_failure_t f;
        CHECK(cv_sasl_start(&s, "SCRAM-SHA-256", &env) == 0);
        CHECK(cv__sasl_set_test_nonce(s, "SERVERNONCE") == 0);
        CHECK(step(s, "n,,n=juliet,r=abc", &out, &f) == CV_SASL_CONTINUE);
        for (const char *p = t[i].tmpl; *p; p++) {
            if (*p == 'N')
                CHECK(cv_buf_append_str(&msg, "abcSERVERNONCE") == 0);
            else if (*p == 'P')
                CHECK(cv_buf_append_str(&msg, "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=") == 0);
            else
                CHECK(cv_buf_append(&msg, p, 1) == 0);
        }
        int rc = step_len(s, msg.data ? msg.data : "", msg.len, &out, &f);
        cv_sasl_failure_t want =
            t[i].rc == CV_EINVAL ? CV_SASL_FAIL_MALFORMED_REQUEST : CV_SASL_FAIL_NOT_AUTHORIZED;
        if (rc != t[i].rc || f != want)
            printf("FAIL: final message #%zu (%s): rc %d failure %d\n", i, t[i].tmpl, rc, (int)f);
        CHECK(rc == t[i].rc && f == want);
        CHECK(out.len == 0 && cv_sasl_authcid(s) == NULL);
        cv_sasl_free(s);
        cv_buf_free(&out);
        cv_buf_free(&msg);
    }
}

/* ---- PLAIN --------------------------------------------------------------------------- */

static int plain(const cv_sasl_env_t *env, const char *msg, size_t len, int empty_first,
                 cv_sasl_failure_t *f, char *authcid, size_t cap)
{
    cv_sasl_t *s = NULL;
    cv_buf_t out = CV_BUF_INIT;
    int rc = cv_sasl_start(&s, "PLAIN", env);
    if (rc < 0)
        return rc;
    if (empty_first) {
        rc = cv_sasl_step(s, NULL, 0, &out, f);
        if (rc != CV_SASL_CONTINUE)
            goto out;
        CHECK(out.len == 0);
    }
    *f = (cv_sasl_failure_t)-1;
    rc = cv_sasl_step(s, (const uint8_t *)msg, len, &out, f);
    CHECK(out.len == 0);
    if (authcid && cap)
        snprintf(authcid, cap, "%s", rc == 0 ? cv_sasl_authcid(s) : "");
out:
    cv_sasl_free(s);
    cv_buf_free(&out);
    return rc;
}

#define PLAIN_MSG(lit) lit, sizeof(lit) - 1

static void test_plain(void)
{
    cv_sasl_env_t env;
    ctx_t ctx;
    cv_sasl_failure_t f;
    char who[64];
    env_init(&env, &ctx);
    add_user(&ctx, "juliet", "r0m30myr0m30", NULL);
    add_user(&ctx, "ixuser", "IX", NULL);

    CHECK(plain(&env, PLAIN_MSG("\0juliet\0r0m30myr0m30"), 0, &f, who, sizeof(who)) == 0);
    CHECK(strcmp(who, "juliet") == 0);
    CHECK(plain(&env, PLAIN_MSG("juliet@example.com\0juliet\0r0m30myr0m30"), 1, &f, who,
                sizeof(who)) == 0);
    CHECK(strcmp(who, "juliet") == 0);
    /* Any spelling of the account's own JID (RFC 7622 preparation) is the account. */
    CHECK(plain(&env, PLAIN_MSG("JULIET@Example.COM\0juliet\0r0m30myr0m30"), 1, &f, who,
                sizeof(who)) == 0);
    CHECK(plain(&env, PLAIN_MSG("juliet@example.com/balcony\0juliet\0r0m30myr0m30"), 0, &f, NULL,
                0) == CV_EAUTH);
    CHECK(f == CV_SASL_FAIL_INVALID_AUTHZID);
    CHECK(plain(&env, PLAIN_MSG("juliet@@example.com\0juliet\0r0m30myr0m30"), 0, &f, NULL, 0) ==
          CV_EAUTH);
    CHECK(f == CV_SASL_FAIL_INVALID_AUTHZID);
    /* The password is SASLprepped before comparison. */
    CHECK(plain(&env, PLAIN_MSG("\0ixuser\0\xe2\x85\xa8"), 0, &f, NULL, 0) == 0);

    CHECK(plain(&env, PLAIN_MSG("\0juliet\0wrong"), 0, &f, NULL, 0) == CV_EAUTH);
    CHECK(f == CV_SASL_FAIL_NOT_AUTHORIZED);
    int lookups = ctx.lookups;
    CHECK(plain(&env, PLAIN_MSG("\0romeo\0r0m30myr0m30"), 0, &f, NULL, 0) == CV_EAUTH);
    CHECK(f == CV_SASL_FAIL_NOT_AUTHORIZED && ctx.lookups == lookups + 1);
    CHECK(plain(&env, PLAIN_MSG("romeo@example.com\0juliet\0r0m30myr0m30"), 0, &f, NULL, 0) ==
          CV_EAUTH);
    CHECK(f == CV_SASL_FAIL_INVALID_AUTHZID);
    CHECK(plain(&env, PLAIN_MSG("\0broken\0x"), 0, &f, NULL, 0) < 0);
    CHECK(f == CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE);

    static const struct {
        const char *m;
        size_t len;
    } bad[] = {
        {PLAIN_MSG("juliet")},
        {PLAIN_MSG("\0juliet")},
        {PLAIN_MSG("juliet\0r0m30myr0m30")},
        {PLAIN_MSG("\0\0r0m30myr0m30")},
        {PLAIN_MSG("\0juliet\0")},
        {PLAIN_MSG("\0\0")},
        {PLAIN_MSG("\0juliet\0r0m30\0myr0m30")},
        {PLAIN_MSG("\0juliet\0r0m30myr0m30\0")},
        {PLAIN_MSG("\0jul\xffiet\0r0m30myr0m30")},
        {PLAIN_MSG("\0juliet\0r0m30\xc3")},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        int rc = plain(&env, bad[i].m, bad[i].len, 0, &f, NULL, 0);
        if (rc != CV_EINVAL || f != CV_SASL_FAIL_MALFORMED_REQUEST)
            printf("FAIL: PLAIN malformed #%zu: rc %d failure %d\n", i, rc, (int)f);
        CHECK(rc == CV_EINVAL && f == CV_SASL_FAIL_MALFORMED_REQUEST);
    }
    /* A second empty message is malformed. */
    CHECK(plain(&env, "", 0, 1, &f, NULL, 0) == CV_EINVAL);

    /* Without TLS, PLAIN is refused before any credential is looked at. */
    env.tls_active = 0;
    lookups = ctx.lookups;
    CHECK(plain(&env, PLAIN_MSG("\0juliet\0r0m30myr0m30"), 0, &f, NULL, 0) == CV_EAUTH);
    CHECK(f == CV_SASL_FAIL_ENCRYPTION_REQUIRED && ctx.lookups == lookups);
    CHECK(plain(&env, PLAIN_MSG("\0juliet\0r0m30myr0m30"), 1, &f, NULL, 0) == CV_EAUTH);
    CHECK(f == CV_SASL_FAIL_ENCRYPTION_REQUIRED);
    env.allow_plain_insecure = 1;
    CHECK(plain(&env, PLAIN_MSG("\0juliet\0r0m30myr0m30"), 0, &f, NULL, 0) == 0);
}

/* ---- offers and names ---------------------------------------------------------------- */

static void test_offers(void)
{
    cv_sasl_env_t env;
    ctx_t ctx;
    cv_buf_t b = CV_BUF_INIT;
    cv_sasl_t *s = NULL;
    env_init(&env, &ctx);
    CHECK(cv_sasl_mechanisms(&env, &b) == 0);
    CHECK(b.data && strcmp(b.data, "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 "
                                   "SCRAM-SHA-1 PLAIN") == 0);
    cv_buf_clear(&b);
    CHECK(cv_sasl_channel_binding_types(&env, &b) == 0);
    CHECK(b.data && strcmp(b.data, "tls-exporter tls-server-end-point") == 0);
    cv_buf_clear(&b);
    ctx.endpoint_supported = 0;
    CHECK(cv_sasl_channel_binding_types(&env, &b) == 0);
    CHECK(b.data && strcmp(b.data, "tls-exporter") == 0);
    CHECK(cv_sasl_start(&s, "SCRAM-SHA-1-PLUS", &env) == 0);
    cv_sasl_free(s);

    env.tls_active = 0;
    env.plus_offered = 0;
    env.channel_binding = NULL;
    cv_buf_clear(&b);
    CHECK(cv_sasl_mechanisms(&env, &b) == 0);
    CHECK(b.data && strcmp(b.data, "SCRAM-SHA-256 SCRAM-SHA-1") == 0);
    cv_buf_clear(&b);
    CHECK(cv_sasl_channel_binding_types(&env, &b) == 0);
    CHECK(b.len == 0);
    CHECK(cv_sasl_start(&s, "SCRAM-SHA-256-PLUS", &env) == CV_EUNSUPP && s == NULL);
    env.channel_binding = channel_binding;
    CHECK(cv_sasl_start(&s, "SCRAM-SHA-256-PLUS", &env) == CV_EUNSUPP && s == NULL);
    CHECK(cv_sasl_start(&s, "DIGEST-MD5", &env) == CV_EUNSUPP && s == NULL);
    CHECK(cv_sasl_start(&s, "scram-sha-1", &env) == CV_EUNSUPP && s == NULL);
    CHECK(cv_sasl_start(&s, "", &env) == CV_EUNSUPP && s == NULL);
    env.allow_plain_insecure = 1;
    cv_buf_clear(&b);
    CHECK(cv_sasl_mechanisms(&env, &b) == 0);
    CHECK(b.data && strcmp(b.data, "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN") == 0);
    cv_buf_free(&b);

    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_ABORTED), "aborted") == 0);
    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_ACCOUNT_DISABLED), "account-disabled") == 0);
    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_CREDENTIALS_EXPIRED), "credentials-expired") ==
          0);
    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_ENCRYPTION_REQUIRED), "encryption-required") ==
          0);
    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_INCORRECT_ENCODING), "incorrect-encoding") == 0);
    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_INVALID_AUTHZID), "invalid-authzid") == 0);
    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_INVALID_MECHANISM), "invalid-mechanism") == 0);
    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_MALFORMED_REQUEST), "malformed-request") == 0);
    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_MECHANISM_TOO_WEAK), "mechanism-too-weak") == 0);
    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_NOT_AUTHORIZED), "not-authorized") == 0);
    CHECK(strcmp(cv_sasl_failure_name(CV_SASL_FAIL_TEMPORARY_AUTH_FAILURE),
                 "temporary-auth-failure") == 0);
    CHECK(strcmp(cv_sasl_failure_name((cv_sasl_failure_t)99), "not-authorized") == 0);
}

static void test_test_nonce(void)
{
    cv_sasl_env_t env;
    ctx_t ctx;
    cv_sasl_t *s = NULL;
    env_init(&env, &ctx);
    CHECK(cv_sasl_start(&s, "SCRAM-SHA-1", &env) == 0);
    CHECK(cv__sasl_set_test_nonce(s, "a,b") == CV_EINVAL);
    CHECK(cv__sasl_set_test_nonce(s, "a b") == CV_EINVAL);
    CHECK(cv__sasl_set_test_nonce(s, "") == CV_EINVAL);
    CHECK(cv__sasl_set_test_nonce(s, "ok") == 0);
    cv_sasl_free(s);
    cv_sasl_free(NULL);
}

int main(void)
{
    test_rfc_examples();
    test_client_success();
    test_client_failures();
    test_malformed_first();
    test_malformed_final();
    test_plain();
    test_offers();
    test_test_nonce();
    if (failures)
        printf("%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
