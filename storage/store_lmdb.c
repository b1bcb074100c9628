/*
 * storage/store_lmdb.c — the embedded LMDB backend.
 *
 * One environment (one memory map) under the data directory, opened with MDB_NOTLS so a
 * read transaction is not tied to the thread that began it and reader slots are not
 * kept per thread. Every public call is one transaction begun and finished inside the
 * call: reads take an MVCC snapshot and never wait for the writer; writes are serialized
 * by LMDB's writer lock and synced before commit returns. Account writes commit on the
 * caller's thread; per-user data is written by the group-commit writer
 * (storage/store_lmdb_user.c). The layout of the named databases and keys is described
 * in docs/storage.md.
 */
#include <errno.h>
#include <sched.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "corvid/core.h"
#include "corvid/log.h"
#include "corvid/store.h"
#include "store_int.h"

/* Version of the layout in docs/storage.md, kept in "meta" under "schema_version".
 * Version 2 added the per-user databases; a version 1 file is upgraded at open (its two
 * databases are unchanged) so that builds that know nothing of the new databases, and
 * would leave their data behind when deleting an account, refuse it. Version 3 numbers
 * offline messages from one counter for the database (meta "offline_next", written at
 * open when missing) and adds an account's first number to its offline_meta record
 * (24 bytes; 16-byte records still read), which a version 2 build would call corrupt. */
#define LMDB_SCHEMA_VERSION 3u
#define LMDB_SCHEMA_VERSION_MIN 1u
/* Format byte that opens every account record, so fields can be added later. */
#define LMDB_ACCOUNT_RECORD_V1 1u
/* Named databases the environment may hold: the ten of today plus the kinds planned in
 * docs/storage.md, with room to spare; raising it later needs no migration. */
#define LMDB_MAX_DBS 32
/* Concurrent read transactions across the process; with MDB_NOTLS each in-flight read
 * call holds one slot, so this bounds concurrent readers, not threads. */
#define LMDB_MAX_READERS 1024

static const char lmdb_schema_key[] = "schema_version";

typedef cv__store_lmdb_t store_lmdb_t;

/* A database key: host "\0" user, or the prefix host "\0" when user is NULL. */
typedef struct lmdb_key_s {
    char bytes[CV_STORE_LMDB_KEY_MAX + 1];
    MDB_val val;
} lmdb_key_t;

static store_lmdb_t *lmdb_of(cv_store_t *st)
{
    return (store_lmdb_t *)st;
}

/* Returns 0, or CV_ELIMIT when the key would exceed LMDB's key bound. */
static int lmdb_key_make(lmdb_key_t *k, const char *host, const char *user)
{
    size_t hlen = strlen(host);
    size_t ulen = user != NULL ? strlen(user) : 0;

    if (hlen > CV_STORE_LMDB_KEY_MAX || ulen > CV_STORE_LMDB_KEY_MAX - hlen)
        return CV_ELIMIT;
    memcpy(k->bytes, host, hlen);
    k->bytes[hlen] = '\0';
    if (ulen != 0)
        memcpy(k->bytes + hlen + 1, user, ulen);
    k->val.mv_data = k->bytes;
    k->val.mv_size = hlen + 1 + ulen;
    return 0;
}

/*
 * Translates an LMDB failure that the caller did not expect (not MDB_NOTFOUND or
 * MDB_KEYEXIST where those mean something) into a CV_E* code, logging why.
 */
int cv__store_lmdb_fail(const store_lmdb_t *s, int mrc, const char *what)
{
    switch (mrc) {
    case MDB_MAP_FULL:
        cv_error("storage: LMDB map full (%zu bytes) during %s: the database cannot grow; "
                 "raise the storage map size",
                 s->map_size, what);
        return CV_ELIMIT;
    case MDB_READERS_FULL:
        cv_error("storage: LMDB reader table full (%d slots) during %s", LMDB_MAX_READERS, what);
        return CV_ELIMIT;
    case MDB_TXN_FULL:
    case MDB_DBS_FULL:
        cv_error("storage: LMDB limit reached during %s: %s", what, mdb_strerror(mrc));
        return CV_ELIMIT;
    case ENOMEM: cv_error("storage: out of memory during %s", what); return CV_ENOMEM;
    default: cv_error("storage: LMDB %s failed: %s", what, mdb_strerror(mrc)); return CV_ESTORE;
    }
}

