/*
 * storage/store.c — argument checks and dispatch to the selected backend.
 */
#include <string.h>

#include "corvid/core.h"
#include "corvid/log.h"
#include "corvid/store.h"
#include "store_int.h"

/* The backends compiled in; read-only. */
static const cv__store_ops_t *const cv_store_backends[] = {
    &cv__store_lmdb_ops,
};

static int store_name_ok(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static int store_cred_ok(const void *cred, size_t len)
{
    if (len > CV_STORE_CRED_MAX)
        return CV_ELIMIT;
    if (cred == NULL && len != 0)
        return CV_EINVAL;
    return 0;
}

int cv_store_open(cv_store_t **out, const cv_store_opts_t *opts)
{
    const cv__store_ops_t *ops = NULL;
    const char *name;

    if (out == NULL || opts == NULL || opts->dir == NULL || opts->dir[0] == '\0')
        return CV_EINVAL;
    *out = NULL;
    name = opts->backend != NULL ? opts->backend : "lmdb";
    for (size_t i = 0; i < CV_ARRAY_LEN(cv_store_backends); i++) {
        if (strcmp(cv_store_backends[i]->name, name) == 0) {
            ops = cv_store_backends[i];
            break;
        }
    }
    if (ops == NULL) {
        cv_error("storage: unknown backend \"%s\"", name);
        return CV_EUNSUPP;
    }
    return ops->open(out, opts);
}

void cv_store_close(cv_store_t *st)
{
    if (st != NULL)
        st->ops->close(st);
}

int cv_store_account_create(cv_store_t *st, const char *host, const char *user, const void *cred,
                            size_t len)
{
    int rc;

    if (st == NULL || !store_name_ok(host) || !store_name_ok(user))
        return CV_EINVAL;
    rc = store_cred_ok(cred, len);
    if (rc < 0)
        return rc;
    return st->ops->account_create(st, host, user, cred, len);
}

int cv_store_account_set_cred(cv_store_t *st, const char *host, const char *user, const void *cred,
                              size_t len)
{
    int rc;

    if (st == NULL || !store_name_ok(host) || !store_name_ok(user))
        return CV_EINVAL;
    rc = store_cred_ok(cred, len);
    if (rc < 0)
        return rc;
    return st->ops->account_set_cred(st, host, user, cred, len);
}

int cv_store_account_get(cv_store_t *st, const char *host, const char *user, void *buf, size_t cap,
                         size_t *len)
{
    if (st == NULL || !store_name_ok(host) || !store_name_ok(user) || len == NULL ||
        (buf == NULL && cap != 0))
        return CV_EINVAL;
    return st->ops->account_get(st, host, user, buf, cap, len);
}

int cv_store_account_exists(cv_store_t *st, const char *host, const char *user)
{
    if (st == NULL || !store_name_ok(host) || !store_name_ok(user))
        return CV_EINVAL;
    return st->ops->account_exists(st, host, user);
}

int cv_store_account_delete(cv_store_t *st, const char *host, const char *user)
{
    if (st == NULL || !store_name_ok(host) || !store_name_ok(user))
        return CV_EINVAL;
    return st->ops->account_delete(st, host, user);
}

int cv_store_account_list(cv_store_t *st, const char *host, int (*cb)(void *ctx, const char *user),
                          void *ctx)
{
    if (st == NULL || !store_name_ok(host) || cb == NULL)
        return CV_EINVAL;
    return st->ops->account_list(st, host, cb, ctx);
}

int cv_store_account_count(cv_store_t *st, const char *host, size_t *count)
{
    if (st == NULL || !store_name_ok(host) || count == NULL)
        return CV_EINVAL;
    return st->ops->account_count(st, host, count);
}
