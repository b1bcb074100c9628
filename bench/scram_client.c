/*
 * SCRAM client (RFC 5802 §3, §5): proof computation with wolfCrypt, and the cache of
 * salted passwords that keeps PBKDF2 off the load generator's hot path.
 */
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/pwdbased.h>
#include <wolfssl/wolfcrypt/sha.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "corvid/base64.h"
#include "scram_client.h"

#define SCRAM_MAX_ITER 10000000u
#define SCRAM_MAX_SALT 128u

struct cv_bench_scram_entry_s {
    uint64_t hash; /* 0: empty slot */
    uint32_t iterations;
    uint8_t sha256;
    uint8_t salt_len;
    uint8_t password_len;
    uint8_t salt[SCRAM_MAX_SALT];
    char password[128];
    uint8_t salted[32];
};

void cv_bench_scram_cache_init(cv_bench_scram_cache_t *c, size_t max_entries)
{
    memset(c, 0, sizeof *c);
    c->max_entries = max_entries;
}

void cv_bench_scram_cache_free(cv_bench_scram_cache_t *c)
{
    free(c->slots);
    memset(c, 0, sizeof *c);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t entry_hash(int sha256, const char *password, size_t plen, const uint8_t *salt,
                           size_t slen, uint32_t iter)
{
    uint64_t h = 14695981039346656037ull;
    uint8_t t = (uint8_t)sha256;
    h = fnv(h, &t, 1);
    h = fnv(h, password, plen);
    h = fnv(h, salt, slen);
    h = fnv(h, &iter, sizeof iter);
    return h ? h : 1;
}

static int entry_match(const cv_bench_scram_entry_t *e, uint64_t h, int sha256,
                       const char *password, size_t plen, const uint8_t *salt, size_t slen,
                       uint32_t iter)
{
    return e->hash == h && e->sha256 == sha256 && e->iterations == iter &&
           e->password_len == plen && e->salt_len == slen &&
           memcmp(e->password, password, plen) == 0 && memcmp(e->salt, salt, slen) == 0;
}

static cv_bench_scram_entry_t *cache_find(cv_bench_scram_cache_t *c, uint64_t h, int sha256,
                                          const char *password, size_t plen, const uint8_t *salt,
                                          size_t slen, uint32_t iter)
{
    if (!c->slots)
        return NULL;
    for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        cv_bench_scram_entry_t *e = &c->slots[i];
        if (e->hash == 0)
            return NULL;
        if (entry_match(e, h, sha256, password, plen, salt, slen, iter))
            return e;
    }
}

static void cache_put(cv_bench_scram_cache_t *c, const cv_bench_scram_entry_t *ne)
{
    if (c->used >= c->max_entries || ne->password_len >= sizeof ne->password ||
        ne->salt_len > SCRAM_MAX_SALT)
        return;
    if ((c->used + 1) * 2 > c->cap) {
        /* Kept at most half full so probes stay short; a failed growth only skips caching. */
        size_t ncap = c->cap ? c->cap * 2 : 256;
        cv_bench_scram_entry_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return;
        for (size_t i = 0; i < c->cap; i++) {
            if (c->slots[i].hash == 0)
                continue;
            size_t j = c->slots[i].hash & (ncap - 1);
            while (ns[j].hash)
                j = (j + 1) & (ncap - 1);
            ns[j] = c->slots[i];
        }
        free(c->slots);
        c->slots = ns;
        c->cap = ncap;
    }
    size_t j = ne->hash & (c->cap - 1);
    while (c->slots[j].hash)
        j = (j + 1) & (c->cap - 1);
    c->slots[j] = *ne;
    c->used++;
}

static int hmac(int sha256, const uint8_t *key, size_t klen, const void *data, size_t len,
                uint8_t *out)
{
    Hmac h;
    int rc = CV_EUNSUPP;
    if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
        return rc;
    if (wc_HmacSetKey(&h, sha256 ? WC_SHA256 : WC_SHA, key, (word32)klen) == 0 &&
        wc_HmacUpdate(&h, data, (word32)len) == 0 && wc_HmacFinal(&h, out) == 0)
        rc = 0;
    wc_HmacFree(&h);
    return rc;
}

