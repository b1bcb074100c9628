/*
 * corvid/store.h — persistent storage: the interface every backend implements.
 *
 * Owns one storage handle per cv_store_open(): the backend's environment (for LMDB, one
 * memory map and its named databases under the data directory) and nothing else. The
 * rest of the server sees only this interface, never backend calls, so a shared backend
 * (PostgreSQL) can replace the embedded one (LMDB) without touching callers.
 *
 * Threads: open and close belong to the main thread (start-up and shut-down). Every
 * other function may be called from any thread at the same time as any other, on the
 * same handle: each call is one self-contained transaction. Readers see a consistent
 * snapshot and never block writers; writers are serialized by the backend. A call
 * returns only once its transaction has finished, and a successful write is durable
 * (on disk) when it returns.
 *
 * Errors: the functions return 0 or a negative CV_E* code (see corvid/core.h; the codes
 * are negative already). A backend failure is logged with the backend's own reason and
 * returned as CV_ESTORE; a full database (LMDB map) is logged and returned as CV_ELIMIT.
 *
 * Keys: host and user are NUL-terminated, non-empty and already normalized by the caller
 * (nodeprep/PRECIS, IDNA); the store compares them as bytes. A backend may bound the
 * combined length (LMDB: host + user <= CV_STORE_LMDB_KEY_MAX bytes): creating a longer
 * account returns CV_ELIMIT, and looking one up returns CV_ENOTFOUND since it cannot
 * exist.
 */
#ifndef CORVID_STORE_H
#define CORVID_STORE_H

#include <stddef.h>

#include "corvid/core.h"

/* Largest credential blob an account may hold (SCRAM records are about 200 bytes). */
#define CV_STORE_CRED_MAX 4096
/* Largest strlen(host) + strlen(user) the LMDB backend accepts (its 511-byte key bound
 * minus the separator). */
#define CV_STORE_LMDB_KEY_MAX 510

typedef struct cv_store_s cv_store_t;

typedef struct cv_store_opts_s {
    const char *backend; /* "lmdb"; NULL means "lmdb" */
    const char *dir;     /* data directory; created with mode 0700 if missing */
    /* LMDB map size in bytes: the most the database may ever hold. 0 keeps the size of
     * an existing database (LMDB's default, 1 MiB, for a new one). */
    size_t map_size;
} cv_store_opts_t;

/*
 * Opens (creating if needed) the store described by opts and checks its schema version.
 * Thread: main. On success *out owns the handle; release it with cv_store_close().
 * Returns 0, CV_EINVAL (missing opts or dir), CV_EUNSUPP (unknown backend), CV_ENOMEM,
 * CV_ELIMIT (map_size too small even for the empty databases), or CV_ESTORE with the
 * reason logged (directory not creatable, environment not openable, schema version not
 * this build's).
 * One process must open a given directory only once (LMDB's file locks are per process).
 */
int cv_store_open(cv_store_t **out, const cv_store_opts_t *opts);

/*
 * Closes the store and frees the handle. NULL is accepted.
 * Thread: main, once no other thread uses st. Takes ownership of st.
 */
void cv_store_close(cv_store_t *st);

/*
 * Accounts. The credential is an opaque blob (the SCRAM module encodes it; never a
 * plaintext password) of at most CV_STORE_CRED_MAX bytes; cred may be NULL if len is 0.
 * The store copies it; the caller keeps ownership of its buffers.
 */

/* Thread: any. Returns 0, CV_EEXIST, CV_EINVAL, CV_ELIMIT (blob or key too long, or the
 * database is full), CV_ESTORE. */
int cv_store_account_create(cv_store_t *st, const char *host, const char *user, const void *cred,
                            size_t len);

/* Replaces the credential of an existing account.
 * Thread: any. Returns 0, CV_ENOTFOUND, CV_EINVAL, CV_ELIMIT, CV_ESTORE. */
int cv_store_account_set_cred(cv_store_t *st, const char *host, const char *user, const void *cred,
                              size_t len);

/*
 * Copies the credential into buf (cap bytes) and sets *len to its size. If cap is too
 * small, nothing is copied, *len still gets the size and CV_ELIMIT is returned, so a
 * call with cap 0 (buf may then be NULL) asks for the size.
 * Thread: any. Returns 0, CV_ENOTFOUND, CV_ELIMIT, CV_EINVAL, CV_ESTORE.
 */
int cv_store_account_get(cv_store_t *st, const char *host, const char *user, void *buf, size_t cap,
                         size_t *len);

/* Tells whether the account exists without copying its credential (delivery rules ask
 * this for every stanza to a bare JID that has no session).
 * Thread: any. Returns 0 (exists), CV_ENOTFOUND, CV_EINVAL, CV_ESTORE. */
int cv_store_account_exists(cv_store_t *st, const char *host, const char *user);

/* Thread: any. Returns 0, CV_ENOTFOUND, CV_EINVAL, CV_ELIMIT (database full), CV_ESTORE. */
int cv_store_account_delete(cv_store_t *st, const char *host, const char *user);

/*
 * Calls cb(ctx, user) for each user of host, in byte order of the user names, from one
 * consistent snapshot. user is valid only during the call. cb returning non-zero stops
 * the walk and that value is returned. cb runs while the snapshot is held, so it should
 * be short; it may call the store (reads and writes) but never cv_store_close().
 * Thread: any. Returns 0 (walk complete), cb's non-zero value, CV_EINVAL, CV_ESTORE.
 */
int cv_store_account_list(cv_store_t *st, const char *host, int (*cb)(void *ctx, const char *user),
                          void *ctx);

/* Sets *count to the number of accounts of host (a walk over that host's keys: meant for
 * administration, not for hot paths).
 * Thread: any. Returns 0, CV_EINVAL, CV_ESTORE. */
int cv_store_account_count(cv_store_t *st, const char *host, size_t *count);

#endif
