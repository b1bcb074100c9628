/*
 * storage/store_int.h — the backend vtable behind corvid/store.h.
 *
 * store.c validates every argument (non-NULL, non-empty names, blob bounds) once, then
 * calls the backend through cv__store_ops_t, so a backend can trust its arguments and
 * only has to translate its own errors into CV_E* codes. The threading contract of
 * corvid/store.h applies to every backend function: open and close from the main
 * thread; all others from any thread concurrently.
 *
 * A backend handle embeds struct cv_store_s as its first member and casts back.
 */
#ifndef CORVID_STORAGE_STORE_INT_H
#define CORVID_STORAGE_STORE_INT_H

#include "corvid/store.h"

typedef struct cv__store_ops_s {
    const char *name; /* what cv_store_opts_t.backend selects */
    /* Returns 0 with *out set, or a CV_E* code with the reason logged. */
    int (*open)(cv_store_t **out, const cv_store_opts_t *opts);
    void (*close)(cv_store_t *st);

    int (*account_create)(cv_store_t *st, const char *host, const char *user, const void *cred,
                          size_t len);
    int (*account_set_cred)(cv_store_t *st, const char *host, const char *user, const void *cred,
                            size_t len);
    int (*account_get)(cv_store_t *st, const char *host, const char *user, void *buf, size_t cap,
                       size_t *len);
    int (*account_exists)(cv_store_t *st, const char *host, const char *user);
    int (*account_delete)(cv_store_t *st, const char *host, const char *user);
    int (*account_list)(cv_store_t *st, const char *host, int (*cb)(void *ctx, const char *user),
                        void *ctx);
    int (*account_count)(cv_store_t *st, const char *host, size_t *count);
} cv__store_ops_t;

struct cv_store_s {
    const cv__store_ops_t *ops; /* set by the backend's open, never changed */
};

extern const cv__store_ops_t cv__store_lmdb_ops;

#endif