static int hash(int sha256, const uint8_t *data, size_t len, uint8_t *out)
{
    int r = sha256 ? wc_Sha256Hash(data, (word32)len, out) : wc_ShaHash(data, (word32)len, out);
    return r == 0 ? 0 : CV_EUNSUPP;
}

void cv_bench_scram_clear(cv_bench_scram_t *s)
{
    cv_buf_free(&s->first_bare);
    memset(s, 0, sizeof *s);
}

int cv_bench_scram_first(cv_bench_scram_t *s, int sha256, const char *user, const char *cnonce,
                         cv_buf_t *out)
{
    size_t nlen = strlen(cnonce);
    int rc = 0;

    cv_bench_scram_clear(s);
    if (strlen(user) >= sizeof s->user || nlen == 0 || nlen >= sizeof s->cnonce)
        return CV_EINVAL;
    for (size_t i = 0; i < nlen; i++)
        if (cnonce[i] < 0x21 || cnonce[i] > 0x7e || cnonce[i] == ',')
            return CV_EINVAL;
    s->sha256 = sha256;
    snprintf(s->user, sizeof s->user, "%s", user);
    memcpy(s->cnonce, cnonce, nlen + 1);
    rc = cv_buf_append_str(&s->first_bare, "n=");
    for (const char *p = user; rc == 0 && *p; p++) {
        if (*p == ',')
            rc = cv_buf_append_str(&s->first_bare, "=2C");
        else if (*p == '=')
            rc = cv_buf_append_str(&s->first_bare, "=3D");
        else
            rc = cv_buf_append(&s->first_bare, p, 1);
    }
    if (rc == 0)
        rc = cv_buf_printf(&s->first_bare, ",r=%s", cnonce);
    if (rc == 0)
        rc = cv_buf_printf(out, "n,,%s", s->first_bare.data);
    return rc;
}

/* Finds "k=" at the start of an attribute of msg; sets *v, *vlen to its value. */
static int scram_attr(const char *msg, size_t len, char k, const char **v, size_t *vlen)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && msg[end] != ',')
            end++;
        if (end - i >= 2 && msg[i] == k && msg[i + 1] == '=') {
            *v = msg + i + 2;
            *vlen = end - i - 2;
            return 0;
        }
        i = end + 1;
    }
    return CV_EPROTO;
}

