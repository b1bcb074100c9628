/*
 * corvid/scram.h — SCRAM credentials (RFC 5802, RFC 7677): derivation, verification of a
 * plaintext password against them, and a versioned binary form for storage.
 *
 * Owns nothing at run time: a cv_scram_cred_t is a plain value owned by whoever holds it.
 * Every function is callable from any thread. Plaintext passwords are never stored or
 * logged; password-derived temporaries are wiped before the functions return. A credential
 * holds the salted keys for both SCRAM-SHA-1 and SCRAM-SHA-256 (one salt, one iteration
 * count), so one stored record serves both mechanisms and PLAIN.
 */
#ifndef CORVID_SCRAM_H
#define CORVID_SCRAM_H

#include "corvid/buf.h"

typedef enum { CV_SCRAM_SHA1 = 0, CV_SCRAM_SHA256 = 1 } cv_scram_hash_t;

/* Iteration count for new credentials (RFC 7677 §4 asks for at least 4096). */
#define CV_SCRAM_DEFAULT_ITERATIONS 4096u
/* Upper bound accepted anywhere, so a damaged record cannot stall a worker for minutes. */
#define CV_SCRAM_MAX_ITERATIONS 10000000u
/* Length of the salt generated when the caller does not give one. */
#define CV_SCRAM_DEFAULT_SALT_LEN 16u
#define CV_SCRAM_MAX_SALT_LEN 32u

typedef struct cv_scram_keys_s {
    uint8_t stored_key[32]; /* H(ClientKey); SHA-1 uses the first 20 bytes */
    uint8_t server_key[32]; /* HMAC(SaltedPassword, "Server Key") */
} cv_scram_keys_t;

typedef struct cv_scram_cred_s {
    uint32_t iterations;
    uint8_t salt[CV_SCRAM_MAX_SALT_LEN];
    size_t salt_len;
    cv_scram_keys_t keys[2]; /* indexed by cv_scram_hash_t */
} cv_scram_cred_t;

/* Digest length of a hash family: 20 or 32. */
size_t cv_scram_hash_len(cv_scram_hash_t h);

/* Thread: any. Derives both hash families from password (NUL-terminated UTF-8, prepared
   here with SASLprep, RFC 4013, as a stored string: unassigned code points are refused).
   salt NULL means CV_SCRAM_DEFAULT_SALT_LEN random bytes; otherwise 1..32 bytes.
   iterations 1..CV_SCRAM_MAX_ITERATIONS. Returns 0, CV_EINVAL (password fails SASLprep or
   is empty after it, bad salt or iteration count) or CV_EUNSUPP (crypto failure); *out is
   zeroed on error. */
int cv_scram_cred_derive(cv_scram_cred_t *out, const char *password, uint32_t iterations,
                         const uint8_t *salt, size_t salt_len);

/* Thread: any. For PLAIN and legacy authentication: derives the SHA-256 keys from password
   (SASLprepped as a query) with c's salt and iteration count and compares in constant time.
   Returns 0 if they match, CV_EAUTH otherwise (including a password SASLprep rejects or
   a malformed credential). Costs one PBKDF2 of c->iterations rounds. */
int cv_scram_cred_verify_password(const cv_scram_cred_t *c, const char *password);

/* Thread: any. Appends the storage form of c to out (format version 1:
   "SC" 0x01, iterations u32 big-endian, salt length u8, salt, SHA-1 StoredKey and
   ServerKey (20 bytes each), SHA-256 StoredKey and ServerKey (32 bytes each)).
   Returns 0, CV_EINVAL (c out of range) or CV_ENOMEM; out is unchanged on error. */
int cv_scram_cred_encode(const cv_scram_cred_t *c, cv_buf_t *out);

/* Thread: any. Parses a blob written by cv_scram_cred_encode. Returns 0 or CV_EINVAL
   (wrong magic, unknown version, wrong length, iterations or salt length out of range);
   *c is zeroed on error. */
int cv_scram_cred_decode(cv_scram_cred_t *c, const void *data, size_t len);

#endif
