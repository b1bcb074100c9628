/*
 * Server-side TLS over memory buffers with wolfSSL. See corvid/tls.h for the contracts and
 * docs/tls.md for the choices (versions, cipher order, groups, channel bindings, memory).
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "corvid/log.h"
#include "corvid/tls.h"

/*
 * The bundled build has neither; finding them means the headers came from another wolfSSL
 * than the library linked, and the structures would not match.
 */
#if defined(CORVID_WOLFSSL_BUNDLED) && (defined(SESSION_CERTS) || defined(OPENSSL_EXTRA))
#error "wolfssl/options.h is not the bundled build's: check the include path"
#endif

/*
 * ChaCha20-Poly1305 first: it costs about as much as AES-GCM where wolfSSL uses AES-NI (the
 * bundled build) and half as much where it does not (Debian's). TLS 1.2 is limited to
 * forward-secret AEAD suites.
 */
static const char tls_cipher_list[] = "TLS13-CHACHA20-POLY1305-SHA256:"
                                      "TLS13-AES128-GCM-SHA256:"
                                      "TLS13-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:"
                                      "ECDHE-RSA-CHACHA20-POLY1305:"
                                      "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                      "ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:"
                                      "ECDHE-RSA-AES256-GCM-SHA384";

/* X25519 first: its key exchange costs less than P-256's in both builds. */
static const int tls_groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};

#define TLS_EXPORTER_LABEL "EXPORTER-Channel-Binding"
/* A TLS record header, and the largest plaintext record (RFC 8446 §5.1). */
#define TLS_RECORD_HDR 5
#define TLS_RECORD_MAX 16384
#define TLS_HANDSHAKE 22
#define TLS_EXPORTER_LEN 32
/* Plaintext buffer headroom asked for before each wolfSSL_read(). */
#define TLS_READ_CHUNK 4095 /* with cv_buf's NUL, exactly one 4 KiB block */
/* wolfSSL_write() takes an int length. */
#define TLS_WRITE_MAX (1u << 30)

typedef struct cv_tls_host_s {
    char *name;
    WOLFSSL_CTX *wctx;
    uint8_t endpoint[CV_TLS_CB_MAX]; /* tls-server-end-point, computed once at start-up */
    size_t endpoint_len;             /* 0: not defined for this certificate's signature */
} cv_tls_host_t;

struct cv_tls_ctx_s {
    cv_tls_host_t *hosts; /* hosts[0] is the default */
    size_t nhosts;
    int wolfssl_inited; /* this context holds one wolfSSL_Init() reference */
};

struct cv_tls_conn_s {
    WOLFSSL *ssl;
    cv_tls_ctx_t *ctx;
    /* Input borrowed from the caller for the duration of one cv_tls_conn_feed() call. */
    const uint8_t *in_ptr;
    size_t in_len;
    /* Input TLS could not consume during feed, copied; read from in_off. */
    cv_buf_t in_copy;
    size_t in_off;
    cv_buf_t plain;        /* decrypted, not yet handed to the caller */
    cv_buf_t out;          /* ciphertext to send */
    int state;             /* 0, or the sticky outcome: CV_ECLOSED, CV_ETLS, CV_ENOMEM */
    int out_nomem;         /* the send callback could not grow out */
    uint8_t hs_done;       /* handshake completed */
    uint8_t shut;          /* close_notify queued by us */
    uint8_t exporter_ok;   /* exporter holds the tls-exporter binding (TLS 1.3) */
    uint8_t session_paged; /* the session object's zero pages were given back */
    uint8_t host_chosen;   /* ssl was made from the context of the host the client named */
    /* Computed when the handshake completes, before the secret it needs is freed. */
    uint8_t exporter[TLS_EXPORTER_LEN];
};

/*
 * wolfSSL keeps a per-thread error queue only with its OpenSSL compatibility layer or
 * verbose debugging (Debian's build); the bundled build has no queue to read or clear.
 */
static void tls_err_clear(void)
{
#if defined(OPENSSL_EXTRA) || defined(DEBUG_WOLFSSL_VERBOSE)
    wolfSSL_ERR_clear_error();
#endif
}

static void tls_errstr(int err, char *buf, size_t len)
{
    wolfSSL_ERR_error_string_n((unsigned long)err, buf, len);
}

