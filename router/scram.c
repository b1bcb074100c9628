/* SCRAM credential derivation and storage form (RFC 5802 §3, RFC 7677). */
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/pwdbased.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <stringprep.h>

#include "corvid/scram.h"
#include "sasl_int.h"

#define SCRAM_BLOB_MAGIC0 'S'
#define SCRAM_BLOB_MAGIC1 'C'
#define SCRAM_BLOB_VERSION 1
#define SCRAM_BLOB_FIXED (3 + 4 + 1 + 2 * 20 + 2 * 32)

_Static_assert(WC_SHA256_DIGEST_SIZE == 32, "SCRAM-SHA-256 keys are 32 bytes");
_Static_assert(WC_SHA_DIGEST_SIZE == 20, "SCRAM-SHA-1 keys are 20 bytes");

size_t cv_scram_hash_len(cv_scram_hash_t h)
{
    return h == CV_SCRAM_SHA1 ? WC_SHA_DIGEST_SIZE : WC_SHA256_DIGEST_SIZE;
}

static int wc_type(cv_scram_hash_t h)
{
    return h == CV_SCRAM_SHA1 ? WC_SHA : WC_SHA256;
}

void cv__scram_wipe(void *p, size_t len)
{
    if (p && len)
        explicit_bzero(p, len);
}

int cv__scram_ct_compare(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= (uint8_t)(x[i] ^ y[i]);
    return acc != 0;
}

int cv__scram_hmac(cv_scram_hash_t h, const uint8_t *key, size_t key_len, const void *data,
                   size_t len, uint8_t *out)
{
    Hmac hmac;
    int rc = CV_EUNSUPP;
    if (key_len > UINT32_MAX || len > UINT32_MAX)
        return CV_EINVAL;
    if (wc_HmacInit(&hmac, NULL, INVALID_DEVID) != 0)
        return CV_EUNSUPP;
    if (wc_HmacSetKey(&hmac, wc_type(h), key, (word32)key_len) != 0)
        goto out;
    if (wc_HmacUpdate(&hmac, data, (word32)len) != 0)
        goto out;
    if (wc_HmacFinal(&hmac, out) != 0)
        goto out;
    rc = 0;
out:
    wc_HmacFree(&hmac);
    /* The HMAC state holds the padded key, which is password-derived for SCRAM. */
    cv__scram_wipe(&hmac, sizeof(hmac));
    return rc;
}

int cv__scram_hash(cv_scram_hash_t h, const void *data, size_t len, uint8_t *out)
{
    int r;
    if (len > UINT32_MAX)
        return CV_EINVAL;
    if (h == CV_SCRAM_SHA1)
        r = wc_ShaHash(data, (word32)len, out);
    else
        r = wc_Sha256Hash(data, (word32)len, out);
    return r == 0 ? 0 : CV_EUNSUPP;
}

int cv__scram_random(uint8_t *out, size_t len)
{
    WC_RNG rng;
    int rc = CV_EUNSUPP;
    if (len > UINT32_MAX)
        return CV_EINVAL;
    if (wc_InitRng(&rng) != 0)
        return CV_EUNSUPP;
    if (wc_RNG_GenerateBlock(&rng, out, (word32)len) == 0)
        rc = 0;
    wc_FreeRng(&rng);
    return rc;
}

/* Derives StoredKey and ServerKey of one family from an already prepared password. */
static int derive_keys(cv_scram_hash_t h, const char *prepped, size_t plen, const uint8_t *salt,
                       size_t salt_len, uint32_t iterations, cv_scram_keys_t *keys)
{
    uint8_t salted[32], client_key[32];
    size_t hl = cv_scram_hash_len(h);
    int rc = CV_EUNSUPP;
    if (plen > INT32_MAX)
        return CV_EINVAL;
    if (wc_PBKDF2(salted, (const byte *)prepped, (int)plen, salt, (int)salt_len, (int)iterations,
                  (int)hl, wc_type(h)) != 0)
        goto out;
    rc = cv__scram_hmac(h, salted, hl, "Client Key", 10, client_key);
    if (rc < 0)
        goto out;
    rc = cv__scram_hash(h, client_key, hl, keys->stored_key);
    if (rc < 0)
        goto out;
    rc = cv__scram_hmac(h, salted, hl, "Server Key", 10, keys->server_key);
out:
    cv__scram_wipe(salted, sizeof(salted));
    cv__scram_wipe(client_key, sizeof(client_key));
    return rc;
}

