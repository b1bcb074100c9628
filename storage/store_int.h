/*
 * storage/store_int.h — the backend vtable behind corvid/store.h, the pieces every
 * backend shares (roster item codec, group-commit writer) and the LMDB backend's
 * internals shared by its two files.
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

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "corvid/store.h"

typedef int (*cv__store_roster_cb)(void *ctx, const cv_store_roster_item_t *item);
typedef int (*cv__store_offline_cb)(void *ctx, uint64_t seq, uint64_t stamp, const void *data,
                                    size_t len);
typedef int (*cv__store_jid_cb)(void *ctx, const char *jid);

/*
 * Per-user writes are asynchronous at this level: the backend copies its arguments and
 * returns 0 (cb will run exactly once, see cv_store_done_fn) or a code (cb never runs).
 * store.c builds the blocking calls on top of them. Only offline_delete_upto and
 * block_remove may run cb before returning, on the caller's thread, when there is
 * nothing to do; store.c exposes them only as blocking calls.
 */
typedef struct cv__store_ops_s {
    const char *name; /* what cv_store_opts_t.backend selects */
    /* Returns 0 with *out set, or a CV_E* code with the reason logged. */
    int (*open)(cv_store_t **out, const cv_store_opts_t *opts);
    void (*close)(cv_store_t *st);

    int (*account_create)(cv_store_t *st, const char *host, const char *user, const void *cred,
                          size_t len);
    int (*account_create_many)(cv_store_t *st, const char *host, const char *const *users, size_t n,
                               const void *cred, size_t len, size_t *created);
    int (*account_set_cred)(cv_store_t *st, const char *host, const char *user, const void *cred,
                            size_t len);
    int (*account_get)(cv_store_t *st, const char *host, const char *user, void *buf, size_t cap,
                       size_t *len);
    int (*account_exists)(cv_store_t *st, const char *host, const char *user);
    int (*account_delete)(cv_store_t *st, const char *host, const char *user);
    int (*accounts_deleted)(cv_store_t *st, uint64_t *cursor,
                            int (*cb)(void *ctx, const char *host, const char *user), void *ctx);
    int (*account_list)(cv_store_t *st, const char *host, int (*cb)(void *ctx, const char *user),
                        void *ctx);
    int (*account_count)(cv_store_t *st, const char *host, size_t *count);

    /* Reads. */
    int (*roster_get)(cv_store_t *st, const char *host, const char *user, cv__store_roster_cb cb,
                      void *ctx, uint64_t *ver);
    int (*roster_meta)(cv_store_t *st, const char *host, const char *user, uint64_t *ver,
                       size_t *n);
    int (*roster_get_item)(cv_store_t *st, const char *host, const char *user, const char *contact,
                           cv_store_roster_item_t **out);
    int (*offline_fetch)(cv_store_t *st, const char *host, const char *user,
                         cv__store_offline_cb cb, void *ctx);
    int (*offline_count)(cv_store_t *st, const char *host, const char *user, size_t *n);
    /* name and ns NULL: the vCard; otherwise a private XML element. */
    int (*blob_get)(cv_store_t *st, const char *host, const char *user, const char *name,
                    const char *ns, cv_buf_t *out);
    int (*block_list)(cv_store_t *st, const char *host, const char *user, cv__store_jid_cb cb,
                      void *ctx);
    int (*block_contains)(cv_store_t *st, const char *host, const char *user, const char *jid);
    int (*last_get)(cv_store_t *st, const char *host, const char *user, uint64_t *secs,
                    cv_buf_t *status);

    /* Writes (asynchronous). value: new version, sequence, or count as documented in
     * corvid/store.h. */
    int (*roster_put)(cv_store_t *st, const char *host, const char *user,
                      const cv_store_roster_item_t *item, cv_store_done_fn cb, void *ctx);
    int (*roster_remove)(cv_store_t *st, const char *host, const char *user, const char *contact,
                         cv_store_done_fn cb, void *ctx);
    int (*offline_push)(cv_store_t *st, const char *host, const char *user, uint64_t stamp,
                        const void *data, size_t len, size_t max, cv_store_done_fn cb, void *ctx);
    int (*offline_restore)(cv_store_t *st, const char *host, const char *user, uint64_t seq,
                           uint64_t stamp, const void *data, size_t len, cv_store_done_fn cb,
                           void *ctx);
    int (*offline_delete)(cv_store_t *st, const char *host, const char *user, const uint64_t *seqs,
                          size_t n, cv_store_done_fn cb, void *ctx);
    int (*offline_delete_upto)(cv_store_t *st, const char *host, const char *user,
                               uint64_t last_seq, cv_store_done_fn cb, void *ctx);
    /* name and ns NULL: the vCard. len 0: remove. */
    int (*blob_set)(cv_store_t *st, const char *host, const char *user, const char *name,
                    const char *ns, const void *data, size_t len, cv_store_done_fn cb, void *ctx);
    int (*block_add)(cv_store_t *st, const char *host, const char *user, const char *const *jids,
                     size_t n, size_t max, cv_store_done_fn cb, void *ctx);
    /* jids NULL: remove every entry. */
    int (*block_remove)(cv_store_t *st, const char *host, const char *user, const char *const *jids,
                        size_t n, cv_store_done_fn cb, void *ctx);
    int (*last_set)(cv_store_t *st, const char *host, const char *user, uint64_t secs,
                    const char *status, cv_store_done_fn cb, void *ctx);
} cv__store_ops_t;