/* Loaders return WOLFSSL_FAILURE without detail; the error queue may say more. */
static void tls_load_reason(int ret, char *buf, size_t len)
{
#if defined(OPENSSL_EXTRA) || defined(HAVE_WEBSERVER)
    unsigned long e = ret == WOLFSSL_FAILURE ? wolfSSL_ERR_get_error() : (unsigned long)ret;
#else
    unsigned long e = ret == WOLFSSL_FAILURE ? 0 : (unsigned long)ret;
#endif

    if (e == 0)
        snprintf(buf, len, "no usable PEM data");
    else
        wolfSSL_ERR_error_string_n(e, buf, len);
}

/* wolfSSL pulls ciphertext: first what an earlier feed left, then the borrowed bytes. */
static int tls_recv_cb(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
    cv_tls_conn_t *c = arg;
    size_t want = sz > 0 ? (size_t)sz : 0;
    size_t n;
    CV_UNUSED(ssl);

    if (want == 0)
        return 0;
    if (c->in_off < c->in_copy.len) {
        n = c->in_copy.len - c->in_off;
        if (n > want)
            n = want;
        memcpy(buf, c->in_copy.data + c->in_off, n);
        c->in_off += n;
        if (c->in_off == c->in_copy.len) {
            cv_buf_clear(&c->in_copy);
            c->in_off = 0;
        }
        return (int)n;
    }
    if (c->in_len > 0) {
        n = c->in_len < want ? c->in_len : want;
        memcpy(buf, c->in_ptr, n);
        c->in_ptr += n;
        c->in_len -= n;
        return (int)n;
    }
    return WOLFSSL_CBIO_ERR_WANT_READ;
}

/* Records go to the output buffer whole, so wolfSSL never sees a partial write. */
static int tls_send_cb(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
    cv_tls_conn_t *c = arg;
    CV_UNUSED(ssl);

    if (sz <= 0)
        return 0;
    if (cv_buf_append(&c->out, buf, (size_t)sz) < 0) {
        c->out_nomem = 1;
        return WOLFSSL_CBIO_ERR_GENERAL;
    }
    return sz;
}

int cv_tls_ctx_create(cv_tls_ctx_t **out)
{
    cv_tls_ctx_t *ctx;

    *out = NULL;
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return CV_ENOMEM;
    if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
        cv_error("tls: wolfSSL_Init failed");
        free(ctx);
        return CV_ETLS;
    }
    ctx->wolfssl_inited = 1;
    *out = ctx;
    return 0;
}

/* Applies the protocol policy shared by every host's WOLFSSL_CTX. */
static int tls_wctx_configure(WOLFSSL_CTX *w)
{
    if (wolfSSL_CTX_SetMinVersion(w, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
        cv_error("tls: cannot set TLS 1.2 as minimum version");
        return CV_ETLS;
    }
    if (wolfSSL_CTX_set_cipher_list(w, tls_cipher_list) != WOLFSSL_SUCCESS) {
        cv_error("tls: cipher list rejected");
        return CV_ETLS;
    }
    if (wolfSSL_CTX_set_groups(w, (int *)tls_groups, (int)CV_ARRAY_LEN(tls_groups)) !=
        WOLFSSL_SUCCESS) {
        cv_error("tls: cannot set key exchange groups");
        return CV_ETLS;
    }
    wolfSSL_CTX_set_options(w, WOLFSSL_OP_CIPHER_SERVER_PREFERENCE);
    wolfSSL_CTX_set_verify(w, WOLFSSL_VERIFY_NONE, NULL);
    wolfSSL_CTX_SetIORecv(w, tls_recv_cb);
    wolfSSL_CTX_SetIOSend(w, tls_send_cb);
    /*
     * Session tickets need no call on the server side: wolfSSL's built-in ticket key
     * (random per WOLFSSL_CTX, rotated by wolfSSL under its own lock) encrypts them, and a
     * TLS 1.3 server sends one after each full handshake.
     */
    return 0;
}

/* Reads a small file whole into buf (NUL-terminated). Returns its length or -1. */
static long tls_slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n == cap - 1 ? -1 : (long)n;
}

/*
 * wolfSSL 5.5.4's wolfSSL_CTX_check_private_key() accepts an EC key that does not belong
 * to the certificate, which would surface only as every handshake failing. For EC keys the
 * public point is recomputed from the private scalar and compared with the certificate's
 * (pub: the certificate's public key, as SubjectPublicKeyInfo or as a bare point).
 * Other key types are left to wolfSSL's check.
 */
