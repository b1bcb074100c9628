/*
 * Unit tests of corvid/tls.h: self-signed certificate creation, and a wolfSSL client talking
 * to a cv_tls server connection over memory buffers (TLS 1.3, TLS 1.2, refused TLS 1.1,
 * SNI, resumption, channel bindings, garbage input), plus the heap cost of idle sessions.
 */
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "check.h"
#include "corvid/log.h"
#include "corvid/tls.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

static char dir[64];
static char cert_a[128], key_a[128], cert_b[128], key_b[128];

/* Only builds with wolfSSL's OpenSSL compatibility layer keep an error queue to clear. */
static void err_clear(void)
{
#if defined(OPENSSL_EXTRA) || defined(DEBUG_WOLFSSL_VERBOSE)
    wolfSSL_ERR_clear_error();
#endif
}

/* ---- a wolfSSL client over two memory pipes ---- */

typedef struct pipe_s {
    cv_buf_t c2s; /* client to server ciphertext */
    cv_buf_t s2c; /* server to client ciphertext */
} pipe_t;

static int cli_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
    pipe_t *p = arg;
    size_t n = p->s2c.len < (size_t)sz ? p->s2c.len : (size_t)sz;
    (void)ssl;
    if (n == 0)
        return WOLFSSL_CBIO_ERR_WANT_READ;
    memcpy(buf, p->s2c.data, n);
    cv_buf_consume(&p->s2c, n);
    return (int)n;
}

static int cli_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
    pipe_t *p = arg;
    (void)ssl;
    if (cv_buf_append(&p->c2s, buf, (size_t)sz) < 0)
        return WOLFSSL_CBIO_ERR_GENERAL;
    return sz;
}

static WOLFSSL_CTX *cli_ctx_new(WOLFSSL_METHOD *m, const char *ca, const char *ciphers)
{
    WOLFSSL_CTX *w = wolfSSL_CTX_new(m);
    if (w == NULL)
        return NULL;
    if (ca && wolfSSL_CTX_load_verify_locations(w, ca, NULL) != WOLFSSL_SUCCESS) {
        printf("FAIL: client cannot load %s\n", ca);
        failures++;
    }
    wolfSSL_CTX_set_verify(w, ca ? WOLFSSL_VERIFY_PEER : WOLFSSL_VERIFY_NONE, NULL);
    if (ciphers && wolfSSL_CTX_set_cipher_list(w, ciphers) != WOLFSSL_SUCCESS) {
        printf("FAIL: client cipher list %s\n", ciphers);
        failures++;
    }
    wolfSSL_CTX_SetIORecv(w, cli_recv);
    wolfSSL_CTX_SetIOSend(w, cli_send);
    return w;
}

static WOLFSSL *cli_new(WOLFSSL_CTX *w, pipe_t *p, const char *sni, const char *verify_name)
{
    WOLFSSL *ssl = wolfSSL_new(w);
    if (ssl == NULL)
        return NULL;
    wolfSSL_KeepArrays(ssl); /* the keying-material exporter needs them after the handshake */
    wolfSSL_SetIOReadCtx(ssl, p);
    wolfSSL_SetIOWriteCtx(ssl, p);
    if (sni)
        CHECK(wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, sni, (word16)strlen(sni)) ==
              WOLFSSL_SUCCESS);
    if (verify_name)
        CHECK(wolfSSL_check_domain_name(ssl, verify_name) == WOLFSSL_SUCCESS);
    return ssl;
}

/* Feeds the server what the client wrote, in pieces of at most chunk bytes. */
static int to_server(cv_tls_conn_t *s, pipe_t *p, size_t chunk, cv_buf_t *plain)
{
    size_t off = 0;
    int rc = 0;
    int rrc;

    while (off < p->c2s.len && rc == 0) {
        size_t n = p->c2s.len - off < chunk ? p->c2s.len - off : chunk;
        rc = cv_tls_conn_feed(s, (const uint8_t *)p->c2s.data + off, n);
        off += n;
    }
    cv_buf_clear(&p->c2s);
    rrc = cv_tls_conn_read(s, plain);
    if (rc == 0)
        rc = rrc;
    /* Whatever the outcome, pass the server's records (possibly an alert) to the client. */
    if (cv_tls_conn_take_cipher_out(s, &p->s2c) < 0)
        rc = CV_ENOMEM;
    return rc;
}

/* Runs a handshake. Returns 0 when both sides finished, else the server's error. */
static int handshake(cv_tls_conn_t *s, WOLFSSL *cli, pipe_t *p, size_t chunk)
{
    cv_buf_t plain = CV_BUF_INIT;
    int i;
    int rc = 0;
    int cdone = 0;

    for (i = 0; i < 50; i++) {
        if (!cdone) {
            int ret = wolfSSL_connect(cli);
            if (ret == WOLFSSL_SUCCESS) {
                cdone = 1;
            } else {
                int err = wolfSSL_get_error(cli, ret);
                if (err != WOLFSSL_ERROR_WANT_READ && err != WOLFSSL_ERROR_WANT_WRITE) {
                    rc = rc ? rc : CV_EPROTO;
                    break;
                }
            }
        }
        rc = to_server(s, p, chunk, &plain);
        if (rc != 0)
            break;
        if (cdone && cv_tls_conn_handshake_done(s) && p->s2c.len == 0 && p->c2s.len == 0)
            break;
    }
    CHECK(plain.len == 0);
    cv_buf_free(&plain);
    err_clear();
    if (rc == 0 && !(cdone && cv_tls_conn_handshake_done(s)))
        rc = CV_AGAIN;
    return rc;
}

