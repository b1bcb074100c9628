/*
 * bench/scram_client.h — the client side of SASL SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802,
 * RFC 7677) without channel binding ("n,,"), and a cache of salted passwords.
 *
 * Owns: per exchange, the client-first-message-bare and the expected server signature;
 * per cache, a hash table of SaltedPassword values keyed by (hash, password, salt,
 * iterations). A load generator logs the same accounts in again and again; without the
 * cache every login would cost it one PBKDF2 (4096 rounds or more), and the client, not
 * the server, would bound the login rate. The server still does its full work.
 *
 * Threads: an exchange and a cache belong to one thread (each load-generator thread has
 * its own cache for the accounts it owns); nothing is shared.
 */
#ifndef CV_BENCH_SCRAM_CLIENT_H
#define CV_BENCH_SCRAM_CLIENT_H

#include "corvid/buf.h"

typedef struct cv_bench_scram_entry_s cv_bench_scram_entry_t;

typedef struct cv_bench_scram_cache_s {
    cv_bench_scram_entry_t *slots; /* open addressing, power-of-two size */
    size_t cap, used;
    size_t max_entries; /* beyond this nothing more is cached */
    uint64_t hits, misses;
} cv_bench_scram_cache_t;

typedef struct cv_bench_scram_s {
    int sha256; /* 1: SCRAM-SHA-256, 0: SCRAM-SHA-1 */
    char user[128];
    char cnonce[48];
    cv_buf_t first_bare; /* client-first-message-bare */
    uint8_t server_sig[32];
    int have_sig;
} cv_bench_scram_t;

/* Thread: owner. An empty cache holding at most max_entries values. */
void cv_bench_scram_cache_init(cv_bench_scram_cache_t *c, size_t max_entries);
/* Thread: owner. */
void cv_bench_scram_cache_free(cv_bench_scram_cache_t *c);

/* Thread: owner. Starts an exchange: appends the client-first-message ("n,,n=USER,r=NONCE",
   not base64) to out. user is escaped as RFC 5802 §5.1 asks; cnonce must be printable
   ASCII without ','. Returns 0, -CV_EINVAL or -CV_ENOMEM. */
int cv_bench_scram_first(cv_bench_scram_t *s, int sha256, const char *user, const char *cnonce,
                         cv_buf_t *out);
/* Thread: owner. Takes the server-first-message (decoded) and appends the
   client-final-message to out. cache may be NULL. Returns 0, -CV_EPROTO (malformed
   message, nonce not extending ours, iteration count out of 1..10000000), -CV_EUNSUPP
   (crypto failure) or -CV_ENOMEM. */
int cv_bench_scram_final(cv_bench_scram_t *s, const char *password, const char *msg, size_t len,
                         cv_bench_scram_cache_t *cache, cv_buf_t *out);
/* Thread: owner. Checks the server-final-message (decoded): 0 when v= matches, -CV_EAUTH
   when it does not or when the server sent e=, -CV_EPROTO when malformed. */
int cv_bench_scram_verify(cv_bench_scram_t *s, const char *msg, size_t len);
/* Thread: owner. Frees what the exchange holds; the struct can start again. */
void cv_bench_scram_clear(cv_bench_scram_t *s);

#endif