/* True when the snapshot txn took may mix in a later commit's roots (cv__lmdb_begin). */
static bool lmdb_snapshot_suspect(cv__store_lmdb_t *s, MDB_txn *txn, uint_fast64_t commits_before)
{
    uint_fast64_t commits_after;
    MDB_envinfo info;

    /* Orders the reads inside mdb_txn_begin before the second load of the counter. */
    atomic_thread_fence(memory_order_acquire);
    commits_after = atomic_load_explicit(&s->commits, memory_order_relaxed);
    /* One commit overlapping the begin writes only the other meta page; the start of a
     * second one (three increments past an even count, two past an odd one, which was
     * a commit in flight) may have rewritten the page being copied. */
    if (commits_after - commits_before >= 3u - (commits_before & 1u))
        return true;
    if (mdb_env_info(s->env, &info) != 0)
        return true;
    return info.me_last_txnid > (size_t)mdb_txn_id(txn) + 1;
}

/* LMDB marks the environment failed for good when a meta-page write fails (the commit
 * returns the I/O error; every transaction after it MDB_PANIC): the map may then hold
 * pages the disk does not, and only closing and opening it again recovers, from the last
 * meta page written. Says so once and tells the owner (cv_store_opts_t.on_fatal). */
static void lmdb_fatal(cv__store_lmdb_t *s, const char *what)
{
    if (atomic_exchange(&s->fatal_reported, 1))
        return;
    cv_error("storage: the LMDB environment failed for good during %s (a write of its meta "
             "page did not reach the disk): nothing can be read or written until it is "
             "opened again",
             what);
    if (s->on_fatal)
        s->on_fatal(s->fatal_arg);
}

int cv__lmdb_begin(cv__store_lmdb_t *s, unsigned flags, const char *what, MDB_txn **txn)
{
    uint_fast64_t commits_before;
    unsigned attempts = 0;
    int mrc;

    for (;;) {
        commits_before = atomic_load_explicit(&s->commits, memory_order_acquire);
        mrc = mdb_txn_begin(s->env, NULL, flags, txn);
        if (mrc != 0 || !(flags & MDB_RDONLY) || !lmdb_snapshot_suspect(s, *txn, commits_before))
            break;
        mdb_txn_abort(*txn);
        /* Two commits inside one begin means this thread was descheduled; let the
         * writer finish rather than spin against it. */
        if (++attempts > 2)
            sched_yield();
    }
    if (mrc != 0)
        *txn = NULL;
    if (mrc == MDB_PANIC)
        lmdb_fatal(s, what);
    return cv__lmdb_rc(s, mrc, what);
}

int cv__lmdb_commit(cv__store_lmdb_t *s, MDB_txn **txn, const char *what)
{
    int mrc;

    /* Odd while the commit (which writes the meta page) is in flight. seq_cst: the
     * increment must be visible before the meta page write a reader could race with. */
    atomic_fetch_add_explicit(&s->commits, 1, memory_order_seq_cst);
    mrc = mdb_txn_commit(*txn);
    atomic_fetch_add_explicit(&s->commits, 1, memory_order_release);
    *txn = NULL;
    if (mrc != 0) {
        /* Whether this failure was the one that ends the environment shows only in the
           next begin; find out now rather than at the next client's request. */
        MDB_txn *probe = NULL;
        int prc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &probe);
        if (prc == 0)
            mdb_txn_abort(probe);
        else if (prc == MDB_PANIC)
            lmdb_fatal(s, what);
    }
    return cv__lmdb_rc(s, mrc, what);
}