/* Client reads until it has want bytes (or nothing more comes). */
static size_t cli_read_all(WOLFSSL *cli, uint8_t *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        int n = wolfSSL_read(cli, buf + got, (int)(want - got));
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 31 + seed + (i >> 8));
}

/* The DER form of the first certificate in a PEM file; returns its length or -1. */
static int pem_cert_der(const char *path, uint8_t *der, int cap)
{
    char pem[8192];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    n = fread(pem, 1, sizeof(pem), f);
    fclose(f);
    if (n == 0 || n == sizeof(pem))
        return -1;
    return wc_CertPemToDer((const unsigned char *)pem, (int)n, der, cap, CERT_TYPE);
}

/*
 * Client-side tls-server-end-point: SHA-256 (ECDSA-SHA256) of the certificate the client
 * verified the server with. Each test host's certificate is self-signed and is the client's
 * only trust anchor, so a verified handshake means the server presented exactly that one.
 * (Reading it back from the session would need KEEP_PEER_CERT, which the bundled wolfSSL
 * leaves out.)
 */
static int cli_endpoint(const char *ca_pem, uint8_t out[32])
{
    uint8_t der[4096];
    int len = pem_cert_der(ca_pem, der, sizeof(der));
    if (len <= 0 || wc_Sha256Hash(der, (word32)len, out) != 0)
        return -1;
    return 0;
}

/* ---- tests ---- */

static int read_file(const char *path, cv_buf_t *b)
{
    char tmp[4096];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    cv_buf_clear(b);
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        cv_buf_append(b, tmp, n);
    fclose(f);
    return 0;
}

static void test_selfsigned(void)
{
    struct stat st1, st2, stk;
    cv_buf_t c1 = CV_BUF_INIT, c2 = CV_BUF_INIT, k1 = CV_BUF_INIT, k2 = CV_BUF_INIT;
    DecodedCert *dc = calloc(1, sizeof(*dc));
    uint8_t der[4096];
    int der_len;
    char cmd[512];

    CHECK_RC(cv_tls_selfsigned_ensure(cert_a, key_a, "bad host"), CV_EINVAL);
    CHECK_RC(cv_tls_selfsigned_ensure(cert_a, key_a, ""), CV_EINVAL);
    CHECK(access(cert_a, F_OK) != 0);

    CHECK_RC(cv_tls_selfsigned_ensure(cert_a, key_a, "a.example"), 0);
    CHECK(stat(cert_a, &st1) == 0);
    CHECK(stat(key_a, &stk) == 0 && (stk.st_mode & 0777) == 0600);
    CHECK((st1.st_mode & 0777) == 0644);
    CHECK(read_file(cert_a, &c1) == 0 && strstr(c1.data, "BEGIN CERTIFICATE") != NULL);
    CHECK(read_file(key_a, &k1) == 0 && strstr(k1.data, "BEGIN EC PRIVATE KEY") != NULL);

    /* Second call: nothing is rewritten. */
    CHECK_RC(cv_tls_selfsigned_ensure(cert_a, key_a, "a.example"), 0);
    CHECK(stat(cert_a, &st2) == 0);
    CHECK(st1.st_ino == st2.st_ino && st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec &&
          st1.st_mtim.tv_sec == st2.st_mtim.tv_sec);
    CHECK(read_file(cert_a, &c2) == 0 && c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0);
    CHECK(read_file(key_a, &k2) == 0 && k1.len == k2.len && memcmp(k1.data, k2.data, k1.len) == 0);

    /* The certificate as wolfCrypt parses it: SAN, CN, serial, key type, signature. */
    der_len = pem_cert_der(cert_a, der, sizeof(der));
    CHECK(der_len > 0 && dc != NULL);
    if (der_len > 0 && dc != NULL) {
        wc_InitDecodedCert(dc, der, (word32)der_len, NULL);
        CHECK(wc_ParseCert(dc, CERT_TYPE, NO_VERIFY, NULL) == 0);
        CHECK(dc->altNames != NULL && dc->altNames->type == ASN_DNS_TYPE &&
              dc->altNames->len == 9 && memcmp(dc->altNames->name, "a.example", 9) == 0);
        CHECK(dc->altNames != NULL && dc->altNames->next == NULL);
        CHECK(dc->subjectCN != NULL && dc->subjectCNLen == 9 &&
              memcmp(dc->subjectCN, "a.example", 9) == 0);
        CHECK(dc->serialSz == 16);
        CHECK(dc->keyOID == ECDSAk);
        CHECK(dc->signatureOID == CTC_SHA256wECDSA);
        wc_FreeDecodedCert(dc);
    }
    free(dc);

    /* The second host's files go to a directory that does not exist yet. */
    CHECK_RC(cv_tls_selfsigned_ensure(cert_b, key_b, "b.example"), 0);
    CHECK(access(cert_b, R_OK) == 0 && access(key_b, R_OK) == 0);

    /* Debian's openssl, when installed, must agree: SAN, hostname, validity of ~10 years. */
    if (access("/usr/bin/openssl", X_OK) == 0) {
        snprintf(cmd, sizeof(cmd),
                 "/usr/bin/openssl x509 -in %s -noout -ext subjectAltName 2>/dev/null"
                 " | grep -q 'DNS:a.example'",
                 cert_a);
        CHECK(system(cmd) == 0);
        snprintf(cmd, sizeof(cmd),
                 "/usr/bin/openssl verify -CAfile %s -verify_hostname a.example %s >/dev/null 2>&1",
                 cert_a, cert_a);
        CHECK(system(cmd) == 0);
        snprintf(cmd, sizeof(cmd),
                 "/usr/bin/openssl verify -CAfile %s -verify_hostname b.example %s >/dev/null 2>&1",
                 cert_a, cert_a);
        CHECK(system(cmd) != 0);
        /* Still valid 9.9 years from now, expired in 10.1. */
        snprintf(cmd, sizeof(cmd),
                 "/usr/bin/openssl x509 -in %s -noout -checkend 312220800 >/dev/null", cert_a);
        CHECK(system(cmd) == 0);
        snprintf(cmd, sizeof(cmd),
                 "/usr/bin/openssl x509 -in %s -noout -checkend 318528000 >/dev/null", cert_a);
        CHECK(system(cmd) != 0);
    } else {
        printf("skip: /usr/bin/openssl absent, openssl cross-check not run\n");
    }
    cv_buf_free(&c1);
    cv_buf_free(&c2);
    cv_buf_free(&k1);
    cv_buf_free(&k2);
}