int cv_bench_scram_final(cv_bench_scram_t *s, const char *password, const char *msg, size_t len,
                         cv_bench_scram_cache_t *cache, cv_buf_t *out)
{
    const char *nonce, *salt64, *iter_s;
    size_t nonce_len, salt64_len, iter_len;
    size_t hl = s->sha256 ? 32 : 20;
    uint8_t salted[32], ckey[32], skey[32], stored[32], csig[32], proof[32];
    cv_buf_t salt = CV_BUF_INIT, auth = CV_BUF_INIT, final_wo = CV_BUF_INIT;
    size_t cnlen = strlen(s->cnonce);
    uint32_t iter = 0;
    int rc;

    if (memchr(msg, '\0', len) || len < 2 || msg[0] != 'r' || msg[1] != '=') {
        rc = CV_EPROTO; /* the nonce must come first (RFC 5802 §5.1: no extensions before) */
        goto out;
    }
    rc = scram_attr(msg, len, 'r', &nonce, &nonce_len);
    if (rc == 0)
        rc = scram_attr(msg, len, 's', &salt64, &salt64_len);
    if (rc == 0)
        rc = scram_attr(msg, len, 'i', &iter_s, &iter_len);
    if (rc < 0)
        goto out;
    if (nonce_len <= cnlen || memcmp(nonce, s->cnonce, cnlen) != 0 || iter_len == 0 ||
        iter_len > 8) {
        rc = CV_EPROTO;
        goto out;
    }
    for (size_t i = 0; i < nonce_len; i++) {
        if (nonce[i] < 0x21 || nonce[i] > 0x7e) {
            rc = CV_EPROTO;
            goto out;
        }
    }
    for (size_t i = 0; i < iter_len; i++) {
        if (iter_s[i] < '0' || iter_s[i] > '9') {
            rc = CV_EPROTO;
            goto out;
        }
        iter = iter * 10u + (uint32_t)(iter_s[i] - '0');
    }
    if (iter == 0 || iter > SCRAM_MAX_ITER) {
        rc = CV_EPROTO;
        goto out;
    }
    if (cv_base64_decode(salt64, salt64_len, &salt) < 0 || salt.len == 0) {
        rc = CV_EPROTO;
        goto out;
    }

    /* SaltedPassword depends on the password, the salt and the count, not on the user:
       accounts that share a password and a salt share the entry. */
    size_t ulen = strlen(password);
    uint64_t h = entry_hash(s->sha256, password, ulen, (const uint8_t *)salt.data, salt.len, iter);
    cv_bench_scram_entry_t *e = cache ? cache_find(cache, h, s->sha256, password, ulen,
                                                   (const uint8_t *)salt.data, salt.len, iter)
                                      : NULL;
    if (e) {
        memcpy(salted, e->salted, hl);
        cache->hits++;
    } else {
        if (wc_PBKDF2(salted, (const byte *)password, (int)strlen(password),
                      (const byte *)salt.data, (int)salt.len, (int)iter, (int)hl,
                      s->sha256 ? WC_SHA256 : WC_SHA) != 0) {
            rc = CV_EUNSUPP;
            goto out;
        }
        if (cache) {
            cv_bench_scram_entry_t ne;
            memset(&ne, 0, sizeof ne);
            ne.hash = h;
            ne.iterations = iter;
            ne.sha256 = (uint8_t)s->sha256;
            ne.salt_len = (uint8_t)(salt.len <= SCRAM_MAX_SALT ? salt.len : 0);
            ne.password_len = (uint8_t)(ulen < sizeof ne.password ? ulen : 0);
            if (ne.salt_len == salt.len && ne.password_len == ulen) {
                memcpy(ne.salt, salt.data, salt.len);
                memcpy(ne.password, password, ulen);
                memcpy(ne.salted, salted, hl);
                cache_put(cache, &ne);
            }
            cache->misses++;
        }
    }

    rc = cv_buf_append_str(&final_wo, "c=biws,r=");
    if (rc == 0)
        rc = cv_buf_append(&final_wo, nonce, nonce_len);
    if (rc == 0)
        rc = cv_buf_printf(&auth, "%s,", s->first_bare.data);
    if (rc == 0)
        rc = cv_buf_append(&auth, msg, len);
    if (rc == 0)
        rc = cv_buf_printf(&auth, ",%s", final_wo.data);
    if (rc < 0)
        goto out;
    if ((rc = hmac(s->sha256, salted, hl, "Client Key", 10, ckey)) < 0 ||
        (rc = hash(s->sha256, ckey, hl, stored)) < 0 ||
        (rc = hmac(s->sha256, stored, hl, auth.data, auth.len, csig)) < 0 ||
        (rc = hmac(s->sha256, salted, hl, "Server Key", 10, skey)) < 0 ||
        (rc = hmac(s->sha256, skey, hl, auth.data, auth.len, s->server_sig)) < 0)
        goto out;
    s->have_sig = 1;
    for (size_t i = 0; i < hl; i++)
        proof[i] = ckey[i] ^ csig[i];
    rc = cv_buf_printf(out, "%s,p=", final_wo.data);
    if (rc == 0)
        rc = cv_base64_encode(proof, hl, out);
out:
    memset(salted, 0, sizeof salted);
    memset(ckey, 0, sizeof ckey);
    cv_buf_free(&salt);
    cv_buf_free(&auth);
    cv_buf_free(&final_wo);
    return rc;
}

int cv_bench_scram_verify(cv_bench_scram_t *s, const char *msg, size_t len)
{
    const char *v;
    size_t vlen;
    cv_buf_t sig = CV_BUF_INIT;
    size_t hl = s->sha256 ? 32 : 20;
    int rc;

    if (!s->have_sig)
        return CV_EPROTO;
    if (len >= 2 && msg[0] == 'e' && msg[1] == '=')
        return CV_EAUTH;
    if (len < 2 || msg[0] != 'v' || msg[1] != '=')
        return CV_EPROTO;
    rc = scram_attr(msg, len, 'v', &v, &vlen);
    if (rc == 0 && cv_base64_decode(v, vlen, &sig) < 0)
        rc = CV_EPROTO;
    if (rc == 0 && (sig.len != hl || memcmp(sig.data, s->server_sig, hl) != 0))
        rc = CV_EAUTH;
    cv_buf_free(&sig);
    return rc;
}