static int tls_ec_key_check(const byte *pub_der, word32 pub_len, const char *cert_path,
                            const char *key_path)
{
    static const size_t pem_cap = 16384;
    char *pem = malloc(pem_cap);
    unsigned char *der = malloc(pem_cap);
    unsigned char a[160], b[160];
    word32 alen = sizeof(a), blen = sizeof(b), idx = 0;
    ecc_key priv, pub;
    int priv_inited = 0, pub_inited = 0;
    long pem_len;
    int der_len;
    int rc = CV_ENOMEM;

    if (pem == NULL || der == NULL)
        goto out;
    rc = 0;
    pem_len = tls_slurp(key_path, pem, pem_cap);
    if (pem_len <= 0)
        goto out; /* not a small PEM file: wolfSSL already loaded it, let its check decide */
    der_len = wc_KeyPemToDer((const unsigned char *)pem, (int)pem_len, der, (int)pem_cap, NULL);
    if (der_len <= 0)
        goto out;
    if (wc_GetPkcs8TraditionalOffset(der, &idx, (word32)der_len) < 0)
        idx = 0;
    if (wc_ecc_init(&priv) != 0)
        goto out;
    priv_inited = 1;
    if (wc_EccPrivateKeyDecode(der, &idx, &priv, (word32)der_len) != 0)
        goto out; /* not an EC key */
    rc = CV_ETLS;
    if (wc_ecc_init(&pub) != 0)
        goto mismatch;
    pub_inited = 1;
    idx = 0;
    if (wc_EccPublicKeyDecode(pub_der, &idx, &pub, pub_len) != 0 &&
        wc_ecc_import_x963(pub_der, pub_len, &pub) != 0)
        goto mismatch;
    if (wc_ecc_make_pub(&priv, NULL) != 0 || wc_ecc_export_x963(&priv, a, &alen) != 0 ||
        wc_ecc_export_x963(&pub, b, &blen) != 0)
        goto mismatch;
    if (alen == blen && memcmp(a, b, alen) == 0) {
        rc = 0;
        goto out;
    }
mismatch:
    cv_warn("tls: %s does not match the certificate in %s", key_path, cert_path);
out:
    if (priv_inited)
        wc_ecc_free(&priv);
    if (pub_inited)
        wc_ecc_free(&pub);
    if (pem != NULL)
        explicit_bzero(pem, pem_cap);
    if (der != NULL)
        explicit_bzero(der, pem_cap);
    free(pem);
    free(der);
    return rc;
}

/*
 * Parses the first certificate of the chain file with wolfCrypt's certificate decoder
 * (wolfSSL's X509 objects belong to its OpenSSL compatibility layer, which the bundled
 * build leaves out), checks the key against it, and computes tls-server-end-point.
 * RFC 5929 §4.1: the hash of the signature algorithm, with MD5 and SHA-1 mapped to SHA-256.
 */
static int tls_cert_check(const char *path, const char *key_path, cv_tls_host_t *h)
{
    static const size_t pem_cap = 256 * 1024;
    char *pem = malloc(pem_cap);
    unsigned char *der = malloc(pem_cap); /* DER is shorter than its PEM */
    DecodedCert *dc = calloc(1, sizeof(*dc));
    int dc_inited = 0;
    long pem_len;
    int der_len = -1;
    int rc = CV_ENOMEM;

    h->endpoint_len = 0;
    if (pem == NULL || der == NULL || dc == NULL)
        goto out;
    rc = CV_ETLS;
    pem_len = tls_slurp(path, pem, pem_cap);
    if (pem_len > 0)
        der_len =
            wc_CertPemToDer((const unsigned char *)pem, (int)pem_len, der, (int)pem_cap, CERT_TYPE);
    if (der_len <= 0) {
        cv_warn("tls: %s: cannot parse the first certificate", path);
        goto out;
    }
    wc_InitDecodedCert(dc, der, (word32)der_len, NULL);
    dc_inited = 1;
    if (wc_ParseCert(dc, CERT_TYPE, NO_VERIFY, NULL) != 0) {
        cv_warn("tls: %s: cannot parse the first certificate", path);
        goto out;
    }
    if (dc->keyOID == ECDSAk) {
        rc = tls_ec_key_check(dc->publicKey, dc->pubKeySize, path, key_path);
        if (rc < 0)
            goto out;
        rc = CV_ETLS;
    }
    switch (dc->signatureOID) {
    case CTC_MD5wRSA:
    case CTC_SHAwRSA:
    case CTC_SHAwECDSA:
    case CTC_SHA256wRSA:
    case CTC_SHA256wECDSA:
        if (wc_Sha256Hash(der, (word32)der_len, h->endpoint) != 0)
            goto out;
        h->endpoint_len = 32;
        break;
    case CTC_SHA384wRSA:
    case CTC_SHA384wECDSA:
        if (wc_Sha384Hash(der, (word32)der_len, h->endpoint) != 0)
            goto out;
        h->endpoint_len = 48;
        break;
    case CTC_SHA512wRSA:
    case CTC_SHA512wECDSA:
        if (wc_Sha512Hash(der, (word32)der_len, h->endpoint) != 0)
            goto out;
        h->endpoint_len = 64;
        break;
    default:
        /* RFC 5929 leaves the binding undefined; SCRAM-PLUS then offers tls-exporter only. */
        cv_info("tls: %s: no tls-server-end-point for this signature algorithm", path);
        break;
    }
    rc = 0;
out:
    if (dc_inited)
        wc_FreeDecodedCert(dc);
    free(dc);
    free(der);
    free(pem);
    return rc;
}