static void test_ctx_errors(void)
{
    cv_tls_ctx_t *ctx = NULL;
    char missing[160];
    cv_tls_conn_t *c = NULL;

    CHECK_RC(cv_tls_ctx_create(&ctx), 0);
    CHECK_RC(cv_tls_conn_create(&c, ctx), CV_EINVAL); /* no host yet */
    snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
    CHECK_RC(cv_tls_ctx_add_host(ctx, "a.example", missing, key_a), CV_ETLS);
    CHECK_RC(cv_tls_ctx_add_host(ctx, "a.example", cert_a, key_b), CV_ETLS); /* mismatch */
    CHECK_RC(cv_tls_ctx_add_host(ctx, "a.example", key_a, key_a), CV_ETLS);  /* not a cert */
    CHECK_RC(cv_tls_ctx_add_host(ctx, "a.example", cert_a, key_a), 0);
    CHECK_RC(cv_tls_ctx_add_host(ctx, "A.Example", cert_a, key_a), CV_EEXIST);
    cv_tls_ctx_free(ctx);
}

/* Both directions, small and 100 KB writes, bindings; version is "TLSv1.3" or "TLSv1.2". */
static void exchange(cv_tls_conn_t *s, WOLFSSL *cli, pipe_t *p, const char *version)
{
    enum { BIG = 100 * 1024 };
    static uint8_t big[BIG], got[BIG];
    cv_buf_t plain = CV_BUF_INIT;
    uint8_t sb[CV_TLS_CB_MAX], cb[CV_TLS_CB_MAX];
    size_t sl = 0;
    int i;

    CHECK(cv_tls_conn_version(s) && strcmp(cv_tls_conn_version(s), version) == 0);
    CHECK(strcmp(wolfSSL_get_version(cli), version) == 0);
    /* The client listed AES first; the server's order puts ChaCha20-Poly1305 first. */
    CHECK(strstr(wolfSSL_get_cipher_name(cli), "CHACHA20") != NULL);

    /* Client to server: 40 small writes, fed in 1-byte and 7-byte pieces. */
    for (i = 1; i <= 40; i++) {
        uint8_t msg[64];
        fill(msg, (size_t)i, (unsigned)i);
        CHECK(wolfSSL_write(cli, msg, i) == i);
        CHECK_RC(to_server(s, p, (i & 1) ? 1 : 7, &plain), 0);
        CHECK(plain.len == (size_t)i && memcmp(plain.data, msg, (size_t)i) == 0);
        cv_buf_clear(&plain);
    }
    /* Client to server: 100 KB at once, fed in 1000-byte pieces. */
    fill(big, BIG, 3);
    CHECK(wolfSSL_write(cli, big, BIG) == BIG);
    CHECK_RC(to_server(s, p, 1000, &plain), 0);
    CHECK(plain.len == BIG && memcmp(plain.data, big, BIG) == 0);
    cv_buf_clear(&plain);
    /* Appending to a non-empty plain_out keeps what was there. */
    cv_buf_append_str(&plain, "xy");
    CHECK(wolfSSL_write(cli, "z", 1) == 1);
    CHECK_RC(to_server(s, p, 100, &plain), 0);
    CHECK(plain.len == 3 && memcmp(plain.data, "xyz", 3) == 0);
    cv_buf_clear(&plain);

    /* Server to client: small writes coalesced in one output buffer, then 100 KB. */
    for (i = 1; i <= 40; i++) {
        uint8_t msg[64];
        fill(msg, (size_t)i, (unsigned)(i + 100));
        CHECK_RC(cv_tls_conn_write(s, msg, (size_t)i), 0);
    }
    CHECK(cv_tls_conn_cipher_out(s)->len > 40 * 21);
    CHECK_RC(cv_tls_conn_take_cipher_out(s, &p->s2c), 0);
    CHECK(cv_tls_conn_cipher_out(s)->len == 0);
    for (i = 1; i <= 40; i++) {
        uint8_t msg[64], in[64];
        fill(msg, (size_t)i, (unsigned)(i + 100));
        CHECK(cli_read_all(cli, in, (size_t)i) == (size_t)i && memcmp(in, msg, (size_t)i) == 0);
    }
    fill(big, BIG, 9);
    CHECK_RC(cv_tls_conn_write(s, big, BIG), 0);
    CHECK_RC(cv_tls_conn_take_cipher_out(s, &p->s2c), 0);
    CHECK(cli_read_all(cli, got, BIG) == BIG && memcmp(got, big, BIG) == 0);

    /* Channel bindings agree with what the client computes. */
    CHECK_RC(cv_tls_conn_channel_binding(s, "tls-server-end-point", sb, sizeof(sb), &sl), 0);
    CHECK(sl == 32 && cli_endpoint(cert_a, cb) == 0 && memcmp(sb, cb, 32) == 0);
    CHECK_RC(cv_tls_conn_channel_binding(s, "tls-server-end-point", sb, 31, &sl), CV_ELIMIT);
    CHECK_RC(cv_tls_conn_channel_binding(s, "tls-unique", sb, sizeof(sb), &sl), CV_EUNSUPP);
    if (strcmp(version, "TLSv1.3") == 0) {
        CHECK_RC(cv_tls_conn_channel_binding(s, "tls-exporter", sb, sizeof(sb), &sl), 0);
        CHECK(sl == 32);
        CHECK(wolfSSL_export_keying_material(cli, cb, 32, "EXPORTER-Channel-Binding", 24, NULL, 0,
                                             0) == WOLFSSL_SUCCESS);
        CHECK(memcmp(sb, cb, 32) == 0);
        /* Stable across calls, and not all zero. */
        CHECK_RC(cv_tls_conn_channel_binding(s, "tls-exporter", cb, sizeof(cb), &sl), 0);
        CHECK(memcmp(sb, cb, 32) == 0);
        memset(cb, 0, sizeof(cb));
        CHECK(memcmp(sb, cb, 32) != 0);
    } else {
        CHECK_RC(cv_tls_conn_channel_binding(s, "tls-exporter", sb, sizeof(sb), &sl), CV_EUNSUPP);
    }

    /* Idle: trim then keep working. */
    CHECK_RC(cv_tls_conn_trim(s), 0);
    CHECK(wolfSSL_write(cli, "after", 5) == 5);
    CHECK_RC(to_server(s, p, 3, &plain), 0);
    CHECK(plain.len == 5 && memcmp(plain.data, "after", 5) == 0);
    cv_buf_clear(&plain);
    CHECK_RC(cv_tls_conn_trim(s), 0);

    if (strcmp(version, "TLSv1.3") == 0) {
        /*
         * The handshake state is gone: a key update asked for by the client is still
         * answered, records flow both ways under the new keys, and tls-exporter keeps its
         * value.
         */
        uint8_t in[16];
        CHECK(wolfSSL_update_keys(cli) == WOLFSSL_SUCCESS);
        CHECK(wolfSSL_write(cli, "rekeyed", 7) == 7);
        CHECK_RC(to_server(s, p, 5, &plain), 0);
        CHECK(plain.len == 7 && memcmp(plain.data, "rekeyed", 7) == 0);
        cv_buf_clear(&plain);
        CHECK_RC(cv_tls_conn_write(s, "ack", 3), 0);
        CHECK_RC(cv_tls_conn_take_cipher_out(s, &p->s2c), 0);
        CHECK(cli_read_all(cli, in, 3) == 3 && memcmp(in, "ack", 3) == 0);
        CHECK_RC(cv_tls_conn_channel_binding(s, "tls-exporter", sb, sizeof(sb), &sl), 0);
        CHECK(wolfSSL_export_keying_material(cli, cb, 32, "EXPORTER-Channel-Binding", 24, NULL, 0,
                                             0) == WOLFSSL_SUCCESS);
        CHECK(sl == 32 && memcmp(sb, cb, 32) == 0);
    }

    /* Client closes after a last message: plaintext first, then CV_ECLOSED. */
    CHECK(wolfSSL_write(cli, "bye", 3) == 3);
    wolfSSL_shutdown(cli);
    {
        size_t len = p->c2s.len;
        CHECK_RC(cv_tls_conn_feed(s, (const uint8_t *)p->c2s.data, len), 0);
        cv_buf_clear(&p->c2s);
    }
    CHECK_RC(cv_tls_conn_read(s, &plain), 0);
    CHECK(plain.len == 3 && memcmp(plain.data, "bye", 3) == 0);
    CHECK_RC(cv_tls_conn_read(s, &plain), CV_ECLOSED);
    CHECK(plain.len == 3);
    CHECK_RC(cv_tls_conn_shutdown(s), 0);
    CHECK(cv_tls_conn_cipher_out(s)->len > 0); /* close_notify */
    CHECK_RC(cv_tls_conn_write(s, "x", 1), CV_ECLOSED);
    cv_buf_free(&plain);
}