/* Returns CV_ENOTFOUND where lmdb_key_make fails: a key that cannot be stored names no
 * account. */
static int lmdb_key_find(lmdb_key_t *k, const char *host, const char *user)
{
    return lmdb_key_make(k, host, user) < 0 ? CV_ENOTFOUND : 0;
}

/* Checks an account record and points blob and blen at its credential. */
static int lmdb_account_decode(const MDB_val *v, const void **blob, size_t *blen)
{
    const unsigned char *p = v->mv_data;

    if (v->mv_size < 1 || p[0] != LMDB_ACCOUNT_RECORD_V1) {
        cv_error("storage: corrupt account record (%zu bytes, format %u)", v->mv_size,
                 v->mv_size ? (unsigned)p[0] : 0u);
        return CV_ESTORE;
    }
    *blob = p + 1;
    *blen = v->mv_size - 1;
    return 0;
}

/* Writes the account record for k inside txn with the given mdb_put flags, reserving
 * the space and filling it in place. Returns the mdb_put code. */
static int lmdb_account_put(store_lmdb_t *s, MDB_txn *txn, lmdb_key_t *k, const void *cred,
                            size_t len, unsigned flags)
{
    MDB_val v = {.mv_size = 1 + len, .mv_data = NULL};
    unsigned char *p;
    int mrc;

    mrc = mdb_put(txn, s->dbi_accounts, &k->val, &v, flags | MDB_RESERVE);
    if (mrc != 0)
        return mrc;
    p = v.mv_data;
    p[0] = LMDB_ACCOUNT_RECORD_V1;
    if (len != 0)
        memcpy(p + 1, cred, len);
    return 0;
}

static int lmdb_account_create(cv_store_t *st, const char *host, const char *user, const void *cred,
                               size_t len)
{
    store_lmdb_t *s = lmdb_of(st);
    MDB_txn *txn = NULL;
    lmdb_key_t k;
    int mrc;
    int rc;

    rc = lmdb_key_make(&k, host, user);
    if (rc == 0)
        rc = cv__lmdb_begin(s, 0, "account create (begin)", &txn);
    if (rc < 0)
        goto out;
    mrc = lmdb_account_put(s, txn, &k, cred, len, MDB_NOOVERWRITE);
    if (mrc != 0) {
        rc = mrc == MDB_KEYEXIST ? CV_EEXIST : cv__store_lmdb_fail(s, mrc, "account create (put)");
        goto out;
    }
    rc = cv__lmdb_commit(s, &txn, "account create (commit)");
out:
    cv__lmdb_end(txn);
    return rc;
}

static int lmdb_account_create_many(cv_store_t *st, const char *host, const char *const *users,
                                    size_t n, const void *cred, size_t len, size_t *created)
{
    store_lmdb_t *s = lmdb_of(st);
    MDB_txn *txn = NULL;
    size_t made = 0;
    int rc;

    rc = cv__lmdb_begin(s, 0, "account create_many (begin)", &txn);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        lmdb_key_t k;
        rc = lmdb_key_make(&k, host, users[i]);
        if (rc < 0)
            break;
        int mrc = lmdb_account_put(s, txn, &k, cred, len, MDB_NOOVERWRITE);
        if (mrc == 0)
            made++;
        else if (mrc != MDB_KEYEXIST)
            rc = cv__store_lmdb_fail(s, mrc, "account create_many (put)");
    }
    if (rc == 0)
        rc = cv__lmdb_commit(s, &txn, "account create_many (commit)");
    if (rc == 0 && created != NULL)
        *created = made;
    cv__lmdb_end(txn);
    return rc;
}