static int tls_file_readable(const char *what, const char *path)
{
    if (access(path, R_OK) != 0) {
        cv_warn("tls: %s %s: %s", what, path, strerror(errno));
        return CV_ETLS;
    }
    return 0;
}

int cv_tls_ctx_add_host(cv_tls_ctx_t *ctx, const char *host, const char *cert_pem,
                        const char *key_pem)
{
    cv_tls_host_t h = {0};
    cv_tls_host_t *hosts;
    char why[128];
    size_t i;
    int ret;
    int rc;

    if (ctx == NULL || host == NULL || cert_pem == NULL || key_pem == NULL || host[0] == '\0' ||
        strlen(host) > 253)
        return CV_EINVAL;
    for (i = 0; i < ctx->nhosts; i++) {
        if (strcasecmp(ctx->hosts[i].name, host) == 0)
            return CV_EEXIST;
    }
    rc = tls_file_readable("certificate", cert_pem);
    if (rc < 0)
        goto out;
    rc = tls_file_readable("private key", key_pem);
    if (rc < 0)
        goto out;
    rc = CV_ENOMEM;
    h.name = strdup(host);
    if (h.name == NULL)
        goto out;
    h.wctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    if (h.wctx == NULL)
        goto out;
    rc = tls_wctx_configure(h.wctx);
    if (rc < 0)
        goto out;
    rc = CV_ETLS;
    ret = wolfSSL_CTX_use_certificate_chain_file(h.wctx, cert_pem);
    if (ret != WOLFSSL_SUCCESS) {
        tls_load_reason(ret, why, sizeof(why));
        cv_warn("tls: %s: cannot load certificate chain for %s: %s", cert_pem, host, why);
        goto out;
    }
    ret = wolfSSL_CTX_use_PrivateKey_file(h.wctx, key_pem, WOLFSSL_FILETYPE_PEM);
    if (ret != WOLFSSL_SUCCESS) {
        tls_load_reason(ret, why, sizeof(why));
        cv_warn("tls: %s: cannot load private key for %s: %s", key_pem, host, why);
        goto out;
    }
    if (wolfSSL_CTX_check_private_key(h.wctx) != WOLFSSL_SUCCESS) {
        cv_warn("tls: %s does not match the certificate in %s", key_pem, cert_pem);
        goto out;
    }
    rc = tls_cert_check(cert_pem, key_pem, &h);
    if (rc < 0)
        goto out;
    rc = CV_ENOMEM;
    hosts = realloc(ctx->hosts, (ctx->nhosts + 1) * sizeof(*hosts));
    if (hosts == NULL)
        goto out;
    ctx->hosts = hosts;
    ctx->hosts[ctx->nhosts++] = h;
    h.name = NULL;
    h.wctx = NULL;
    rc = 0;
out:
    tls_err_clear();
    if (h.wctx != NULL)
        wolfSSL_CTX_free(h.wctx);
    free(h.name);
    return rc;
}