static void run_version(cv_tls_ctx_t *ctx, WOLFSSL_METHOD *m, const char *ciphers,
                        const char *version)
{
    pipe_t p = {CV_BUF_INIT, CV_BUF_INIT};
    cv_tls_conn_t *s = NULL;
    WOLFSSL_CTX *cw = cli_ctx_new(m, cert_a, ciphers);
    WOLFSSL *cli = cli_new(cw, &p, NULL, "a.example");
    uint8_t b[64];
    size_t l;

    CHECK_RC(cv_tls_conn_create(&s, ctx), 0);
    CHECK_RC(cv_tls_conn_write(s, "early", 5), CV_AGAIN);
    CHECK_RC(cv_tls_conn_channel_binding(s, "tls-exporter", b, sizeof(b), &l), CV_AGAIN);
    CHECK(cv_tls_conn_version(s) == NULL);
    CHECK_RC(handshake(s, cli, &p, 1 + strlen(version)), 0);
    CHECK(cv_tls_conn_sni(s) == NULL);
    if (cv_tls_conn_handshake_done(s))
        exchange(s, cli, &p, version);
    wolfSSL_free(cli);
    wolfSSL_CTX_free(cw);
    cv_tls_conn_free(s);
    cv_buf_free(&p.c2s);
    cv_buf_free(&p.s2c);
}