static int lmdb_account_set_cred(cv_store_t *st, const char *host, const char *user,
                                 const void *cred, size_t len)
{
    store_lmdb_t *s = lmdb_of(st);
    MDB_txn *txn = NULL;
    MDB_val old;
    lmdb_key_t k;
    int rc;

    rc = lmdb_key_find(&k, host, user);
    if (rc == 0)
        rc = cv__lmdb_begin(s, 0, "account set_cred (begin)", &txn);
    if (rc < 0)
        goto out;
    /* The existence check and the write share the writer's transaction, so no delete
     * can slip between them. */
    rc = cv__lmdb_found(s, mdb_get(txn, s->dbi_accounts, &k.val, &old), "account set_cred (get)");
    if (rc == 0)
        rc = cv__lmdb_rc(s, lmdb_account_put(s, txn, &k, cred, len, 0), "account set_cred (put)");
    if (rc == 0)
        rc = cv__lmdb_commit(s, &txn, "account set_cred (commit)");
out:
    cv__lmdb_end(txn);
    return rc;
}

/* Looks the account up in a read snapshot; copies the credential when buf is given. */
static int lmdb_account_read(store_lmdb_t *s, const char *host, const char *user, void *buf,
                             size_t cap, size_t *len)
{
    MDB_txn *txn = NULL;
    const void *blob;
    size_t blen;
    MDB_val v;
    lmdb_key_t k;
    int rc;

    rc = lmdb_key_find(&k, host, user);
    if (rc == 0)
        rc = cv__lmdb_begin(s, MDB_RDONLY, "account read (begin)", &txn);
    if (rc == 0)
        rc = cv__lmdb_found(s, mdb_get(txn, s->dbi_accounts, &k.val, &v), "account read (get)");
    if (rc < 0)
        goto out;
    rc = lmdb_account_decode(&v, &blob, &blen);
    if (rc < 0 || len == NULL)
        goto out;
    *len = blen;
    if (blen > cap) {
        rc = CV_ELIMIT;
        goto out;
    }
    /* The data lives in the map only while the snapshot is held: copy before abort. */
    if (blen != 0)
        memcpy(buf, blob, blen);
out:
    cv__lmdb_end(txn);
    return rc;
}

static int lmdb_account_get(cv_store_t *st, const char *host, const char *user, void *buf,
                            size_t cap, size_t *len)
{
    return lmdb_account_read(lmdb_of(st), host, user, buf, cap, len);
}

static int lmdb_account_exists(cv_store_t *st, const char *host, const char *user)
{
    return lmdb_account_read(lmdb_of(st), host, user, NULL, 0, NULL);
}

static void be64_put(unsigned char *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)v;
}

static uint64_t be64_get(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

/* Appends host/user to the log of deleted accounts in txn, and drops the entry that
   falls out of the CV_STORE_DELETED_KEEP newest (one per append, so the log stays
   bounded). */
static int deleted_log_append(store_lmdb_t *s, MDB_txn *txn, const char *host, const char *user)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    unsigned char num[8];
    char entry[CV_STORE_LMDB_KEY_MAX + 2];
    size_t hl = strlen(host), ul = strlen(user);
    uint64_t next = 1;
    int mrc = mdb_cursor_open(txn, s->dbi_deleted, &cur);

    if (mrc == 0) {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (mrc == 0 && k.mv_size == 8)
            next = be64_get(k.mv_data) + 1;
        if (mrc == MDB_NOTFOUND)
            mrc = 0;
    }
    if (mrc == 0) {
        memcpy(entry, host, hl + 1);
        memcpy(entry + hl + 1, user, ul + 1);
        be64_put(num, next);
        k = (MDB_val){.mv_size = 8, .mv_data = num};
        v = (MDB_val){.mv_size = hl + ul + 2, .mv_data = entry};
        mrc = mdb_put(txn, s->dbi_deleted, &k, &v, MDB_APPEND);
    }
    if (mrc == 0 && next > CV_STORE_DELETED_KEEP) {
        be64_put(num, next - CV_STORE_DELETED_KEEP);
        k = (MDB_val){.mv_size = 8, .mv_data = num};
        mrc = mdb_del(txn, s->dbi_deleted, &k, NULL);
        if (mrc == MDB_NOTFOUND)
            mrc = 0;
    }
    if (cur)
        mdb_cursor_close(cur);
    return cv__lmdb_rc(s, mrc, "account delete (log)");
}