void cv_tls_ctx_free(cv_tls_ctx_t *ctx)
{
    size_t i;

    if (ctx == NULL)
        return;
    for (i = 0; i < ctx->nhosts; i++) {
        wolfSSL_CTX_free(ctx->hosts[i].wctx);
        free(ctx->hosts[i].name);
    }
    free(ctx->hosts);
    if (ctx->wolfssl_inited)
        wolfSSL_Cleanup();
    free(ctx);
}

void cv_tls_thread_cleanup(void)
{
#ifdef FP_ECC
    wc_ecc_fp_free();
#endif
}

int cv_tls_conn_create(cv_tls_conn_t **out, cv_tls_ctx_t *ctx)
{
    cv_tls_conn_t *c;

    *out = NULL;
    if (ctx == NULL || ctx->nhosts == 0)
        return CV_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CV_ENOMEM;
    c->ctx = ctx;
    c->ssl = wolfSSL_new(ctx->hosts[0].wctx);
    if (c->ssl == NULL) {
        free(c);
        return CV_ENOMEM;
    }
    wolfSSL_KeepArrays(c->ssl);
    wolfSSL_SetIOReadCtx(c->ssl, c);
    wolfSSL_SetIOWriteCtx(c->ssl, c);
    c->host_chosen = ctx->nhosts == 1;
    *out = c;
    return 0;
}

/*
 * With several hosts, a session must use the context of the host the client names (SNI):
 * the certificate, its key and so the cipher suites come from it. wolfSSL 5.5.4 calls back
 * during ClientHello parsing only in its OpenSSL compatibility layer, which the bundled
 * build leaves out, so the first record is held back (in in_copy, untouched by wolfSSL)
 * until it is whole, wolfSSL's own SNI parser reads the name from it, and the session is
 * made anew from the right context before wolfSSL sees any byte. Anything that is not a
 * whole handshake record of legal size (a ClientHello split over records, noise) keeps
 * the default host and is left to wolfSSL to judge. An unknown name also keeps the default
 * host: XMPP clients check the certificate against the domain they asked for and report
 * the mismatch themselves. Returns 0 (host_chosen tells whether more bytes are needed)
 * or CV_ENOMEM.
 */
static int tls_choose_host(cv_tls_conn_t *c)
{
    const uint8_t *p = (const uint8_t *)c->in_copy.data;
    size_t n = c->in_copy.len;
    size_t rec;
    unsigned char name[256];
    unsigned int name_len = sizeof(name) - 1;
    WOLFSSL *ssl;
    size_t i;

    if (n == 0)
        return 0;
    if (p[0] != TLS_HANDSHAKE)
        goto keep;
    if (n < TLS_RECORD_HDR)
        return 0;
    rec = (size_t)p[3] << 8 | p[4];
    if (p[1] != 3 || rec > TLS_RECORD_MAX)
        goto keep;
    if (n < TLS_RECORD_HDR + rec)
        return 0;
    if (wolfSSL_SNI_GetFromBuffer(p, (unsigned int)(TLS_RECORD_HDR + rec), WOLFSSL_SNI_HOST_NAME,
                                  name, &name_len) != WOLFSSL_SUCCESS)
        goto keep;
    name[name_len] = '\0';
    for (i = 1; i < c->ctx->nhosts; i++) {
        if (strlen(c->ctx->hosts[i].name) != name_len ||
            strcasecmp((const char *)name, c->ctx->hosts[i].name) != 0)
            continue;
        ssl = wolfSSL_new(c->ctx->hosts[i].wctx);
        if (ssl == NULL) {
            c->state = CV_ENOMEM;
            return c->state;
        }
        wolfSSL_KeepArrays(ssl);
        wolfSSL_SetIOReadCtx(ssl, c);
        wolfSSL_SetIOWriteCtx(ssl, c);
        wolfSSL_free(c->ssl);
        c->ssl = ssl;
        break;
    }
keep:
    tls_err_clear();
    c->host_chosen = 1;
    return 0;
}

/* Makes a failure sticky, drops pending input and clears wolfSSL's per-thread error queue. */
static int tls_fail(cv_tls_conn_t *c, const char *during, int err)
{
    char why[128];

    if (c->out_nomem) {
        c->state = CV_ENOMEM;
    } else {
        c->state = CV_ETLS;
        if (cv_log_enabled(CV_LOG_DEBUG)) {
            tls_errstr(err, why, sizeof(why));
            cv_debug("tls: %s failed: %s (%d)", during, why, err);
        }
    }
    cv_buf_free(&c->in_copy);
    c->in_off = 0;
    c->in_ptr = NULL;
    c->in_len = 0;
    tls_err_clear();
    return c->state;
}