struct cv_store_s {
    const cv__store_ops_t *ops; /* set by the backend's open, never changed */
};

extern const cv__store_ops_t cv__store_lmdb_ops;

/*
 * Roster item record, format 1 (storage/roster_codec.c; the same bytes serve any backend
 * that stores a blob per item):
 *   u8 format (1), u8 flags (bits 0-1 subscription, bit 2 ask, bit 3 approved,
 *   bit 4 pending_in), then name, pending status, each as u16 big-endian length + bytes
 *   + NUL, then u16 group count and each group the same way.
 * The NUL after each string lets a decoded item point straight into the record.
 */
/* Checks item (not its contact) and sets *size to its record size. Returns 0, CV_EINVAL,
 * CV_ELIMIT. */
int cv__store_roster_encoded_size(const cv_store_roster_item_t *item, size_t *size);
/* Writes the record of a checked item into out (the size given above). */
void cv__store_roster_encode(const cv_store_roster_item_t *item, unsigned char *out);
/* Decodes a record into item, pointing into rec and gv (CV_STORE_ROSTER_GROUPS_MAX slots);
 * item->contact is set to contact. Returns 0 or CV_ESTORE (corrupt, logged). */
int cv__store_roster_decode(const void *rec, size_t len, const char *contact,
                            cv_store_roster_item_t *item, const char **gv);
/* Deep-copies item into one heap block. Returns 0 or CV_ENOMEM. */
int cv__store_roster_copy(const cv_store_roster_item_t *item, cv_store_roster_item_t **out);

/*
 * Group-commit writer (storage/store_writer.c): one thread per handle that takes every
 * queued request (up to CV__STORE_BATCH_MAX at a time), hands the batch to the backend's
 * run function (which applies it in one transaction and sets each request's rc and
 * value), then calls each request's cb and frees the request.
 *
 * lock protects head, tail, queued and stopping. It is held only to link or unlink
 * requests, never during the batch, so submitters wait at most for a list operation.
 */
#define CV__STORE_BATCH_MAX 256

typedef struct cv__store_req_s {
    struct cv__store_req_s *next; /* queue link, then batch link; owned by the writer */
    cv_store_done_fn cb;
    void *ctx;
    int rc;         /* set by run */
    uint64_t value; /* set by run */
} cv__store_req_t;

typedef struct cv__store_writer_s {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* signalled when a request is queued or stopping is set */
    cv__store_req_t *head;
    cv__store_req_t *tail;
    size_t queued;
    int stopping;
    int started;
    pthread_t thread;
    void (*run)(void *backend, cv__store_req_t *batch);
    void *backend;
} cv__store_writer_t;

/* Thread: main (open). Returns 0 or CV_ENOMEM/CV_ESTORE. */
int cv__store_writer_start(cv__store_writer_t *w, void (*run)(void *, cv__store_req_t *),
                           void *backend);
/* Queues req (a heap block whose first member is cv__store_req_t, freed with free() after
 * its cb ran). Thread: any. Returns 0, or CV_AGAIN (queue full; req untouched). */