static void test_versions(cv_tls_ctx_t *ctx)
{
    run_version(ctx, wolfTLSv1_3_client_method(),
                "TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256", "TLSv1.3");
    run_version(ctx, wolfSSLv23_client_method(), NULL, "TLSv1.3");
    run_version(ctx, wolfTLSv1_2_client_method(),
                "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305", "TLSv1.2");
}

static void test_groups(cv_tls_ctx_t *ctx)
{
    pipe_t p = {CV_BUF_INIT, CV_BUF_INIT};
    cv_tls_conn_t *s = NULL;
    WOLFSSL_CTX *cw = cli_ctx_new(wolfTLSv1_3_client_method(), cert_a, NULL);
    WOLFSSL *cli = cli_new(cw, &p, NULL, NULL);
    int groups[] = {WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_X25519};
    const char *curve;

    /* The client prefers P-256 but supports X25519 and sends no key share yet. */
    CHECK(wolfSSL_set_groups(cli, groups, 2) == WOLFSSL_SUCCESS);
    CHECK(wolfSSL_NoKeyShares(cli) == WOLFSSL_SUCCESS);
    CHECK_RC(cv_tls_conn_create(&s, ctx), 0);
    CHECK_RC(handshake(s, cli, &p, 4096), 0);
    curve = wolfSSL_get_curve_name(cli);
    CHECK(curve != NULL && strcmp(curve, "X25519") == 0);
    wolfSSL_free(cli);
    wolfSSL_CTX_free(cw);
    cv_tls_conn_free(s);
    cv_buf_free(&p.c2s);
    cv_buf_free(&p.s2c);
}

/*
 * A TLS 1.1 ClientHello, written out because the bundled wolfSSL has no TLS 1.1 client:
 * client_version 3.2, no supported_versions extension, two ECDHE-CBC suites of that era.
 * The 32 random bytes go between head and tail.
 */
static const uint8_t tls11_head[] = {
    0x16, 0x03, 0x01, 0x00, 0x2f, /* handshake record, 47 bytes */
    0x01, 0x00, 0x00, 0x2b,       /* ClientHello, 43 bytes */
    0x03, 0x02,                   /* client_version TLS 1.1 */
};
static const uint8_t tls11_tail[] = {
    0x00,                   /* no session id */
    0x00, 0x04, 0xc0, 0x09, /* ECDHE-ECDSA-AES128-SHA */
    0xc0, 0x13,             /* ECDHE-RSA-AES128-SHA */
    0x01, 0x00,             /* null compression only */
};