/*
 * The handshake arrays (about 5.5 KB: secrets, randoms, a 2 KB pre-master buffer) are kept
 * to the end of the handshake (wolfSSL_KeepArrays() at session creation) because the
 * keying-material exporter reads them and refuses without them; Debian's build would keep
 * them for the whole session anyway (post-handshake authentication, further tickets),
 * which a session of ours never uses. The tls-exporter binding (fixed label and no
 * context, hence fixed for the session) is derived here and kept instead, and the arrays
 * are freed.
 */
static void tls_handshake_release(cv_tls_conn_t *c)
{
    if (wolfSSL_version(c->ssl) == TLS1_3_VERSION) {
        if (wolfSSL_export_keying_material(c->ssl, c->exporter, TLS_EXPORTER_LEN,
                                           TLS_EXPORTER_LABEL, sizeof(TLS_EXPORTER_LABEL) - 1, NULL,
                                           0, 0) == WOLFSSL_SUCCESS)
            c->exporter_ok = 1;
        else
            tls_err_clear();
    }
    wolfSSL_FreeArrays(c->ssl);
}

#if defined(NO_SESSION_CACHE_REF) && defined(SESSION_CERTS)
static int tls_page_is_zero(const unsigned char *p, size_t len)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    uint64_t acc = 0;
    size_t i;

    for (i = 0; i < len / sizeof(*w); i++)
        acc |= w[i];
    return acc == 0;
}

/*
 * Returns to the kernel the pages lying wholly inside [p, p + len) that hold only zero
 * bytes. The memory stays allocated and still reads as zeros: MADV_DONTNEED on private
 * anonymous memory, which every malloc maps, refills a page with zeros when it is next
 * touched. Errors are ignored, since the memory is then merely left resident.
 */
static void tls_drop_zero_pages(void *p, size_t len)
{
    long psz = sysconf(_SC_PAGESIZE);
    uintptr_t pg = psz > 0 ? (uintptr_t)psz : 4096;
    uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1);
    uintptr_t end = ((uintptr_t)p + len) & ~(pg - 1);
    uintptr_t run = 0;

    for (; a < end; a += pg) {
        if (tls_page_is_zero((const unsigned char *)a, pg)) {
            if (run == 0)
                run = a;
            continue;
        }
        if (run != 0)
            (void)madvise((void *)run, a - run, MADV_DONTNEED);
        run = 0;
    }
    if (run != 0)
        (void)madvise((void *)run, end - run, MADV_DONTNEED);
}

/*
 * Debian's build only (the bundled one has no SESSION_CERTS, and its session object is
 * about 1 KB): every WOLFSSL carries a 37.5 KB WOLFSSL_SESSION, almost all of it
 * (SESSION_CERTS) room for a peer certificate chain that a server asking for no client
 * certificate never fills; wolfSSL zeroes it when the session is created, so it is
 * resident. Only its first and last pages hold data. The object is a plain malloc block
 * (wolfSSL_get_session() returns the session object itself in this build,
 * NO_SESSION_CACHE_REF), so malloc_usable_size() bounds it, as long as wolfSSL allocates
 * with malloc, i.e. no allocators were installed with wolfSSL_SetAllocators().
 */
static void tls_session_page_out(cv_tls_conn_t *c)
{
    wolfSSL_Malloc_cb mf = NULL;
    wolfSSL_Free_cb ff = NULL;
    wolfSSL_Realloc_cb rf = NULL;
    WOLFSSL_SESSION *s;

    c->session_paged = 1;
    if (wolfSSL_GetAllocators(&mf, &ff, &rf) != 0 || mf != NULL || ff != NULL || rf != NULL)
        return;
    s = wolfSSL_get_session(c->ssl);
    if (s != NULL)
        tls_drop_zero_pages(s, malloc_usable_size(s));
}
#else
static void tls_session_page_out(cv_tls_conn_t *c)
{
    c->session_paged = 1;
}
#endif