static int lmdb_accounts_deleted(cv_store_t *st, uint64_t *cursor,
                                 int (*cb)(void *ctx, const char *host, const char *user),
                                 void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    unsigned char num[8];
    int mrc, rc = cv__lmdb_begin(s, MDB_RDONLY, "deleted accounts (begin)", &txn);

    if (rc < 0)
        return rc;
    mrc = mdb_cursor_open(txn, s->dbi_deleted, &cur);
    if (mrc == 0 && !cb) {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (mrc == 0 && k.mv_size == 8)
            *cursor = be64_get(k.mv_data);
    } else if (mrc == 0) {
        be64_put(num, *cursor + 1);
        k = (MDB_val){.mv_size = 8, .mv_data = num};
        for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0 && rc == 0;
             mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const char *host = v.mv_data, *end = host + v.mv_size;
            const char *user = memchr(host, '\0', v.mv_size);
            if (k.mv_size != 8 || !user || ++user >= end || end[-1] != '\0')
                continue; /* damaged: nothing to tell */
            *cursor = be64_get(k.mv_data);
            rc = cb(ctx, host, user);
        }
    }
    if (mrc == MDB_NOTFOUND)
        mrc = 0;
    if (rc == 0)
        rc = cv__lmdb_rc(s, mrc, "deleted accounts (read)");
    if (cur)
        mdb_cursor_close(cur);
    cv__lmdb_end(txn);
    return rc;
}

static int lmdb_account_delete(cv_store_t *st, const char *host, const char *user)
{
    store_lmdb_t *s = lmdb_of(st);
    MDB_txn *txn = NULL;
    lmdb_key_t k;
    int rc;

    rc = lmdb_key_find(&k, host, user);
    if (rc == 0)
        rc = cv__lmdb_begin(s, 0, "account delete (begin)", &txn);
    if (rc == 0)
        rc = cv__lmdb_found(s, mdb_del(txn, s->dbi_accounts, &k.val, NULL), "account delete (del)");
    /* The account and its data go in one transaction: no crash leaves data whose owner
     * is gone, to be inherited by a later account of the same name. */
    if (rc == 0)
        rc = cv__store_lmdb_user_purge(s, txn, host, user);
    if (rc == 0)
        rc = deleted_log_append(s, txn, host, user);
    if (rc == 0)
        rc = cv__lmdb_commit(s, &txn, "account delete (commit)");
    cv__lmdb_end(txn);
    return rc;
}

/*
 * Walks the keys of host in one snapshot: a range scan from host "\0" while the prefix
 * matches. The separator is what keeps "a.b" from seeing "a.b.c": no byte of a host
 * name can be NUL, so host "\0" is a prefix only of that host's own keys.
 * cb NULL just counts.
 */