static void test_old_version_refused(cv_tls_ctx_t *ctx)
{
    cv_tls_conn_t *s = NULL;
    cv_buf_t plain = CV_BUF_INIT;
    const cv_buf_t *out;
    uint8_t hello[sizeof(tls11_head) + 32 + sizeof(tls11_tail)];

    memcpy(hello, tls11_head, sizeof(tls11_head));
    fill(hello + sizeof(tls11_head), 32, 11);
    memcpy(hello + sizeof(tls11_head) + 32, tls11_tail, sizeof(tls11_tail));
    CHECK_RC(cv_tls_conn_create(&s, ctx), 0);
    CHECK_RC(cv_tls_conn_feed(s, hello, sizeof(hello)), CV_ETLS);
    CHECK(!cv_tls_conn_handshake_done(s));
    /* A fatal alert: protocol_version (70). */
    out = cv_tls_conn_cipher_out(s);
    CHECK(out->len == 7 && (uint8_t)out->data[0] == 0x15 && (uint8_t)out->data[5] == 2 &&
          (uint8_t)out->data[6] == 70);
    /* Sticky: later input is refused the same way. */
    CHECK_RC(cv_tls_conn_feed(s, (const uint8_t *)"\x16\x03\x01", 3), CV_ETLS);
    CHECK_RC(cv_tls_conn_read(s, &plain), CV_ETLS);
    CHECK_RC(cv_tls_conn_write(s, "x", 1), CV_ETLS);
    cv_tls_conn_free(s);
    cv_buf_free(&plain);
}

static void test_garbage(cv_tls_ctx_t *ctx)
{
    static const uint8_t huge_record[] = {0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00};
    static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
    static const uint8_t xml[] = "<?xml version='1.0'?><stream:stream to='a.example'>";
    const uint8_t *inputs[] = {huge_record, http, xml};
    size_t lens[] = {sizeof(huge_record), sizeof(http) - 1, sizeof(xml) - 1};
    uint8_t junk[2048];
    cv_buf_t plain = CV_BUF_INIT;
    size_t i;

    for (i = 0; i < CV_ARRAY_LEN(inputs) + 1; i++) {
        cv_tls_conn_t *s = NULL;
        int rc;
        CHECK_RC(cv_tls_conn_create(&s, ctx), 0);
        if (i < CV_ARRAY_LEN(inputs)) {
            rc = cv_tls_conn_feed(s, inputs[i], lens[i]);
        } else {
            fill(junk, sizeof(junk), 77);
            junk[0] = 0x16; /* looks like a handshake record */
            rc = cv_tls_conn_feed(s, junk, sizeof(junk));
        }
        if (rc == 0)
            rc = cv_tls_conn_read(s, &plain);
        CHECK_RC(rc, CV_ETLS);
        CHECK(plain.len == 0);
        cv_tls_conn_free(s);
    }

    /* A tampered record after the handshake fails authentication. */
    {
        pipe_t p = {CV_BUF_INIT, CV_BUF_INIT};
        cv_tls_conn_t *s = NULL;
        WOLFSSL_CTX *cw = cli_ctx_new(wolfTLSv1_3_client_method(), cert_a, NULL);
        WOLFSSL *cli = cli_new(cw, &p, NULL, "a.example");
        CHECK_RC(cv_tls_conn_create(&s, ctx), 0);
        CHECK_RC(handshake(s, cli, &p, 4096), 0);
        CHECK(wolfSSL_write(cli, "secret", 6) == 6);
        CHECK(p.c2s.len > 10);
        if (p.c2s.len > 10)
            p.c2s.data[p.c2s.len - 3] ^= 0x40;
        CHECK_RC(to_server(s, &p, 4096, &plain), CV_ETLS);
        CHECK(plain.len == 0);
        wolfSSL_free(cli);
        wolfSSL_CTX_free(cw);
        cv_tls_conn_free(s);
        cv_buf_free(&p.c2s);
        cv_buf_free(&p.s2c);
    }
    cv_buf_free(&plain);
}