/* Runs the handshake, then decrypts into c->plain, until wolfSSL wants more input. */
static int tls_pump(cv_tls_conn_t *c)
{
    int ret;
    int err;
    size_t room;

    if (c->state != 0)
        return c->state;
    if (!c->host_chosen)
        return 0; /* the ClientHello is still incomplete: nothing for wolfSSL yet */
    if (!c->hs_done) {
        ret = wolfSSL_accept(c->ssl);
        if (ret != WOLFSSL_SUCCESS) {
            err = wolfSSL_get_error(c->ssl, ret);
            if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
                return c->out_nomem ? tls_fail(c, "handshake", err) : 0;
            return tls_fail(c, "handshake", err);
        }
        c->hs_done = 1;
        tls_handshake_release(c);
    }
    for (;;) {
        if (cv_buf_reserve(&c->plain, TLS_READ_CHUNK) < 0) {
            c->state = CV_ENOMEM;
            return c->state;
        }
        /* cv_buf keeps one byte for its terminating NUL. */
        room = c->plain.cap - c->plain.len - 1;
        if (room > INT_MAX)
            room = INT_MAX;
        ret = wolfSSL_read(c->ssl, c->plain.data + c->plain.len, (int)room);
        if (ret > 0) {
            c->plain.len += (size_t)ret;
            c->plain.data[c->plain.len] = '\0';
            continue;
        }
        err = wolfSSL_get_error(c->ssl, ret);
        if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
            return c->out_nomem ? tls_fail(c, "read", err) : 0;
        if (err == WOLFSSL_ERROR_ZERO_RETURN) {
            c->state = CV_ECLOSED;
            c->in_ptr = NULL;
            c->in_len = 0;
            cv_buf_free(&c->in_copy);
            c->in_off = 0;
            tls_err_clear();
            return c->state;
        }
        return tls_fail(c, "read", err);
    }
}

int cv_tls_conn_feed(cv_tls_conn_t *c, const uint8_t *data, size_t len)
{
    int rc;

    if (c->state == CV_ETLS || c->state == CV_ENOMEM)
        return c->state;
    if (c->state == CV_ECLOSED || len == 0)
        return 0;
    if (!c->host_chosen || c->in_off < c->in_copy.len) {
        /* Older bytes are still queued: keep the order by queueing these behind them. */
        if (cv_buf_append(&c->in_copy, data, len) < 0) {
            c->state = CV_ENOMEM;
            return c->state;
        }
    } else {
        c->in_ptr = data;
        c->in_len = len;
    }
    if (!c->host_chosen) {
        rc = tls_choose_host(c);
        if (rc < 0 || !c->host_chosen)
            return rc;
    }
    rc = tls_pump(c);
    if (c->in_len > 0) {
        /* Only reached if wolfSSL stopped early without an error; keep the rest. */
        if (rc == 0 && cv_buf_append(&c->in_copy, c->in_ptr, c->in_len) < 0)
            rc = c->state = CV_ENOMEM;
        c->in_ptr = NULL;
        c->in_len = 0;
    }
    return rc == CV_ECLOSED ? 0 : rc;
}

int cv_tls_conn_read(cv_tls_conn_t *c, cv_buf_t *plain_out)
{
    cv_buf_t tmp;
    int rc;

    rc = tls_pump(c);
    if (rc == CV_ETLS || rc == CV_ENOMEM) {
        /* Plaintext of a failed stream is not delivered: the stream is torn down anyway. */
        cv_buf_clear(&c->plain);
        return rc;
    }
    if (c->plain.len == 0)
        return rc;
    if (plain_out->len == 0) {
        tmp = *plain_out;
        *plain_out = c->plain;
        c->plain = tmp;
        cv_buf_clear(&c->plain);
    } else {
        if (cv_buf_append(plain_out, c->plain.data, c->plain.len) < 0)
            return CV_ENOMEM;
        cv_buf_clear(&c->plain);
    }
    /* Plaintext that preceded close_notify is delivered first; CV_ECLOSED comes next call. */
    return 0;
}

int cv_tls_conn_handshake_done(const cv_tls_conn_t *c)
{
    return c->hs_done;
}

int cv_tls_conn_write(cv_tls_conn_t *c, const void *data, size_t len)
{
    const char *p = data;
    size_t chunk;
    int ret;

    if (c->state == CV_ETLS || c->state == CV_ENOMEM)
        return c->state;
    if (c->shut || c->state == CV_ECLOSED)
        return CV_ECLOSED;
    if (!c->hs_done)
        return CV_AGAIN;
    while (len > 0) {
        chunk = len < TLS_WRITE_MAX ? len : TLS_WRITE_MAX;
        ret = wolfSSL_write(c->ssl, p, (int)chunk);
        if (ret <= 0)
            return tls_fail(c, "write", wolfSSL_get_error(c->ssl, ret));
        p += ret;
        len -= (size_t)ret;
    }
    return 0;
}