int cv__store_writer_submit(cv__store_writer_t *w, cv__store_req_t *req);
/* Completes every queued request, then joins the thread. Thread: main (close). */
void cv__store_writer_stop(cv__store_writer_t *w);

/*
 * LMDB backend internals (storage/store_lmdb.c: environment and accounts;
 * storage/store_lmdb_user.c: per-user data and the writer's batch).
 */
/* LMDB's key bound in bytes (mdb_env_get_maxkeysize of a default build). */
#define CV__LMDB_KEY_BYTES (CV_STORE_LMDB_KEY_MAX + 1)

enum {
    CV__LMDB_DB_ROSTERS,
    CV__LMDB_DB_ROSTER_META,
    CV__LMDB_DB_OFFLINE,
    CV__LMDB_DB_OFFLINE_META,
    CV__LMDB_DB_VCARDS,
    CV__LMDB_DB_PRIVATE,
    CV__LMDB_DB_BLOCKLIST,
    CV__LMDB_DB_LAST,
    CV__LMDB_USER_DBS /* count */
};

typedef struct cv__store_lmdb_s {
    cv_store_t base; /* first member: cv_store_t * converts to cv__store_lmdb_t * */
    MDB_env *env;
    /* DBI handles are opened by a committed transaction at open and then only read,
     * which LMDB allows from any transaction on any thread. */
    MDB_dbi dbi_meta;
    MDB_dbi dbi_accounts;
    MDB_dbi dbi_deleted; /* log of deleted accounts: 8-byte big-endian number -> host\0user */
    MDB_dbi dbi_user[CV__LMDB_USER_DBS];
    size_t map_size; /* effective map size, for messages */
    /* Twice the number of top-level commits begun by this process, plus one while one
     * is in flight (LMDB's writer lock serializes them); see cv__lmdb_begin. */
    atomic_uint_fast64_t commits;
    cv__store_writer_t writer;
    void (*on_fatal)(void *arg); /* cv_store_opts_t's, called once (fatal_reported) */
    void *fatal_arg;
    atomic_int fatal_reported;
} cv__store_lmdb_t;

extern const char *const cv__store_lmdb_user_db_names[CV__LMDB_USER_DBS];

/* Translates an unexpected LMDB code into CV_E*, logging why. */
int cv__store_lmdb_fail(const cv__store_lmdb_t *s, int mrc, const char *what);
/* Returns 0 for mrc 0, otherwise the code cv__store_lmdb_fail gives, logging what. */
static inline int cv__lmdb_rc(const cv__store_lmdb_t *s, int mrc, const char *what)
{
    return mrc == 0 ? 0 : cv__store_lmdb_fail(s, mrc, what);
}

/* As cv__lmdb_rc, but MDB_NOTFOUND is the expected CV_ENOTFOUND and logs nothing. */
static inline int cv__lmdb_found(const cv__store_lmdb_t *s, int mrc, const char *what)
{
    return mrc == MDB_NOTFOUND ? CV_ENOTFOUND : cv__lmdb_rc(s, mrc, what);
}

/*
 * Begins a top-level transaction; on failure *txn is NULL and the reason is logged.
 *
 * A read transaction is checked against LMDB 0.9's snapshot race: a reader takes the
 * current transaction id N and then copies meta page N & 1, but a writer that commits
 * N+1 and N+2 in between rewrites that same meta page, so the reader would use N+2's
 * roots under id N — a snapshot newer than the one a later reader gets (and N+2's pages
 * are not protected by its reader slot). The begin is retried when that may have
 * happened: more than one commit of this process started meanwhile (s->commits, exact),
 * or the newest meta page is already two ahead (other processes' commits).
 */
int cv__lmdb_begin(cv__store_lmdb_t *s, unsigned flags, const char *what, MDB_txn **txn);

/* Commits the top-level *txn and clears it: commit frees the transaction whether or not
 * it succeeds. Counts the commit for cv__lmdb_begin's check. */
int cv__lmdb_commit(cv__store_lmdb_t *s, MDB_txn **txn, const char *what);