/* SNI selects the second host's certificate; no or unknown SNI gets the default. */
static void test_sni(void)
{
    struct {
        const char *sni;
        const char *expect_host;
        const char *ca;
    } cases[] = {
        {"b.example", "b.example", NULL},
        {"B.EXAMPLE", "b.example", NULL},
        {NULL, "a.example", NULL},
        {"c.example", "a.example", NULL},
    };
    cv_tls_ctx_t *ctx = NULL;
    size_t i;

    cases[0].ca = cases[1].ca = cert_b;
    cases[2].ca = cases[3].ca = cert_a;
    CHECK_RC(cv_tls_ctx_create(&ctx), 0);
    CHECK_RC(cv_tls_ctx_add_host(ctx, "a.example", cert_a, key_a), 0);
    CHECK_RC(cv_tls_ctx_add_host(ctx, "b.example", cert_b, key_b), 0);
    /* Each case with the ClientHello fed whole and in small pieces: the host is chosen
       only once the first record is complete, however it arrives. */
    static const size_t chunks[] = {4096, 1, 7, 100};
    for (i = 0; i < CV_ARRAY_LEN(cases) * CV_ARRAY_LEN(chunks); i++) {
        size_t chunk = chunks[i % CV_ARRAY_LEN(chunks)];
        pipe_t p = {CV_BUF_INIT, CV_BUF_INIT};
        cv_tls_conn_t *s = NULL;
        WOLFSSL_CTX *cw;
        WOLFSSL *cli;
        uint8_t sb[CV_TLS_CB_MAX], cb[32];
        size_t sl = 0;
        const char *sni;

        size_t k = i / CV_ARRAY_LEN(chunks);
        cw = cli_ctx_new(wolfSSLv23_client_method(), cases[k].ca, NULL);
        cli = cli_new(cw, &p, cases[k].sni, cases[k].expect_host);
        CHECK_RC(cv_tls_conn_create(&s, ctx), 0);
        /* The client verifies the chain and the name: success proves the right cert. */
        CHECK_RC(handshake(s, cli, &p, chunk), 0);
        sni = cv_tls_conn_sni(s);
        if (cases[k].sni)
            CHECK(sni != NULL && strcmp(sni, cases[k].sni) == 0);
        else
            CHECK(sni == NULL);
        CHECK_RC(cv_tls_conn_channel_binding(s, "tls-server-end-point", sb, sizeof(sb), &sl), 0);
        CHECK(sl == 32 && cli_endpoint(cases[k].ca, cb) == 0 && memcmp(sb, cb, 32) == 0);
        wolfSSL_free(cli);
        wolfSSL_CTX_free(cw);
        cv_tls_conn_free(s);
        cv_buf_free(&p.c2s);
        cv_buf_free(&p.s2c);
    }
    cv_tls_ctx_free(ctx);
}

/* A TLS 1.3 client resumes with the ticket from its first connection. */
static void test_resumption(cv_tls_ctx_t *ctx)
{
    WOLFSSL_CTX *cw = cli_ctx_new(wolfTLSv1_3_client_method(), cert_a, NULL);
    WOLFSSL_SESSION *sess = NULL;
    int round;

    for (round = 0; round < 2; round++) {
        pipe_t p = {CV_BUF_INIT, CV_BUF_INIT};
        cv_tls_conn_t *s = NULL;
        WOLFSSL *cli = cli_new(cw, &p, NULL, "a.example");
        uint8_t b[8];

        if (round == 1 && sess != NULL)
            CHECK(wolfSSL_set_session(cli, sess) == WOLFSSL_SUCCESS);
        CHECK_RC(cv_tls_conn_create(&s, ctx), 0);
        CHECK_RC(handshake(s, cli, &p, 4096), 0);
        /* The ticket arrives after the handshake; a read makes the client take it. */
        CHECK_RC(cv_tls_conn_write(s, "ping", 4), 0);
        CHECK_RC(cv_tls_conn_take_cipher_out(s, &p.s2c), 0);
        CHECK(cli_read_all(cli, b, 4) == 4 && memcmp(b, "ping", 4) == 0);
        if (round == 0) {
            CHECK(wolfSSL_session_reused(cli) == 0);
            sess = wolfSSL_get1_session(cli);
            CHECK(sess != NULL);
        } else {
            CHECK(wolfSSL_session_reused(cli) == 1);
        }
        wolfSSL_free(cli);
        cv_tls_conn_free(s);
        cv_buf_free(&p.c2s);
        cv_buf_free(&p.s2c);
    }
    wolfSSL_SESSION_free(sess);
    wolfSSL_CTX_free(cw);
}