cv_buf_t *cv_tls_conn_cipher_out(cv_tls_conn_t *c)
{
    return &c->out;
}

int cv_tls_conn_take_cipher_out(cv_tls_conn_t *c, cv_buf_t *out)
{
    cv_buf_t tmp;

    if (out->len == 0) {
        tmp = *out;
        *out = c->out;
        c->out = tmp;
        cv_buf_clear(&c->out);
        return 0;
    }
    if (cv_buf_append(out, c->out.data, c->out.len) < 0)
        return CV_ENOMEM;
    cv_buf_clear(&c->out);
    return 0;
}

int cv_tls_conn_shutdown(cv_tls_conn_t *c)
{
    int ret;
    int err;

    if (c->state == CV_ETLS || c->state == CV_ENOMEM)
        return c->state;
    if (c->shut)
        return 0;
    c->shut = 1;
    ret = wolfSSL_shutdown(c->ssl);
    if (ret == WOLFSSL_SUCCESS || ret == WOLFSSL_SHUTDOWN_NOT_DONE)
        return 0;
    err = wolfSSL_get_error(c->ssl, ret);
    if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
        return 0;
    return tls_fail(c, "shutdown", err);
}

int cv_tls_conn_channel_binding(cv_tls_conn_t *c, const char *type, uint8_t *out, size_t cap,
                                size_t *len)
{
    WOLFSSL_CTX *w;
    size_t i;

    *len = 0;
    if (!c->hs_done)
        return CV_AGAIN;
    if (strcmp(type, "tls-exporter") == 0) {
        if (wolfSSL_version(c->ssl) != TLS1_3_VERSION)
            return CV_EUNSUPP;
        if (cap < TLS_EXPORTER_LEN)
            return CV_ELIMIT;
        if (!c->exporter_ok)
            return CV_ETLS;
        memcpy(out, c->exporter, TLS_EXPORTER_LEN);
        *len = TLS_EXPORTER_LEN;
        return 0;
    }
    if (strcmp(type, "tls-server-end-point") == 0) {
        w = wolfSSL_get_SSL_CTX(c->ssl);
        for (i = 0; i < c->ctx->nhosts; i++) {
            if (c->ctx->hosts[i].wctx != w)
                continue;
            if (c->ctx->hosts[i].endpoint_len == 0)
                return CV_EUNSUPP;
            if (cap < c->ctx->hosts[i].endpoint_len)
                return CV_ELIMIT;
            memcpy(out, c->ctx->hosts[i].endpoint, c->ctx->hosts[i].endpoint_len);
            *len = c->ctx->hosts[i].endpoint_len;
            return 0;
        }
        return CV_ETLS;
    }
    return CV_EUNSUPP;
}

const char *cv_tls_conn_sni(const cv_tls_conn_t *c)
{
    void *name = NULL;

    /*
     * wolfSSL keeps the name the client sent (WOLFSSL_ALWAYS_KEEP_SNI, in both builds) as a
     * NUL-terminated string; the length returned excludes the NUL.
     */
    if (wolfSSL_SNI_GetRequest(c->ssl, WOLFSSL_SNI_HOST_NAME, &name) == 0 || name == NULL)
        return NULL;
    return ((const char *)name)[0] != '\0' ? name : NULL;
}

const char *cv_tls_conn_version(const cv_tls_conn_t *c)
{
    return c->hs_done ? wolfSSL_get_version(c->ssl) : NULL;
}

int cv_tls_conn_trim(cv_tls_conn_t *c)
{
    /* Once is enough: the zero pages are not written again during the session. */
    if (c->hs_done && !c->session_paged && c->state == 0)
        tls_session_page_out(c);
    if (c->in_off >= c->in_copy.len) {
        cv_buf_free(&c->in_copy);
        c->in_off = 0;
    }
    if (c->plain.len == 0)
        cv_buf_free(&c->plain);
    if (c->out.len == 0)
        cv_buf_free(&c->out);
    return 0;
}

void cv_tls_conn_free(cv_tls_conn_t *c)
{
    if (c == NULL)
        return;
    wolfSSL_free(c->ssl);
    cv_buf_free(&c->in_copy);
    cv_buf_free(&c->plain);
    cv_buf_free(&c->out);
    free(c);
}