/* Applies SASLprep. Returns a malloc'ed string the caller wipes and frees, or NULL. */
static char *saslprep(const char *password, int stored)
{
    char *out = NULL;
    Stringprep_profile_flags flags = stored ? STRINGPREP_NO_UNASSIGNED : 0;
    if (stringprep_profile(password, &out, "SASLprep", flags) != STRINGPREP_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static void free_prepped(char *p)
{
    if (p) {
        cv__scram_wipe(p, strlen(p));
        free(p);
    }
}

int cv_scram_cred_derive(cv_scram_cred_t *out, const char *password, uint32_t iterations,
                         const uint8_t *salt, size_t salt_len)
{
    char *prepped = NULL;
    int rc = CV_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!password || iterations < 1 || iterations > CV_SCRAM_MAX_ITERATIONS)
        goto out;
    if (salt && (salt_len < 1 || salt_len > CV_SCRAM_MAX_SALT_LEN))
        goto out;
    prepped = saslprep(password, 1);
    if (!prepped || prepped[0] == '\0')
        goto out;
    if (salt) {
        memcpy(out->salt, salt, salt_len);
        out->salt_len = salt_len;
    } else {
        rc = cv__scram_random(out->salt, CV_SCRAM_DEFAULT_SALT_LEN);
        if (rc < 0)
            goto out;
        out->salt_len = CV_SCRAM_DEFAULT_SALT_LEN;
    }
    out->iterations = iterations;
    size_t plen = strlen(prepped);
    rc = derive_keys(CV_SCRAM_SHA1, prepped, plen, out->salt, out->salt_len, iterations,
                     &out->keys[CV_SCRAM_SHA1]);
    if (rc < 0)
        goto out;
    rc = derive_keys(CV_SCRAM_SHA256, prepped, plen, out->salt, out->salt_len, iterations,
                     &out->keys[CV_SCRAM_SHA256]);
out:
    free_prepped(prepped);
    if (rc < 0)
        cv__scram_wipe(out, sizeof(*out));
    return rc;
}

int cv_scram_cred_verify_password(const cv_scram_cred_t *c, const char *password)
{
    cv_scram_keys_t keys;
    char *prepped = NULL;
    int rc = CV_EAUTH;
    if (!password || c->iterations < 1 || c->iterations > CV_SCRAM_MAX_ITERATIONS ||
        c->salt_len < 1 || c->salt_len > CV_SCRAM_MAX_SALT_LEN)
        goto out;
    prepped = saslprep(password, 0);
    if (!prepped || prepped[0] == '\0')
        goto out;
    if (derive_keys(CV_SCRAM_SHA256, prepped, strlen(prepped), c->salt, c->salt_len, c->iterations,
                    &keys) < 0)
        goto out;
    if (cv__scram_ct_compare(keys.stored_key, c->keys[CV_SCRAM_SHA256].stored_key, 32) == 0)
        rc = 0;
out:
    free_prepped(prepped);
    cv__scram_wipe(&keys, sizeof(keys));
    return rc;
}

static void put_keys(uint8_t *p, const cv_scram_keys_t *k, size_t hl)
{
    memcpy(p, k->stored_key, hl);
    memcpy(p + hl, k->server_key, hl);
}

int cv_scram_cred_encode(const cv_scram_cred_t *c, cv_buf_t *out)
{
    uint8_t blob[SCRAM_BLOB_FIXED + CV_SCRAM_MAX_SALT_LEN];
    if (c->iterations < 1 || c->iterations > CV_SCRAM_MAX_ITERATIONS || c->salt_len < 1 ||
        c->salt_len > CV_SCRAM_MAX_SALT_LEN)
        return CV_EINVAL;
    uint8_t *p = blob;
    *p++ = SCRAM_BLOB_MAGIC0;
    *p++ = SCRAM_BLOB_MAGIC1;
    *p++ = SCRAM_BLOB_VERSION;
    *p++ = (uint8_t)(c->iterations >> 24);
    *p++ = (uint8_t)(c->iterations >> 16);
    *p++ = (uint8_t)(c->iterations >> 8);
    *p++ = (uint8_t)c->iterations;
    *p++ = (uint8_t)c->salt_len;
    memcpy(p, c->salt, c->salt_len);
    p += c->salt_len;
    put_keys(p, &c->keys[CV_SCRAM_SHA1], 20);
    p += 40;
    put_keys(p, &c->keys[CV_SCRAM_SHA256], 32);
    p += 64;
    int rc = cv_buf_append(out, blob, (size_t)(p - blob));
    cv__scram_wipe(blob, sizeof(blob));
    return rc;
}

int cv_scram_cred_decode(cv_scram_cred_t *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    memset(c, 0, sizeof(*c));
    if (len < SCRAM_BLOB_FIXED || p[0] != SCRAM_BLOB_MAGIC0 || p[1] != SCRAM_BLOB_MAGIC1 ||
        p[2] != SCRAM_BLOB_VERSION)
        return CV_EINVAL;
    uint32_t it = (uint32_t)p[3] << 24 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 8 | p[6];
    size_t salt_len = p[7];
    if (it < 1 || it > CV_SCRAM_MAX_ITERATIONS || salt_len < 1 ||
        salt_len > CV_SCRAM_MAX_SALT_LEN || len != SCRAM_BLOB_FIXED + salt_len)
        return CV_EINVAL;
    p += 8;
    c->iterations = it;
    c->salt_len = salt_len;
    memcpy(c->salt, p, salt_len);
    p += salt_len;
    memcpy(c->keys[CV_SCRAM_SHA1].stored_key, p, 20);
    memcpy(c->keys[CV_SCRAM_SHA1].server_key, p + 20, 20);
    p += 40;
    memcpy(c->keys[CV_SCRAM_SHA256].stored_key, p, 32);
    memcpy(c->keys[CV_SCRAM_SHA256].server_key, p + 32, 32);
    return 0;
}