/* The process's resident set from /proc/self/statm, in bytes; 0 if unreadable. */
static size_t resident_bytes(void)
{
    unsigned long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &pages, &res) != 2)
        res = 0;
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* Heap per idle server session, measured with glibc's mallinfo2 (not meaningful under ASan). */
static void test_memory(cv_tls_ctx_t *ctx)
{
    enum { N = 100 };
    static cv_tls_conn_t *conns[N];
    WOLFSSL_CTX *cw = cli_ctx_new(wolfTLSv1_3_client_method(), cert_a, NULL);
    cv_buf_t plain = CV_BUF_INIT;
    size_t base, created, done, trimmed, after_garbage;
    size_t rss_done, rss_trimmed;
    int refused = 0;
    int rc;
    int i;

#ifdef TEST_ASAN
    printf("skip: heap measurement under AddressSanitizer\n");
    wolfSSL_CTX_free(cw);
    return;
#endif
    /* Warm up wolfSSL's per-thread ECC cache so that it does not count as per-session. */
    for (i = 0; i < 20; i++) {
        pipe_t p = {CV_BUF_INIT, CV_BUF_INIT};
        WOLFSSL *cli = cli_new(cw, &p, NULL, NULL);
        cv_tls_conn_t *s = NULL;
        CHECK_RC(cv_tls_conn_create(&s, ctx), 0);
        CHECK_RC(handshake(s, cli, &p, 4096), 0);
        cv_tls_conn_free(s);
        wolfSSL_free(cli);
        cv_buf_free(&p.c2s);
        cv_buf_free(&p.s2c);
    }
    base = mallinfo2().uordblks;
    for (i = 0; i < N; i++)
        CHECK_RC(cv_tls_conn_create(&conns[i], ctx), 0);
    created = mallinfo2().uordblks;
    for (i = 0; i < N; i++) {
        pipe_t p = {CV_BUF_INIT, CV_BUF_INIT};
        WOLFSSL *cli = cli_new(cw, &p, NULL, NULL);
        uint8_t b[8];
        CHECK_RC(handshake(conns[i], cli, &p, 4096), 0);
        /* One 200-byte stanza each way, like a session that has logged in and gone idle. */
        memset(b, 'x', sizeof(b));
        for (int k = 0; k < 25; k++)
            CHECK(wolfSSL_write(cli, b, 8) == 8);
        CHECK_RC(to_server(conns[i], &p, 4096, &plain), 0);
        cv_buf_clear(&plain);
        CHECK_RC(cv_tls_conn_write(conns[i], "<presence/>", 11), 0);
        cv_buf_clear(cv_tls_conn_cipher_out(conns[i]));
        wolfSSL_free(cli);
        cv_buf_free(&p.c2s);
        cv_buf_free(&p.s2c);
    }
    cv_buf_free(&plain);
    done = mallinfo2().uordblks;
    rss_done = resident_bytes();
    for (i = 0; i < N; i++)
        CHECK_RC(cv_tls_conn_trim(conns[i]), 0);
    trimmed = mallinfo2().uordblks;
    rss_trimmed = resident_bytes();
    printf("tls heap per server session (TLS 1.3, X25519, ChaCha20-Poly1305): "
           "created %zu B, idle after handshake %zu B, after trim %zu B; "
           "resident memory given back by trim %ld B\n",
           (created - base) / N, (done - base) / N, (trimmed - base) / N,
           (long)(rss_done - rss_trimmed) / N);
    CHECK(trimmed < done);
    CHECK(done > created);
#ifdef SESSION_CERTS
    /*
     * Debian's build: the zero pages of each session's 37.5 KB WOLFSSL_SESSION (8 or 9 of
     * them, wherever malloc placed it) are no longer resident.
     */
    CHECK(rss_done > rss_trimmed && (rss_done - rss_trimmed) / N >= 6 * 4096);
#else
    /* The bundled build: an idle trimmed session is a few KB of heap in all. */
    CHECK((trimmed - base) / N < 8192);
#endif
    for (i = 0; i < N; i++)
        cv_tls_conn_free(conns[i]);

    /* Failing sessions must not leave anything behind (e.g. in wolfSSL's error queue). */
    base = mallinfo2().uordblks;
    for (i = 0; i < 1000; i++) {
        cv_tls_conn_t *s = NULL;
        uint8_t junk[64];
        fill(junk, sizeof(junk), (unsigned)i);
        junk[0] = 0x16;
        junk[1] = 0x03;
        CHECK_RC(cv_tls_conn_create(&s, ctx), 0);
        /* A complete 59-byte handshake record of noise. */
        junk[2] = 0x03;
        junk[3] = 0;
        junk[4] = sizeof(junk) - 5;
        (void)cv_tls_conn_feed(s, junk, sizeof(junk));
        rc = cv_tls_conn_read(s, &plain);
        /* Noise that reads as the first fragment of a long handshake message waits for more. */
        CHECK(rc == CV_ETLS || rc == 0);
        refused += rc == CV_ETLS;
        cv_tls_conn_free(s);
    }
    after_garbage = mallinfo2().uordblks;
    CHECK(refused > 900);
    CHECK(after_garbage < base + 16 * 1024);
    cv_buf_free(&plain);
    wolfSSL_CTX_free(cw);
}

int main(void)
{
    cv_tls_ctx_t *ctx = NULL;
    char cmd[128];

    if (getenv("CV_TEST_DEBUG"))
        cv_log_set_level(CV_LOG_DEBUG);
    snprintf(dir, sizeof(dir), "/tmp/cv_tls_test_XXXXXX");
    if (mkdtemp(dir) == NULL) {
        printf("FAIL: mkdtemp\n");
        return 1;
    }
    snprintf(cert_a, sizeof(cert_a), "%s/a/cert.pem", dir);
    snprintf(key_a, sizeof(key_a), "%s/a/key.pem", dir);
    snprintf(cert_b, sizeof(cert_b), "%s/b/x/cert.pem", dir);
    snprintf(key_b, sizeof(key_b), "%s/b/y/key.pem", dir);

    test_selfsigned();
    test_ctx_errors();
    CHECK_RC(cv_tls_ctx_create(&ctx), 0);
    CHECK_RC(cv_tls_ctx_add_host(ctx, "a.example", cert_a, key_a), 0);
    if (ctx != NULL) {
        test_versions(ctx);
        test_groups(ctx);
        test_old_version_refused(ctx);
        test_garbage(ctx);
        test_resumption(ctx);
        test_memory(ctx);
    }
    test_sni();
    cv_tls_ctx_free(ctx);
    cv_tls_thread_cleanup();

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("warning: could not remove %s\n", dir);
    if (failures)
        printf("%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