static int lmdb_account_walk(store_lmdb_t *s, const char *host,
                             int (*cb)(void *ctx, const char *user), void *ctx, size_t *count)
{
    char name[CV_STORE_LMDB_KEY_MAX + 1];
    MDB_cursor *cur = NULL;
    MDB_txn *txn = NULL;
    MDB_val k, v;
    lmdb_key_t prefix;
    size_t n = 0;
    size_t plen;
    int mrc;
    int rc = 0;

    /* A host too long to be a key prefix has no accounts. */
    if (lmdb_key_make(&prefix, host, NULL) < 0)
        goto out;
    plen = prefix.val.mv_size;
    rc = cv__lmdb_begin(s, MDB_RDONLY, "account list (begin)", &txn);
    if (rc < 0)
        goto out;
    mrc = mdb_cursor_open(txn, s->dbi_accounts, &cur);
    if (mrc != 0) {
        cur = NULL;
        rc = cv__store_lmdb_fail(s, mrc, "account list (cursor)");
        goto out;
    }
    k = prefix.val;
    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (mrc == 0) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix.bytes, plen) != 0)
            break;
        n++;
        if (cb != NULL) {
            size_t ulen = k.mv_size - plen;
            /* Only a file written by an LMDB built with a larger key bound can hold a
             * key longer than this interface allows. */
            if (ulen >= sizeof name) {
                cv_error("storage: account key of %zu bytes exceeds the supported bound",
                         k.mv_size);
                rc = CV_ESTORE;
                goto out;
            }
            memcpy(name, (const char *)k.mv_data + plen, ulen);
            name[ulen] = '\0';
            rc = cb(ctx, name);
            if (rc != 0)
                goto out;
        }
        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = cv__store_lmdb_fail(s, mrc, "account list (next)");
        goto out;
    }
    rc = 0;
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    cv__lmdb_end(txn);
    if (count != NULL)
        *count = n;
    return rc;
}

static int lmdb_account_list(cv_store_t *st, const char *host,
                             int (*cb)(void *ctx, const char *user), void *ctx)
{
    return lmdb_account_walk(lmdb_of(st), host, cb, ctx, NULL);
}

static int lmdb_account_count(cv_store_t *st, const char *host, size_t *count)
{
    size_t n = 0;
    int rc;

    rc = lmdb_account_walk(lmdb_of(st), host, NULL, NULL, &n);
    if (rc == 0)
        *count = n;
    return rc;
}

/* Creates dir and its missing parents; directories created here get mode 0700 because
 * the database holds credentials. */
static int lmdb_mkdirs(const char *dir)
{
    struct stat sb;
    char *path;
    int rc = 0;

    path = strdup(dir);
    if (path == NULL) {
        rc = CV_ENOMEM;
        goto out;
    }
    for (char *p = path + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            cv_error("storage: cannot create directory %s: %s", path, strerror(errno));
            rc = CV_ESTORE;
            goto out;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        cv_error("storage: %s is not a directory", dir);
        rc = CV_ESTORE;
        goto out;
    }
    if ((sb.st_mode & 077) != 0)
        cv_warn("storage: data directory %s is accessible to other users (mode %03o); "
                "it holds credentials, 0700 is advised",
                dir, (unsigned)(sb.st_mode & 0777));
out:
    free(path);
    return rc;
}

static int lmdb_schema_put(store_lmdb_t *s, MDB_txn *txn, MDB_val *k)
{
    unsigned char ver[4];
    MDB_val v = {.mv_size = sizeof ver, .mv_data = ver};

    ver[0] = (unsigned char)(LMDB_SCHEMA_VERSION >> 24);
    ver[1] = (unsigned char)(LMDB_SCHEMA_VERSION >> 16);
    ver[2] = (unsigned char)(LMDB_SCHEMA_VERSION >> 8);
    ver[3] = (unsigned char)LMDB_SCHEMA_VERSION;
    return mdb_put(txn, s->dbi_meta, k, &v, 0);
}

/* Opens the named databases and checks, upgrades or writes the schema version, in one
 * write transaction so a crash never leaves a half-initialized environment. */
