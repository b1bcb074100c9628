/*
 * storage/store.c — argument checks, dispatch to the selected backend, and the blocking
 * forms of the backends' asynchronous writes.
 */
#include <pthread.h>
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

int cv_store_account_create_many(cv_store_t *st, const char *host, const char *const *users,
                                 size_t n, const void *cred, size_t len, size_t *created)
{
    int rc;

    if (created != NULL)
        *created = 0;
    if (st == NULL || !store_name_ok(host) || (n > 0 && users == NULL))
        return CV_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!store_name_ok(users[i]))
            return CV_EINVAL;
    rc = store_cred_ok(cred, len);
    if (rc < 0 || n == 0)
        return rc;
    return st->ops->account_create_many(st, host, users, n, cred, len, created);
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

int cv_store_accounts_deleted(cv_store_t *st, uint64_t *cursor,
                              int (*cb)(void *ctx, const char *host, const char *user), void *ctx)
{
    if (st == NULL || cursor == NULL)
        return CV_EINVAL;
    return st->ops->accounts_deleted(st, cursor, cb, ctx);
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

/*
 * A blocking write: the caller sleeps on its own condition variable until the writer
 * thread reports the batch. lock protects done, rc and value; the writer signals while
 * holding it, so the waiter cannot destroy the pair before the signal has been sent.
 */
typedef struct store_wait_s {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int rc;
    uint64_t value;
} store_wait_t;

static int store_wait_init(store_wait_t *w)
{
    w->done = 0;
    w->rc = 0;
    w->value = 0;
    if (pthread_mutex_init(&w->lock, NULL) != 0)
        return CV_ENOMEM;
    if (pthread_cond_init(&w->cond, NULL) != 0) {
        pthread_mutex_destroy(&w->lock);
        return CV_ENOMEM;
    }
    return 0;
}

static void store_wait_done(void *ctx, int rc, uint64_t value)
{
    store_wait_t *w = ctx;

    CV_ASSERT(pthread_mutex_lock(&w->lock) == 0);
    w->rc = rc;
    w->value = value;
    w->done = 1;
    CV_ASSERT(pthread_cond_signal(&w->cond) == 0);
    CV_ASSERT(pthread_mutex_unlock(&w->lock) == 0);
}

/* Waits for the write submitted with result submit_rc (if it was accepted), then
 * releases w. Returns the write's code; *value gets its value when not NULL. */
static int store_wait_end(store_wait_t *w, int submit_rc, uint64_t *value)
{
    int rc = submit_rc;

    if (rc == 0) {
        CV_ASSERT(pthread_mutex_lock(&w->lock) == 0);
        while (!w->done)
            CV_ASSERT(pthread_cond_wait(&w->cond, &w->lock) == 0);
        rc = w->rc;
        CV_ASSERT(pthread_mutex_unlock(&w->lock) == 0);
        if (rc == 0 && value != NULL)
            *value = w->value;
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    return rc;
}

static int store_blob_ok(const void *data, size_t len)
{
    if (data == NULL && len != 0)
        return CV_EINVAL;
    return len > CV_STORE_BLOB_MAX ? CV_ELIMIT : 0;
}

static int store_text_ok(const char *s)
{
    return s == NULL || strlen(s) <= CV_STORE_ROSTER_TEXT_MAX ? 0 : CV_ELIMIT;
}

static int store_user_ok(cv_store_t *st, const char *host, const char *user)
{
    return st != NULL && store_name_ok(host) && store_name_ok(user);
}

static int store_jids_ok(const char *const *jids, size_t n)
{
    if (n != 0 && jids == NULL)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!store_name_ok(jids[i]))
            return 0;
    return 1;
}

int cv_store_roster_get(cv_store_t *st, const char *host, const char *user,
                        int (*cb)(void *ctx, const cv_store_roster_item_t *item), void *ctx,
                        uint64_t *ver)
{
    if (!store_user_ok(st, host, user) || cb == NULL)
        return CV_EINVAL;
    return st->ops->roster_get(st, host, user, cb, ctx, ver);
}

int cv_store_roster_version(cv_store_t *st, const char *host, const char *user, uint64_t *ver)
{
    if (!store_user_ok(st, host, user) || ver == NULL)
        return CV_EINVAL;
    return st->ops->roster_meta(st, host, user, ver, NULL);
}

int cv_store_roster_count(cv_store_t *st, const char *host, const char *user, size_t *n)
{
    if (!store_user_ok(st, host, user) || n == NULL)
        return CV_EINVAL;
    return st->ops->roster_meta(st, host, user, NULL, n);
}

int cv_store_roster_get_item(cv_store_t *st, const char *host, const char *user,
                             const char *contact, cv_store_roster_item_t **out)
{
    if (!store_user_ok(st, host, user) || !store_name_ok(contact) || out == NULL)
        return CV_EINVAL;
    *out = NULL;
    return st->ops->roster_get_item(st, host, user, contact, out);
}

int cv_store_roster_put_async(cv_store_t *st, const char *host, const char *user,
                              const cv_store_roster_item_t *item, cv_store_done_fn cb, void *ctx)
{
    if (!store_user_ok(st, host, user) || item == NULL || !store_name_ok(item->contact) ||
        cb == NULL)
        return CV_EINVAL;
    return st->ops->roster_put(st, host, user, item, cb, ctx);
}

int cv_store_roster_put(cv_store_t *st, const char *host, const char *user,
                        const cv_store_roster_item_t *item, uint64_t *new_ver)
{
    store_wait_t w;
    int rc;

    rc = store_wait_init(&w);
    if (rc < 0)
        return rc;
    rc = cv_store_roster_put_async(st, host, user, item, store_wait_done, &w);
    return store_wait_end(&w, rc, new_ver);
}

int cv_store_roster_remove_async(cv_store_t *st, const char *host, const char *user,
                                 const char *contact, cv_store_done_fn cb, void *ctx)
{
    if (!store_user_ok(st, host, user) || !store_name_ok(contact) || cb == NULL)
        return CV_EINVAL;
    return st->ops->roster_remove(st, host, user, contact, cb, ctx);
}

int cv_store_roster_remove(cv_store_t *st, const char *host, const char *user, const char *contact,
                           uint64_t *new_ver)
{
    store_wait_t w;
    int rc;

    rc = store_wait_init(&w);
    if (rc < 0)
        return rc;
    rc = cv_store_roster_remove_async(st, host, user, contact, store_wait_done, &w);
    return store_wait_end(&w, rc, new_ver);
}

int cv_store_offline_push_async(cv_store_t *st, const char *host, const char *user, uint64_t stamp,
                                const void *data, size_t len, size_t max, cv_store_done_fn cb,
                                void *ctx)
{
    int rc;

    if (!store_user_ok(st, host, user) || cb == NULL)
        return CV_EINVAL;
    rc = store_blob_ok(data, len);
    if (rc < 0)
        return rc;
    /* A quota of 0 refuses without queuing anything. */
    if (max == 0)
        return CV_ELIMIT;
    return st->ops->offline_push(st, host, user, stamp, data, len, max, cb, ctx);
}

int cv_store_offline_push(cv_store_t *st, const char *host, const char *user, uint64_t stamp,
                          const void *data, size_t len, size_t max, uint64_t *seq)
{
    store_wait_t w;
    int rc;

    rc = store_wait_init(&w);
    if (rc < 0)
        return rc;
    rc = cv_store_offline_push_async(st, host, user, stamp, data, len, max, store_wait_done, &w);
    return store_wait_end(&w, rc, seq);
}

int cv_store_offline_restore_async(cv_store_t *st, const char *host, const char *user, uint64_t seq,
                                   uint64_t stamp, const void *data, size_t len,
                                   cv_store_done_fn cb, void *ctx)
{
    int rc;

    if (!store_user_ok(st, host, user) || cb == NULL || seq == 0)
        return CV_EINVAL;
    rc = store_blob_ok(data, len);
    if (rc < 0)
        return rc;
    return st->ops->offline_restore(st, host, user, seq, stamp, data, len, cb, ctx);
}

int cv_store_offline_restore(cv_store_t *st, const char *host, const char *user, uint64_t seq,
                             uint64_t stamp, const void *data, size_t len)
{
    store_wait_t w;
    int rc;

    rc = store_wait_init(&w);
    if (rc < 0)
        return rc;
    rc = cv_store_offline_restore_async(st, host, user, seq, stamp, data, len, store_wait_done, &w);
    return store_wait_end(&w, rc, NULL);
}

int cv_store_offline_fetch(cv_store_t *st, const char *host, const char *user,
                           int (*cb)(void *ctx, uint64_t seq, uint64_t stamp, const void *data,
                                     size_t len),
                           void *ctx)
{
    if (!store_user_ok(st, host, user) || cb == NULL)
        return CV_EINVAL;
    return st->ops->offline_fetch(st, host, user, cb, ctx);
}

int cv_store_offline_delete_upto(cv_store_t *st, const char *host, const char *user,
                                 uint64_t last_seq, size_t *deleted)
{
    uint64_t n = 0;
    store_wait_t w;
    int rc;

    if (!store_user_ok(st, host, user))
        return CV_EINVAL;
    rc = store_wait_init(&w);
    if (rc < 0)
        return rc;
    rc = st->ops->offline_delete_upto(st, host, user, last_seq, store_wait_done, &w);
    rc = store_wait_end(&w, rc, &n);
    if (rc == 0 && deleted != NULL)
        *deleted = (size_t)n;
    return rc;
}

int cv_store_offline_delete(cv_store_t *st, const char *host, const char *user,
                            const uint64_t *seqs, size_t n, size_t *deleted)
{
    uint64_t got = 0;
    store_wait_t w;
    int rc;

    if (!store_user_ok(st, host, user) || (n > 0 && seqs == NULL) ||
        n > CV_STORE_OFFLINE_DELETE_MAX)
        return CV_EINVAL;
    rc = store_wait_init(&w);
    if (rc < 0)
        return rc;
    rc = st->ops->offline_delete(st, host, user, seqs, n, store_wait_done, &w);
    rc = store_wait_end(&w, rc, &got);
    if (rc == 0 && deleted != NULL)
        *deleted = (size_t)got;
    return rc;
}

int cv_store_offline_count(cv_store_t *st, const char *host, const char *user, size_t *n)
{
    if (!store_user_ok(st, host, user) || n == NULL)
        return CV_EINVAL;
    return st->ops->offline_count(st, host, user, n);
}

/* The blocking form of blob_set for the vCard (name NULL) or a private element. */
static int store_blob_set(cv_store_t *st, const char *host, const char *user, const char *name,
                          const char *ns, const void *data, size_t len)
{
    store_wait_t w;
    int rc;

    rc = store_blob_ok(data, len);
    if (rc < 0)
        return rc;
    rc = store_wait_init(&w);
    if (rc < 0)
        return rc;
    rc = st->ops->blob_set(st, host, user, name, ns, data, len, store_wait_done, &w);
    return store_wait_end(&w, rc, NULL);
}

int cv_store_vcard_get(cv_store_t *st, const char *host, const char *user, cv_buf_t *out)
{
    if (!store_user_ok(st, host, user) || out == NULL)
        return CV_EINVAL;
    return st->ops->blob_get(st, host, user, NULL, NULL, out);
}

int cv_store_vcard_set(cv_store_t *st, const char *host, const char *user, const void *data,
                       size_t len)
{
    if (!store_user_ok(st, host, user))
        return CV_EINVAL;
    return store_blob_set(st, host, user, NULL, NULL, data, len);
}

int cv_store_private_get(cv_store_t *st, const char *host, const char *user, const char *name,
                         const char *ns, cv_buf_t *out)
{
    if (!store_user_ok(st, host, user) || !store_name_ok(name) || !store_name_ok(ns) || out == NULL)
        return CV_EINVAL;
    return st->ops->blob_get(st, host, user, name, ns, out);
}

int cv_store_private_set(cv_store_t *st, const char *host, const char *user, const char *name,
                         const char *ns, const void *data, size_t len)
{
    if (!store_user_ok(st, host, user) || !store_name_ok(name) || !store_name_ok(ns))
        return CV_EINVAL;
    return store_blob_set(st, host, user, name, ns, data, len);
}

int cv_store_block_add(cv_store_t *st, const char *host, const char *user, const char *const *jids,
                       size_t n, size_t max, size_t *added)
{
    uint64_t v = 0;
    store_wait_t w;
    int rc;

    if (!store_user_ok(st, host, user) || !store_jids_ok(jids, n))
        return CV_EINVAL;
    if (n == 0) {
        if (added != NULL)
            *added = 0;
        return 0;
    }
    rc = store_wait_init(&w);
    if (rc < 0)
        return rc;
    rc = st->ops->block_add(st, host, user, jids, n, max, store_wait_done, &w);
    rc = store_wait_end(&w, rc, &v);
    if (rc == 0 && added != NULL)
        *added = (size_t)v;
    return rc;
}

/* Removes the listed JIDs, or all of them when jids is NULL. */
static int store_block_remove(cv_store_t *st, const char *host, const char *user,
                              const char *const *jids, size_t n, size_t *removed)
{
    uint64_t v = 0;
    store_wait_t w;
    int rc;

    rc = store_wait_init(&w);
    if (rc < 0)
        return rc;
    rc = st->ops->block_remove(st, host, user, jids, n, store_wait_done, &w);
    rc = store_wait_end(&w, rc, &v);
    if (rc == 0 && removed != NULL)
        *removed = (size_t)v;
    return rc;
}

int cv_store_block_remove(cv_store_t *st, const char *host, const char *user,
                          const char *const *jids, size_t n, size_t *removed)
{
    if (!store_user_ok(st, host, user) || !store_jids_ok(jids, n))
        return CV_EINVAL;
    /* NULL means "all" to the backend: an empty list must not get there. */
    if (n == 0) {
        if (removed != NULL)
            *removed = 0;
        return 0;
    }
    return store_block_remove(st, host, user, jids, n, removed);
}

int cv_store_block_clear(cv_store_t *st, const char *host, const char *user, size_t *removed)
{
    if (!store_user_ok(st, host, user))
        return CV_EINVAL;
    return store_block_remove(st, host, user, NULL, 0, removed);
}

int cv_store_block_list(cv_store_t *st, const char *host, const char *user,
                        int (*cb)(void *ctx, const char *jid), void *ctx)
{
    if (!store_user_ok(st, host, user) || cb == NULL)
        return CV_EINVAL;
    return st->ops->block_list(st, host, user, cb, ctx);
}

int cv_store_block_contains(cv_store_t *st, const char *host, const char *user, const char *jid)
{
    if (!store_user_ok(st, host, user) || !store_name_ok(jid))
        return CV_EINVAL;
    return st->ops->block_contains(st, host, user, jid);
}

int cv_store_last_set(cv_store_t *st, const char *host, const char *user, uint64_t secs,
                      const char *status)
{
    store_wait_t w;
    int rc;

    if (!store_user_ok(st, host, user))
        return CV_EINVAL;
    rc = store_text_ok(status);
    if (rc < 0)
        return rc;
    rc = store_wait_init(&w);
    if (rc < 0)
        return rc;
    rc = st->ops->last_set(st, host, user, secs, status, store_wait_done, &w);
    return store_wait_end(&w, rc, NULL);
}

int cv_store_last_set_async(cv_store_t *st, const char *host, const char *user, uint64_t secs,
                            const char *status, cv_store_done_fn cb, void *ctx)
{
    int rc;
    if (!store_user_ok(st, host, user) || !cb)
        return CV_EINVAL;
    rc = store_text_ok(status);
    if (rc < 0)
        return rc;
    return st->ops->last_set(st, host, user, secs, status, cb, ctx);
}

int cv_store_last_get(cv_store_t *st, const char *host, const char *user, uint64_t *secs,
                      cv_buf_t *status)
{
    if (!store_user_ok(st, host, user))
        return CV_EINVAL;
    return st->ops->last_get(st, host, user, secs, status);
}