/* Commits a nested transaction into its parent (no meta page is written) and clears it. */
static inline int cv__lmdb_commit_nested(const cv__store_lmdb_t *s, MDB_txn **txn, const char *what)
{
    int mrc = mdb_txn_commit(*txn);
    *txn = NULL;
    return cv__lmdb_rc(s, mrc, what);
}

/* Aborts txn unless it is NULL (already committed, or never begun). */
static inline void cv__lmdb_end(MDB_txn *txn)
{
    if (txn != NULL)
        mdb_txn_abort(txn);
}

/* Writes the database-wide offline sequence counter if it is missing (a database from
 * schema 2): above every account's own counter. Inside the open's transaction. */
int cv__store_lmdb_offline_seq_init(cv__store_lmdb_t *s, MDB_txn *txn);
/* Deletes every per-user key of (host, user) inside txn. Returns 0 or a CV_E* code. */
int cv__store_lmdb_user_purge(cv__store_lmdb_t *s, MDB_txn *txn, const char *host,
                              const char *user);
/* The writer's run function: applies a batch in one write transaction. */
void cv__store_lmdb_run_batch(void *backend, cv__store_req_t *batch);

int cv__store_lmdb_roster_get(cv_store_t *st, const char *host, const char *user,
                              cv__store_roster_cb cb, void *ctx, uint64_t *ver);
int cv__store_lmdb_roster_meta(cv_store_t *st, const char *host, const char *user, uint64_t *ver,
                               size_t *n);
int cv__store_lmdb_roster_get_item(cv_store_t *st, const char *host, const char *user,
                                   const char *contact, cv_store_roster_item_t **out);
int cv__store_lmdb_offline_fetch(cv_store_t *st, const char *host, const char *user,
                                 cv__store_offline_cb cb, void *ctx);
int cv__store_lmdb_offline_count(cv_store_t *st, const char *host, const char *user, size_t *n);
int cv__store_lmdb_blob_get(cv_store_t *st, const char *host, const char *user, const char *name,
                            const char *ns, cv_buf_t *out);
int cv__store_lmdb_block_list(cv_store_t *st, const char *host, const char *user,
                              cv__store_jid_cb cb, void *ctx);
int cv__store_lmdb_block_contains(cv_store_t *st, const char *host, const char *user,
                                  const char *jid);
int cv__store_lmdb_last_get(cv_store_t *st, const char *host, const char *user, uint64_t *secs,
                            cv_buf_t *status);
int cv__store_lmdb_roster_put(cv_store_t *st, const char *host, const char *user,
                              const cv_store_roster_item_t *item, cv_store_done_fn cb, void *ctx);
int cv__store_lmdb_roster_remove(cv_store_t *st, const char *host, const char *user,
                                 const char *contact, cv_store_done_fn cb, void *ctx);
int cv__store_lmdb_offline_push(cv_store_t *st, const char *host, const char *user, uint64_t stamp,
                                const void *data, size_t len, size_t max, cv_store_done_fn cb,
                                void *ctx);
int cv__store_lmdb_offline_restore(cv_store_t *st, const char *host, const char *user, uint64_t seq,
                                   uint64_t stamp, const void *data, size_t len,
                                   cv_store_done_fn cb, void *ctx);
int cv__store_lmdb_offline_delete(cv_store_t *st, const char *host, const char *user,
                                  const uint64_t *seqs, size_t n, cv_store_done_fn cb, void *ctx);
int cv__store_lmdb_offline_delete_upto(cv_store_t *st, const char *host, const char *user,
                                       uint64_t last_seq, cv_store_done_fn cb, void *ctx);
int cv__store_lmdb_blob_set(cv_store_t *st, const char *host, const char *user, const char *name,
                            const char *ns, const void *data, size_t len, cv_store_done_fn cb,
                            void *ctx);
int cv__store_lmdb_block_add(cv_store_t *st, const char *host, const char *user,
                             const char *const *jids, size_t n, size_t max, cv_store_done_fn cb,
                             void *ctx);
int cv__store_lmdb_block_remove(cv_store_t *st, const char *host, const char *user,
                                const char *const *jids, size_t n, cv_store_done_fn cb, void *ctx);
int cv__store_lmdb_last_set(cv_store_t *st, const char *host, const char *user, uint64_t secs,
                            const char *status, cv_store_done_fn cb, void *ctx);

#endif