static int lmdb_init_dbs(store_lmdb_t *s, const char *dir)
{
    MDB_txn *txn = NULL;
    MDB_val k = {.mv_size = sizeof lmdb_schema_key - 1, .mv_data = (void *)lmdb_schema_key};
    MDB_val v;
    uint32_t have;
    int mrc;
    int rc;

    rc = cv__lmdb_begin(s, 0, "open (begin)", &txn);
    if (rc < 0)
        goto out;
    mrc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->dbi_meta);
    if (mrc == 0)
        mrc = mdb_dbi_open(txn, "accounts", MDB_CREATE, &s->dbi_accounts);
    /* Added after schema 3 without a version change: a build that predates it ignores it
       (and does not log its deletions). */
    if (mrc == 0)
        mrc = mdb_dbi_open(txn, "deleted", MDB_CREATE, &s->dbi_deleted);
    for (int i = 0; mrc == 0 && i < CV__LMDB_USER_DBS; i++)
        mrc = mdb_dbi_open(txn, cv__store_lmdb_user_db_names[i], MDB_CREATE, &s->dbi_user[i]);
    rc = cv__lmdb_rc(s, mrc, "open (named databases)");
    if (rc < 0)
        goto out;
    mrc = mdb_get(txn, s->dbi_meta, &k, &v);
    if (mrc == MDB_NOTFOUND) {
        rc = cv__lmdb_rc(s, lmdb_schema_put(s, txn, &k), "open (write schema version)");
        if (rc < 0)
            goto out;
    } else if (mrc != 0) {
        rc = cv__store_lmdb_fail(s, mrc, "open (read schema version)");
        goto out;
    } else {
        const unsigned char *p = v.mv_data;
        if (v.mv_size != 4) {
            cv_error("storage: %s: corrupt schema version record (%zu bytes)", dir, v.mv_size);
            rc = CV_ESTORE;
            goto out;
        }
        have = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (have < LMDB_SCHEMA_VERSION_MIN || have > LMDB_SCHEMA_VERSION) {
            cv_error("storage: %s has schema version %u, this build reads versions %u to %u%s", dir,
                     (unsigned)have, LMDB_SCHEMA_VERSION_MIN, LMDB_SCHEMA_VERSION,
                     have > LMDB_SCHEMA_VERSION ? " (written by a newer Corvid)" : "");
            rc = CV_ESTORE;
            goto out;
        }
        /* Older layouts are subsets of this one: the databases just created (and the
         * offline counter, below) complete them, and the new version number commits with
         * them. */
        if (have < LMDB_SCHEMA_VERSION) {
            rc = cv__lmdb_rc(s, lmdb_schema_put(s, txn, &k), "open (upgrade schema version)");
            if (rc < 0)
                goto out;
            cv_info("storage: %s upgraded from schema version %u to %u", dir, (unsigned)have,
                    LMDB_SCHEMA_VERSION);
        }
    }
    rc = cv__store_lmdb_offline_seq_init(s, txn);
    if (rc == 0)
        rc = cv__lmdb_commit(s, &txn, "open (commit)");
out:
    cv__lmdb_end(txn);
    return rc;
}

static void lmdb_close(cv_store_t *st)
{
    store_lmdb_t *s = lmdb_of(st);

    /* Pending writes complete (and their callbacks run) before the environment goes. */
    cv__store_writer_stop(&s->writer);
    if (s->env != NULL)
        mdb_env_close(s->env);
    free(s);
}

static int lmdb_open(cv_store_t **out, const cv_store_opts_t *opts)
{
    store_lmdb_t *s;
    MDB_envinfo info;
    int dead = 0;
    int mrc;
    int rc;

    s = calloc(1, sizeof *s);
    if (s == NULL) {
        rc = CV_ENOMEM;
        goto out;
    }
    atomic_init(&s->commits, 0);
    s->base.ops = &cv__store_lmdb_ops;
    s->map_size = opts->map_size;
    s->on_fatal = opts->on_fatal;
    s->fatal_arg = opts->fatal_arg;
    atomic_init(&s->fatal_reported, 0);
    rc = lmdb_mkdirs(opts->dir);
    if (rc < 0)
        goto out;
    mrc = mdb_env_create(&s->env);
    if (mrc != 0) {
        s->env = NULL;
        rc = cv__store_lmdb_fail(s, mrc, "open (create environment)");
        goto out;
    }
    mrc = mdb_env_set_maxdbs(s->env, LMDB_MAX_DBS);
    if (mrc == 0)
        mrc = mdb_env_set_maxreaders(s->env, LMDB_MAX_READERS);
    if (mrc == 0 && opts->map_size != 0)
        mrc = mdb_env_set_mapsize(s->env, opts->map_size);
    if (mrc != 0) {
        rc = cv__store_lmdb_fail(s, mrc, "open (configure environment)");
        goto out;
    }
    mrc = mdb_env_open(s->env, opts->dir, MDB_NOTLS, 0600);
    if (mrc != 0) {
        cv_error("storage: cannot open LMDB environment in %s: %s", opts->dir, mdb_strerror(mrc));
        rc = CV_ESTORE;
        goto out;
    }
    /* The map size may exceed the request when the file is already bigger. */
    mrc = mdb_env_info(s->env, &info);
    if (mrc != 0) {
        rc = cv__store_lmdb_fail(s, mrc, "open (environment info)");
        goto out;
    }
    s->map_size = info.me_mapsize;
    /* Key buffers are sized for CV_STORE_LMDB_KEY_MAX; a library built with a smaller
     * key bound would reject keys the interface promises to accept. */
    if (mdb_env_get_maxkeysize(s->env) < CV_STORE_LMDB_KEY_MAX + 1) {
        cv_error("storage: this LMDB accepts keys of %d bytes, Corvid needs %d",
                 mdb_env_get_maxkeysize(s->env), CV_STORE_LMDB_KEY_MAX + 1);
        rc = CV_ESTORE;
        goto out;
    }
    /* Reader slots of processes that died while reading would pin old pages forever. */
    mrc = mdb_reader_check(s->env, &dead);
    if (mrc != 0) {
        rc = cv__store_lmdb_fail(s, mrc, "open (reader check)");
        goto out;
    }
    if (dead > 0)
        cv_warn("storage: cleared %d stale LMDB reader slot(s) in %s", dead, opts->dir);
    rc = lmdb_init_dbs(s, opts->dir);
    if (rc < 0)
        goto out;
    rc = cv__store_writer_start(&s->writer, cv__store_lmdb_run_batch, s);
    if (rc < 0)
        goto out;
    cv_info("storage: LMDB environment %s open, map size %zu bytes", opts->dir, s->map_size);
    *out = &s->base;
    s = NULL;
out:
    if (s != NULL)
        lmdb_close(&s->base);
    return rc;
}

const cv__store_ops_t cv__store_lmdb_ops = {
    .name = "lmdb",
    .open = lmdb_open,
    .close = lmdb_close,
    .account_create = lmdb_account_create,
    .account_create_many = lmdb_account_create_many,
    .account_set_cred = lmdb_account_set_cred,
    .account_get = lmdb_account_get,
    .account_exists = lmdb_account_exists,
    .account_delete = lmdb_account_delete,
    .accounts_deleted = lmdb_accounts_deleted,
    .account_list = lmdb_account_list,
    .account_count = lmdb_account_count,
    .roster_get = cv__store_lmdb_roster_get,
    .roster_meta = cv__store_lmdb_roster_meta,
    .roster_get_item = cv__store_lmdb_roster_get_item,
    .offline_fetch = cv__store_lmdb_offline_fetch,
    .offline_count = cv__store_lmdb_offline_count,
    .blob_get = cv__store_lmdb_blob_get,
    .block_list = cv__store_lmdb_block_list,
    .block_contains = cv__store_lmdb_block_contains,
    .last_get = cv__store_lmdb_last_get,
    .roster_put = cv__store_lmdb_roster_put,
    .roster_remove = cv__store_lmdb_roster_remove,
    .offline_push = cv__store_lmdb_offline_push,
    .offline_restore = cv__store_lmdb_offline_restore,
    .offline_delete = cv__store_lmdb_offline_delete,
    .offline_delete_upto = cv__store_lmdb_offline_delete_upto,
    .blob_set = cv__store_lmdb_blob_set,
    .block_add = cv__store_lmdb_block_add,
    .block_remove = cv__store_lmdb_block_remove,
    .last_set = cv__store_lmdb_last_set,
};
