/*
 * storage/store_lmdb_user.c — per-user data in the LMDB backend: rosters, offline
 * queues, vCards, private XML, blocklists, last activity (layout in docs/storage.md).
 *
 * Every key starts with host "\0" user "\0", so one user's entries in any database are
 * one contiguous range (deleted with the account by a range scan) and nobody else's key
 * shares that prefix: names hold no NUL byte.
 *
 * Reads run on the caller's thread in a read snapshot. Writes are encoded on the
 * caller's thread into one heap request (key and value ready to store) and applied by
 * the group-commit writer thread: cv__store_lmdb_run_batch() applies a whole batch in one
 * write transaction, each request in a nested transaction so that one failing request
 * (quota, missing account, full map) is rolled back alone while the rest of its batch
 * commits, then commits and syncs once.
 */
#include <lmdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corvid/buf.h"
#include "corvid/core.h"
#include "corvid/log.h"
#include "corvid/store.h"
#include "store_int.h"

/* Format byte of the blob-carrying records (offline, vCard, private, last activity). */
#define USER_RECORD_V1 1u
/* roster_meta and offline_meta values: two 8-byte big-endian counters. */
#define USER_META_SIZE 16

const char *const cv__store_lmdb_user_db_names[CV__LMDB_USER_DBS] = {
    [CV__LMDB_DB_ROSTERS] = "rosters",     [CV__LMDB_DB_ROSTER_META] = "roster_meta",
    [CV__LMDB_DB_OFFLINE] = "offline",     [CV__LMDB_DB_OFFLINE_META] = "offline_meta",
    [CV__LMDB_DB_VCARDS] = "vcards",       [CV__LMDB_DB_PRIVATE] = "private",
    [CV__LMDB_DB_BLOCKLIST] = "blocklist", [CV__LMDB_DB_LAST] = "last",
};

typedef cv__store_lmdb_t store_lmdb_t;

static store_lmdb_t *lmdb_of(cv_store_t *st)
{
    return (store_lmdb_t *)st;
}

static void be64_put(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static uint64_t be64_get(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* A per-user key: the prefix host "\0" user "\0" (plen bytes) and an optional tail. */
typedef struct ukey_s {
    unsigned char b[CV__LMDB_KEY_BYTES];
    size_t plen;
    MDB_val val;
} ukey_t;

/* Returns 0 or CV_ELIMIT (the key would exceed LMDB's bound). */
static int ukey_make(ukey_t *k, const char *host, const char *user, const void *t1, size_t l1,
                     const void *t2, size_t l2)
{
    size_t hlen = strlen(host);
    size_t ulen = strlen(user);
    size_t len;

    if (hlen + ulen + 2 > sizeof k->b || l1 > sizeof k->b || l2 > sizeof k->b)
        return CV_ELIMIT;
    len = hlen + ulen + 2 + l1 + (t2 != NULL ? 1 + l2 : 0);
    if (len > sizeof k->b)
        return CV_ELIMIT;
    memcpy(k->b, host, hlen + 1);
    memcpy(k->b + hlen + 1, user, ulen + 1);
    k->plen = hlen + ulen + 2;
    if (l1 != 0)
        memcpy(k->b + k->plen, t1, l1);
    /* A second part (private XML: name "\0" namespace) follows a separator. */
    if (t2 != NULL) {
        k->b[k->plen + l1] = '\0';
        if (l2 != 0)
            memcpy(k->b + k->plen + l1 + 1, t2, l2);
    }
    k->val.mv_data = k->b;
    k->val.mv_size = len;
    return 0;
}

static int ukey_prefix(ukey_t *k, const char *host, const char *user)
{
    return ukey_make(k, host, user, NULL, 0, NULL, 0);
}

static int ukey_str(ukey_t *k, const char *host, const char *user, const char *tail)
{
    return ukey_make(k, host, user, tail, strlen(tail), NULL, 0);
}

static int key_has_prefix(const MDB_val *k, const unsigned char *prefix, size_t plen)
{
    return k->mv_size >= plen && memcmp(k->mv_data, prefix, plen) == 0;
}

static int cursor_open(const store_lmdb_t *s, MDB_txn *txn, MDB_dbi dbi, const char *what,
                       MDB_cursor **cur)
{
    int mrc = mdb_cursor_open(txn, dbi, cur);

    if (mrc != 0)
        *cur = NULL;
    return cv__lmdb_rc(s, mrc, what);
}

/* Called for one entry of a prefix scan; plen is the prefix's length. Nonzero stops the
 * scan and is its result. */
typedef int (*scan_fn)(void *ctx, const MDB_val *k, const MDB_val *v, size_t plen);

/*
 * Calls each for the entries of dbi whose keys start with prefix, in key order, inside
 * txn. cursor_what and next_what name the two LMDB calls in failure messages.
 */
static int prefix_scan(const store_lmdb_t *s, MDB_txn *txn, MDB_dbi dbi,
                       const unsigned char *prefix, size_t plen, scan_fn each, void *ctx,
                       const char *cursor_what, const char *next_what)
{
    MDB_cursor *cur = NULL;
    MDB_val k = {.mv_size = plen, .mv_data = (void *)prefix};
    MDB_val v;
    int mrc;
    int rc;

    rc = cursor_open(s, txn, dbi, cursor_what, &cur);
    if (rc < 0)
        goto out;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!key_has_prefix(&k, prefix, plen))
            break;
        rc = each(ctx, &k, &v, plen);
        if (rc != 0)
            goto out;
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = cv__store_lmdb_fail(s, mrc, next_what);
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    return rc;
}

static int meta_decode(const MDB_val *v, uint64_t *a, uint64_t *b)
{
    if (v->mv_size != USER_META_SIZE) {
        cv_error("storage: corrupt per-user counter record (%zu bytes)", v->mv_size);
        return CV_ESTORE;
    }
    *a = be64_get(v->mv_data);
    *b = be64_get((const unsigned char *)v->mv_data + 8);
    return 0;
}

/* Reads the meta record (two counters) of the user prefix; a missing one gives a0, b0. */
static int meta_get(store_lmdb_t *s, MDB_txn *txn, MDB_dbi dbi, const unsigned char *prefix,
                    size_t plen, uint64_t a0, uint64_t b0, uint64_t *a, uint64_t *b)
{
    MDB_val key = {.mv_size = plen, .mv_data = (void *)prefix};
    MDB_val v;
    int mrc;

    mrc = mdb_get(txn, dbi, &key, &v);
    if (mrc == MDB_NOTFOUND) {
        *a = a0;
        *b = b0;
        return 0;
    }
    if (mrc != 0)
        return cv__store_lmdb_fail(s, mrc, "counter read");
    return meta_decode(&v, a, b);
}

static int meta_put(store_lmdb_t *s, MDB_txn *txn, MDB_dbi dbi, const unsigned char *prefix,
                    size_t plen, uint64_t a, uint64_t b)
{
    unsigned char buf[USER_META_SIZE];
    MDB_val key = {.mv_size = plen, .mv_data = (void *)prefix};
    MDB_val v = {.mv_size = sizeof buf, .mv_data = buf};

    be64_put(buf, a);
    be64_put(buf + 8, b);
    return cv__lmdb_rc(s, mdb_put(txn, dbi, &key, &v, 0), "counter write");
}

/*
 * An account's offline queue record (offline_meta): the next sequence number, how many
 * messages are queued, and the first number this account was given. Numbers come from
 * one counter for the whole database (meta "offline_next"), so an account created again
 * under a deleted one's name starts above every number the deleted one had: a restore
 * (a collected message whose session went away) carrying an older number belonged to the
 * deleted account and is refused. Records of schema 2 are 16 bytes, without first (0:
 * any number is the account's own).
 */
#define OFFLINE_META_SIZE 24
typedef struct offline_meta_s {
    uint64_t next, count, first;
    int found; /* the record exists: this account was given numbers already */
} offline_meta_t;

static const char offline_next_key[] = "offline_next";

static int offline_meta_decode(const MDB_val *v, offline_meta_t *m)
{
    const unsigned char *p = v->mv_data;

    if (v->mv_size != USER_META_SIZE && v->mv_size != OFFLINE_META_SIZE) {
        cv_error("storage: corrupt offline queue record (%zu bytes)", v->mv_size);
        return CV_ESTORE;
    }
    m->next = be64_get(p);
    m->count = be64_get(p + 8);
    m->first = v->mv_size == OFFLINE_META_SIZE ? be64_get(p + 16) : 0;
    m->found = 1;
    return 0;
}

/* Reads the offline queue record of the user prefix; a missing one is all zero. */
static int offline_meta_get(store_lmdb_t *s, MDB_txn *txn, const unsigned char *prefix, size_t plen,
                            offline_meta_t *m)
{
    MDB_val key = {.mv_size = plen, .mv_data = (void *)prefix};
    MDB_val v;
    int mrc;

    memset(m, 0, sizeof *m);
    mrc = mdb_get(txn, s->dbi_user[CV__LMDB_DB_OFFLINE_META], &key, &v);
    if (mrc == MDB_NOTFOUND)
        return 0;
    if (mrc != 0)
        return cv__store_lmdb_fail(s, mrc, "offline queue record read");
    return offline_meta_decode(&v, m);
}

static int offline_meta_put(store_lmdb_t *s, MDB_txn *txn, const unsigned char *prefix, size_t plen,
                            const offline_meta_t *m)
{
    unsigned char buf[OFFLINE_META_SIZE];
    MDB_val key = {.mv_size = plen, .mv_data = (void *)prefix};
    MDB_val v = {.mv_size = sizeof buf, .mv_data = buf};

    be64_put(buf, m->next);
    be64_put(buf + 8, m->count);
    be64_put(buf + 16, m->first);
    return cv__lmdb_rc(s, mdb_put(txn, s->dbi_user[CV__LMDB_DB_OFFLINE_META], &key, &v, 0),
                       "offline queue record write");
}

/* The database-wide next offline sequence number. Written at open (see
   cv__store_lmdb_offline_seq_init), so a missing one is damage, not a deleted account:
   CV_ESTORE, never CV_ENOTFOUND (which a restore would take for one). */
static int offline_next_get(store_lmdb_t *s, MDB_txn *txn, uint64_t *next)
{
    MDB_val key = {.mv_size = sizeof offline_next_key - 1, .mv_data = (void *)offline_next_key};
    MDB_val v;
    int mrc = mdb_get(txn, s->dbi_meta, &key, &v);

    if (mrc == MDB_NOTFOUND) {
        cv_error("storage: the offline counter record is missing from \"meta\"");
        return CV_ESTORE;
    }
    if (mrc != 0)
        return cv__store_lmdb_fail(s, mrc, "offline counter read");
    if (v.mv_size != 8) {
        cv_error("storage: corrupt offline counter record (%zu bytes)", v.mv_size);
        return CV_ESTORE;
    }
    *next = be64_get(v.mv_data);
    return 0;
}

static int offline_next_put(store_lmdb_t *s, MDB_txn *txn, uint64_t next)
{
    unsigned char buf[8];
    MDB_val key = {.mv_size = sizeof offline_next_key - 1, .mv_data = (void *)offline_next_key};
    MDB_val v = {.mv_size = sizeof buf, .mv_data = buf};

    be64_put(buf, next);
    return cv__lmdb_rc(s, mdb_put(txn, s->dbi_meta, &key, &v, 0), "offline counter write");
}

int cv__store_lmdb_offline_seq_init(cv__store_lmdb_t *s, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    MDB_val key = {.mv_size = sizeof offline_next_key - 1, .mv_data = (void *)offline_next_key};
    offline_meta_t m;
    uint64_t next = 1;
    int mrc = mdb_get(txn, s->dbi_meta, &key, &v);
    int rc;

    if (mrc != MDB_NOTFOUND) /* there (checked by its first use) or unreadable */
        return mrc == 0 ? 0 : cv__store_lmdb_fail(s, mrc, "offline counter init (read)");
    /* A database from before the shared counter: start above every account's own. No
       restore can be on its way from before this open. */
    rc = cursor_open(s, txn, s->dbi_user[CV__LMDB_DB_OFFLINE_META], "offline counter init (cursor)",
                     &cur);
    if (rc < 0)
        goto out;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rc = offline_meta_decode(&v, &m);
        if (rc < 0)
            goto out;
        if (m.next > next)
            next = m.next;
    }
    if (mrc != MDB_NOTFOUND) {
        rc = cv__store_lmdb_fail(s, mrc, "offline counter init (next)");
        goto out;
    }
    rc = offline_next_put(s, txn, next);
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Reads                                                                              */

/* Copies the key tail after the prefix into a C string (tails hold no NUL and fit). */
static void key_tail(const MDB_val *k, size_t plen, char *out)
{
    size_t n = k->mv_size - plen;

    memcpy(out, (const char *)k->mv_data + plen, n);
    out[n] = '\0';
}

/* The caller's callback and its argument, for the scans that hand entries on. */
typedef struct scan_cb_s {
    union {
        cv__store_roster_cb roster;
        cv__store_offline_cb offline;
        cv__store_jid_cb jid;
    } cb;
    void *ctx;
    const char *host; /* names the user in the offline queue's corruption message */
    const char *user;
} scan_cb_t;

static int roster_each(void *arg, const MDB_val *k, const MDB_val *v, size_t plen)
{
    const scan_cb_t *sc = arg;
    const char *gv[CV_STORE_ROSTER_GROUPS_MAX];
    char contact[CV__LMDB_KEY_BYTES + 1];
    cv_store_roster_item_t item;
    int rc;

    key_tail(k, plen, contact);
    rc = cv__store_roster_decode(v->mv_data, v->mv_size, contact, &item, gv);
    if (rc == 0)
        rc = sc->cb.roster(sc->ctx, &item);
    return rc;
}

int cv__store_lmdb_roster_get(cv_store_t *st, const char *host, const char *user,
                              cv__store_roster_cb cb, void *ctx, uint64_t *ver)
{
    store_lmdb_t *s = lmdb_of(st);
    scan_cb_t sc = {.cb.roster = cb, .ctx = ctx};
    MDB_txn *txn = NULL;
    uint64_t v0 = 0, n0 = 0;
    ukey_t p;
    int rc = 0;

    /* A user whose prefix cannot be a key has no roster. */
    if (ukey_prefix(&p, host, user) < 0)
        goto out;
    rc = cv__lmdb_begin(s, MDB_RDONLY, "roster get (begin)", &txn);
    if (rc == 0)
        rc = meta_get(s, txn, s->dbi_user[CV__LMDB_DB_ROSTER_META], p.b, p.plen, 0, 0, &v0, &n0);
    if (rc == 0)
        rc = prefix_scan(s, txn, s->dbi_user[CV__LMDB_DB_ROSTERS], p.b, p.plen, roster_each, &sc,
                         "roster get (cursor)", "roster get (next)");
out:
    cv__lmdb_end(txn);
    if (ver != NULL)
        *ver = v0;
    return rc;
}

/* Reads the two counters of a meta database in a snapshot of their own. */
static int meta_read(store_lmdb_t *s, int db, const char *host, const char *user, uint64_t *a,
                     uint64_t a0, uint64_t *b)
{
    MDB_txn *txn = NULL;
    ukey_t p;
    int rc = 0;

    *a = a0;
    *b = 0;
    if (ukey_prefix(&p, host, user) < 0)
        goto out;
    rc = cv__lmdb_begin(s, MDB_RDONLY, "counter read (begin)", &txn);
    if (rc == 0)
        rc = meta_get(s, txn, s->dbi_user[db], p.b, p.plen, a0, 0, a, b);
out:
    cv__lmdb_end(txn);
    return rc;
}

int cv__store_lmdb_roster_meta(cv_store_t *st, const char *host, const char *user, uint64_t *ver,
                               size_t *n)
{
    uint64_t v = 0, c = 0;
    int rc = meta_read(lmdb_of(st), CV__LMDB_DB_ROSTER_META, host, user, &v, 0, &c);

    if (rc == 0) {
        if (ver != NULL)
            *ver = v;
        if (n != NULL)
            *n = (size_t)c;
    }
    return rc;
}

/* Makes the key of one entry for a lookup: an entry whose key cannot be stored does not
 * exist, so that is CV_ENOTFOUND. */
static int ukey_find(ukey_t *k, const char *host, const char *user, const char *tail)
{
    return ukey_str(k, host, user, tail) < 0 ? CV_ENOTFOUND : 0;
}

int cv__store_lmdb_roster_get_item(cv_store_t *st, const char *host, const char *user,
                                   const char *contact, cv_store_roster_item_t **out)
{
    store_lmdb_t *s = lmdb_of(st);
    const char *gv[CV_STORE_ROSTER_GROUPS_MAX];
    cv_store_roster_item_t item;
    MDB_txn *txn = NULL;
    MDB_val v;
    ukey_t k;
    int rc;

    rc = ukey_find(&k, host, user, contact);
    if (rc == 0)
        rc = cv__lmdb_begin(s, MDB_RDONLY, "roster item (begin)", &txn);
    if (rc == 0)
        rc = cv__lmdb_found(s, mdb_get(txn, s->dbi_user[CV__LMDB_DB_ROSTERS], &k.val, &v),
                            "roster item");
    if (rc == 0)
        rc = cv__store_roster_decode(v.mv_data, v.mv_size, contact, &item, gv);
    if (rc == 0)
        rc = cv__store_roster_copy(&item, out);
    cv__lmdb_end(txn);
    return rc;
}

static int offline_each(void *arg, const MDB_val *k, const MDB_val *v, size_t plen)
{
    const scan_cb_t *sc = arg;
    const unsigned char *rec = v->mv_data;

    /* A damaged record must not hide the ones behind it for good: one without a number
     * is skipped, one with a number goes to the caller as unreadable (data NULL), so it
     * can be deleted. */
    if (k->mv_size != plen + 8) {
        cv_error("storage: offline message of %s@%s with a damaged key (%zu bytes): skipped",
                 sc->user, sc->host, k->mv_size);
        return 0;
    }
    uint64_t seq = be64_get((const unsigned char *)k->mv_data + plen);
    if (v->mv_size < 9 || rec[0] != USER_RECORD_V1) {
        cv_error("storage: offline message %llu of %s@%s is damaged (%zu bytes)",
                 (unsigned long long)seq, sc->user, sc->host, v->mv_size);
        return sc->cb.offline(sc->ctx, seq, 0, NULL, 0);
    }
    return sc->cb.offline(sc->ctx, seq, be64_get(rec + 1), rec + 9, v->mv_size - 9);
}

int cv__store_lmdb_offline_fetch(cv_store_t *st, const char *host, const char *user,
                                 cv__store_offline_cb cb, void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    scan_cb_t sc = {.cb.offline = cb, .ctx = ctx, .host = host, .user = user};
    MDB_txn *txn = NULL;
    ukey_t p;
    int rc = 0;

    if (ukey_prefix(&p, host, user) < 0)
        goto out;
    rc = cv__lmdb_begin(s, MDB_RDONLY, "offline fetch (begin)", &txn);
    if (rc == 0)
        rc = prefix_scan(s, txn, s->dbi_user[CV__LMDB_DB_OFFLINE], p.b, p.plen, offline_each, &sc,
                         "offline fetch (cursor)", "offline fetch (next)");
out:
    cv__lmdb_end(txn);
    return rc;
}

int cv__store_lmdb_offline_count(cv_store_t *st, const char *host, const char *user, size_t *n)
{
    store_lmdb_t *s = lmdb_of(st);
    MDB_txn *txn = NULL;
    offline_meta_t m = {0};
    ukey_t p;
    int rc = 0;

    if (ukey_prefix(&p, host, user) < 0)
        goto out;
    rc = cv__lmdb_begin(s, MDB_RDONLY, "offline count (begin)", &txn);
    if (rc == 0)
        rc = offline_meta_get(s, txn, p.b, p.plen, &m);
out:
    if (rc == 0)
        *n = (size_t)m.count;
    cv__lmdb_end(txn);
    return rc;
}

/* Looks up one record of a blob database and checks its format byte; the record stays
 * valid until txn ends. */
static int blob_lookup(store_lmdb_t *s, MDB_txn *txn, MDB_dbi dbi, const ukey_t *k, size_t fixed,
                       const unsigned char **rec, size_t *len)
{
    MDB_val key = k->val;
    MDB_val v;
    int rc;

    rc = cv__lmdb_found(s, mdb_get(txn, dbi, &key, &v), "blob read");
    if (rc < 0)
        return rc;
    *rec = v.mv_data;
    *len = v.mv_size;
    if (v.mv_size < 1 + fixed || (*rec)[0] != USER_RECORD_V1) {
        cv_error("storage: corrupt record (%zu bytes)", v.mv_size);
        return CV_ESTORE;
    }
    return 0;
}

/* Builds the key of the vCard (name NULL) or of a private XML element. */
static int blob_key(ukey_t *k, MDB_dbi *dbi, store_lmdb_t *s, const char *host, const char *user,
                    const char *name, const char *ns)
{
    if (name == NULL) {
        *dbi = s->dbi_user[CV__LMDB_DB_VCARDS];
        return ukey_prefix(k, host, user);
    }
    *dbi = s->dbi_user[CV__LMDB_DB_PRIVATE];
    return ukey_make(k, host, user, name, strlen(name), ns, strlen(ns));
}

int cv__store_lmdb_blob_get(cv_store_t *st, const char *host, const char *user, const char *name,
                            const char *ns, cv_buf_t *out)
{
    store_lmdb_t *s = lmdb_of(st);
    const unsigned char *rec;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    size_t len;
    ukey_t k;
    int rc;

    if (blob_key(&k, &dbi, s, host, user, name, ns) < 0) {
        rc = CV_ENOTFOUND;
        goto out;
    }
    rc = cv__lmdb_begin(s, MDB_RDONLY, "blob read (begin)", &txn);
    if (rc == 0)
        rc = blob_lookup(s, txn, dbi, &k, 0, &rec, &len);
    if (rc == 0)
        rc = cv_buf_append(out, rec + 1, len - 1);
out:
    cv__lmdb_end(txn);
    return rc;
}

static int jid_each(void *arg, const MDB_val *k, const MDB_val *v, size_t plen)
{
    const scan_cb_t *sc = arg;
    char jid[CV__LMDB_KEY_BYTES + 1];

    (void)v;
    key_tail(k, plen, jid);
    return sc->cb.jid(sc->ctx, jid);
}

int cv__store_lmdb_block_list(cv_store_t *st, const char *host, const char *user,
                              cv__store_jid_cb cb, void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    scan_cb_t sc = {.cb.jid = cb, .ctx = ctx};
    MDB_txn *txn = NULL;
    ukey_t p;
    int rc = 0;

    if (ukey_prefix(&p, host, user) < 0)
        goto out;
    rc = cv__lmdb_begin(s, MDB_RDONLY, "blocklist (begin)", &txn);
    if (rc == 0)
        rc = prefix_scan(s, txn, s->dbi_user[CV__LMDB_DB_BLOCKLIST], p.b, p.plen, jid_each, &sc,
                         "blocklist (cursor)", "blocklist (next)");
out:
    cv__lmdb_end(txn);
    return rc;
}

int cv__store_lmdb_block_contains(cv_store_t *st, const char *host, const char *user,
                                  const char *jid)
{
    store_lmdb_t *s = lmdb_of(st);
    MDB_txn *txn = NULL;
    MDB_val v;
    ukey_t k;
    int rc;

    rc = ukey_find(&k, host, user, jid);
    if (rc == 0)
        rc = cv__lmdb_begin(s, MDB_RDONLY, "blocklist lookup (begin)", &txn);
    if (rc == 0)
        rc = cv__lmdb_found(s, mdb_get(txn, s->dbi_user[CV__LMDB_DB_BLOCKLIST], &k.val, &v),
                            "blocklist lookup");
    cv__lmdb_end(txn);
    return rc;
}

int cv__store_lmdb_last_get(cv_store_t *st, const char *host, const char *user, uint64_t *secs,
                            cv_buf_t *status)
{
    store_lmdb_t *s = lmdb_of(st);
    const unsigned char *rec;
    MDB_txn *txn = NULL;
    size_t len;
    ukey_t k;
    int rc;

    if (ukey_prefix(&k, host, user) < 0) {
        rc = CV_ENOTFOUND;
        goto out;
    }
    rc = cv__lmdb_begin(s, MDB_RDONLY, "last activity (begin)", &txn);
    if (rc == 0)
        rc = blob_lookup(s, txn, s->dbi_user[CV__LMDB_DB_LAST], &k, 8, &rec, &len);
    if (rc < 0)
        goto out;
    if (secs != NULL)
        *secs = be64_get(rec + 1);
    if (status != NULL && len > 9)
        rc = cv_buf_append(status, rec + 9, len - 9);
out:
    cv__lmdb_end(txn);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Writes: requests built on the caller's thread                                      */

enum {
    OP_ROSTER_PUT,
    OP_ROSTER_REMOVE,
    OP_OFFLINE_PUSH,
    OP_OFFLINE_RESTORE, /* a message put back under its old sequence number */
    OP_OFFLINE_DELETE_UPTO,
    OP_OFFLINE_DELETE, /* the listed sequence numbers (value: nitems 8-byte BE numbers) */
    OP_BLOB_SET,       /* vlen 0: delete */
    OP_BLOCK_ADD,
    OP_BLOCK_REMOVE,
    OP_BLOCK_CLEAR,
    OP_LAST_SET,
};

/* One queued write: key bytes (klen, starting with the plen-byte user prefix), then
 * vlen bytes of value or, for blocklist changes, nitems u16-length-prefixed JIDs, or for
 * an offline delete nitems 8-byte sequence numbers. */
typedef struct ureq_s {
    cv__store_req_t base; /* first member: the writer frees the block through it */
    int op;
    MDB_dbi dbi;
    uint64_t arg; /* offline quota, last sequence to delete, blocklist bound */
    size_t plen;
    size_t klen;
    size_t vlen;
    size_t nitems;
    unsigned char bytes[];
} ureq_t;

/* Allocates a request for key k (copied) with room for vlen value bytes. */
static int ureq_new(int op, MDB_dbi dbi, const ukey_t *k, size_t vlen, ureq_t **out)
{
    ureq_t *r = malloc(sizeof *r + k->val.mv_size + vlen);

    if (r == NULL)
        return CV_ENOMEM;
    memset(r, 0, sizeof *r);
    r->op = op;
    r->dbi = dbi;
    r->plen = k->plen;
    r->klen = k->val.mv_size;
    r->vlen = vlen;
    memcpy(r->bytes, k->b, r->klen);
    *out = r;
    return 0;
}

static unsigned char *ureq_val(ureq_t *r)
{
    return r->bytes + r->klen;
}

/* Queues r; on failure frees it, so cb never runs. */
static int ureq_submit(store_lmdb_t *s, ureq_t *r, cv_store_done_fn cb, void *ctx)
{
    int rc;

    r->base.cb = cb;
    r->base.ctx = ctx;
    rc = cv__store_writer_submit(&s->writer, &r->base);
    if (rc < 0)
        free(r);
    return rc;
}

int cv__store_lmdb_roster_put(cv_store_t *st, const char *host, const char *user,
                              const cv_store_roster_item_t *item, cv_store_done_fn cb, void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    ureq_t *r;
    size_t size;
    ukey_t k;
    int rc;

    rc = cv__store_roster_encoded_size(item, &size);
    if (rc == 0)
        rc = ukey_str(&k, host, user, item->contact);
    if (rc == 0)
        rc = ureq_new(OP_ROSTER_PUT, s->dbi_user[CV__LMDB_DB_ROSTERS], &k, size, &r);
    if (rc < 0)
        return rc;
    cv__store_roster_encode(item, ureq_val(r));
    return ureq_submit(s, r, cb, ctx);
}

int cv__store_lmdb_roster_remove(cv_store_t *st, const char *host, const char *user,
                                 const char *contact, cv_store_done_fn cb, void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    ureq_t *r;
    ukey_t k;
    int rc;

    /* No item can have a key beyond the bound. */
    if (ukey_str(&k, host, user, contact) < 0)
        return CV_ENOTFOUND;
    rc = ureq_new(OP_ROSTER_REMOVE, s->dbi_user[CV__LMDB_DB_ROSTERS], &k, 0, &r);
    if (rc < 0)
        return rc;
    return ureq_submit(s, r, cb, ctx);
}

/* A request to store one offline message: seq 0 appends (the writer numbers it), any
 * other puts it back under that number (OP_OFFLINE_RESTORE). */
static int offline_req(store_lmdb_t *s, int op, const char *host, const char *user, uint64_t seq,
                       uint64_t stamp, const void *data, size_t len, ureq_t **out)
{
    unsigned char seq_be[8];
    unsigned char *v;
    ukey_t k;
    int rc;

    be64_put(seq_be, seq);
    rc = ukey_make(&k, host, user, seq_be, 8, NULL, 0);
    if (rc < 0)
        return rc;
    rc = ureq_new(op, s->dbi_user[CV__LMDB_DB_OFFLINE], &k, 9 + len, out);
    if (rc < 0)
        return rc;
    v = ureq_val(*out);
    v[0] = USER_RECORD_V1;
    be64_put(v + 1, stamp);
    if (len != 0)
        memcpy(v + 9, data, len);
    return 0;
}

int cv__store_lmdb_offline_push(cv_store_t *st, const char *host, const char *user, uint64_t stamp,
                                const void *data, size_t len, size_t max, cv_store_done_fn cb,
                                void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    ureq_t *r;
    /* The sequence number is appended by the writer; the request holds the prefix. */
    int rc = offline_req(s, OP_OFFLINE_PUSH, host, user, 0, stamp, data, len, &r);

    if (rc < 0)
        return rc;
    r->arg = max;
    return ureq_submit(s, r, cb, ctx);
}

int cv__store_lmdb_offline_restore(cv_store_t *st, const char *host, const char *user, uint64_t seq,
                                   uint64_t stamp, const void *data, size_t len,
                                   cv_store_done_fn cb, void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    ureq_t *r;
    int rc = offline_req(s, OP_OFFLINE_RESTORE, host, user, seq, stamp, data, len, &r);

    if (rc < 0)
        return rc;
    return ureq_submit(s, r, cb, ctx);
}

int cv__store_lmdb_offline_delete(cv_store_t *st, const char *host, const char *user,
                                  const uint64_t *seqs, size_t n, cv_store_done_fn cb, void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    ureq_t *r;
    ukey_t k;
    int rc;

    /* A user whose keys cannot exist has nothing to delete: completed at once. The key
     * has room for one sequence number; the writer fills in each in turn. */
    if (n == 0 || ukey_make(&k, host, user, "\0\0\0\0\0\0\0\0", 8, NULL, 0) < 0) {
        cb(ctx, 0, 0);
        return 0;
    }
    rc = ureq_new(OP_OFFLINE_DELETE, s->dbi_user[CV__LMDB_DB_OFFLINE], &k, 8 * n, &r);
    if (rc < 0)
        return rc;
    r->nitems = n;
    for (size_t i = 0; i < n; i++)
        be64_put(ureq_val(r) + 8 * i, seqs[i]);
    return ureq_submit(s, r, cb, ctx);
}

int cv__store_lmdb_offline_delete_upto(cv_store_t *st, const char *host, const char *user,
                                       uint64_t last_seq, cv_store_done_fn cb, void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    ureq_t *r;
    ukey_t k;
    int rc;

    /* A user whose keys cannot exist has nothing to delete: completed at once. */
    if (ukey_prefix(&k, host, user) < 0) {
        cb(ctx, 0, 0);
        return 0;
    }
    rc = ureq_new(OP_OFFLINE_DELETE_UPTO, s->dbi_user[CV__LMDB_DB_OFFLINE], &k, 0, &r);
    if (rc < 0)
        return rc;
    r->arg = last_seq;
    return ureq_submit(s, r, cb, ctx);
}

int cv__store_lmdb_blob_set(cv_store_t *st, const char *host, const char *user, const char *name,
                            const char *ns, const void *data, size_t len, cv_store_done_fn cb,
                            void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    MDB_dbi dbi;
    ureq_t *r;
    ukey_t k;
    int rc;

    rc = blob_key(&k, &dbi, s, host, user, name, ns);
    if (rc < 0)
        return rc;
    rc = ureq_new(OP_BLOB_SET, dbi, &k, len != 0 ? 1 + len : 0, &r);
    if (rc < 0)
        return rc;
    if (len != 0) {
        ureq_val(r)[0] = USER_RECORD_V1;
        memcpy(ureq_val(r) + 1, data, len);
    }
    return ureq_submit(s, r, cb, ctx);
}

/* Builds a blocklist request holding the JIDs. A JID whose key would not fit makes an
 * add fail with CV_ELIMIT; a removal skips it, since no such entry can exist. */
static int block_req(store_lmdb_t *s, int op, const char *host, const char *user,
                     const char *const *jids, size_t n, ureq_t **out)
{
    unsigned char *p;
    size_t vlen = 0;
    size_t kept = 0;
    ukey_t k;
    int rc;

    rc = ukey_prefix(&k, host, user);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(jids[i]);
        if (k.plen + len > sizeof k.b) {
            if (op == OP_BLOCK_ADD)
                return CV_ELIMIT;
            continue;
        }
        vlen += 2 + len;
    }
    rc = ureq_new(op, s->dbi_user[CV__LMDB_DB_BLOCKLIST], &k, vlen, out);
    if (rc < 0)
        return rc;
    p = ureq_val(*out);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(jids[i]);
        if (k.plen + len > sizeof k.b)
            continue;
        p[0] = (unsigned char)(len >> 8);
        p[1] = (unsigned char)len;
        memcpy(p + 2, jids[i], len);
        p += 2 + len;
        kept++;
    }
    (*out)->nitems = kept;
    return 0;
}

int cv__store_lmdb_block_add(cv_store_t *st, const char *host, const char *user,
                             const char *const *jids, size_t n, size_t max, cv_store_done_fn cb,
                             void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    ureq_t *r;
    int rc;

    rc = block_req(s, OP_BLOCK_ADD, host, user, jids, n, &r);
    if (rc < 0)
        return rc;
    r->arg = max;
    return ureq_submit(s, r, cb, ctx);
}

int cv__store_lmdb_block_remove(cv_store_t *st, const char *host, const char *user,
                                const char *const *jids, size_t n, cv_store_done_fn cb, void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    ureq_t *r;
    int rc;

    rc = block_req(s, jids != NULL ? OP_BLOCK_REMOVE : OP_BLOCK_CLEAR, host, user, jids,
                   jids != NULL ? n : 0, &r);
    /* A user whose keys cannot exist has nothing to remove. */
    if (rc == CV_ELIMIT) {
        cb(ctx, 0, 0);
        return 0;
    }
    if (rc < 0)
        return rc;
    return ureq_submit(s, r, cb, ctx);
}

int cv__store_lmdb_last_set(cv_store_t *st, const char *host, const char *user, uint64_t secs,
                            const char *status, cv_store_done_fn cb, void *ctx)
{
    store_lmdb_t *s = lmdb_of(st);
    size_t len = status != NULL ? strlen(status) : 0;
    ureq_t *r;
    ukey_t k;
    int rc;

    rc = ukey_prefix(&k, host, user);
    if (rc == 0)
        rc = ureq_new(OP_LAST_SET, s->dbi_user[CV__LMDB_DB_LAST], &k, 9 + len, &r);
    if (rc < 0)
        return rc;
    ureq_val(r)[0] = USER_RECORD_V1;
    be64_put(ureq_val(r) + 1, secs);
    if (len != 0)
        memcpy(ureq_val(r) + 9, status, len);
    return ureq_submit(s, r, cb, ctx);
}

/* ---------------------------------------------------------------------------------- */
/* Writes: applied on the writer thread                                               */

/* Per-user data is only written for an existing account: this check shares the write
 * transaction with the write, so an account deleted just before cannot get data back. */
static int account_check(store_lmdb_t *s, MDB_txn *txn, const ureq_t *r)
{
    /* The account key is the user prefix without its last separator. */
    MDB_val k = {.mv_size = r->plen - 1, .mv_data = (void *)r->bytes};
    MDB_val v;

    return cv__lmdb_found(s, mdb_get(txn, s->dbi_accounts, &k, &v), "account check");
}

/*
 * Deletes the keys starting with prefix; with seq_max set, only offline keys whose
 * sequence is <= *seq_max (they sort by sequence, so the first larger one ends the
 * scan). Counts the deletions in *n.
 */
static int range_del(store_lmdb_t *s, MDB_txn *txn, MDB_dbi dbi, const unsigned char *prefix,
                     size_t plen, const uint64_t *seq_max, size_t *n)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int mrc;
    int rc = 0;

    *n = 0;
    rc = cursor_open(s, txn, dbi, "range delete (cursor)", &cur);
    if (rc < 0)
        goto out;
    for (;;) {
        /* Positioning afresh after each delete avoids relying on where LMDB leaves a
         * cursor after mdb_cursor_del. */
        k.mv_size = plen;
        k.mv_data = (void *)prefix;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (mrc != 0 || !key_has_prefix(&k, prefix, plen))
            break;
        if (seq_max != NULL &&
            (k.mv_size != plen + 8 || be64_get((const unsigned char *)k.mv_data + plen) > *seq_max))
            break;
        mrc = mdb_cursor_del(cur, 0);
        if (mrc != 0)
            break;
        (*n)++;
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = cv__store_lmdb_fail(s, mrc, "range delete");
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    return rc;
}

int cv__store_lmdb_user_purge(cv__store_lmdb_t *s, MDB_txn *txn, const char *host, const char *user)
{
    size_t n;
    ukey_t p;
    int rc = 0;

    if (ukey_prefix(&p, host, user) < 0)
        return 0;
    for (int i = 0; rc == 0 && i < CV__LMDB_USER_DBS; i++)
        rc = range_del(s, txn, s->dbi_user[i], p.b, p.plen, NULL, &n);
    return rc;
}

/* The next roster version: +1, or the wall clock in microseconds for a new roster. */
static uint64_t roster_next_version(uint64_t cur)
{
    struct timespec ts;
    uint64_t now;

    if (cur != 0)
        return cur + 1;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 1;
    now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    return now != 0 ? now : 1;
}

static int apply_roster(store_lmdb_t *s, MDB_txn *txn, ureq_t *r, uint64_t *value)
{
    MDB_dbi meta = s->dbi_user[CV__LMDB_DB_ROSTER_META];
    MDB_val k = {.mv_size = r->klen, .mv_data = r->bytes};
    MDB_val v = {.mv_size = r->vlen, .mv_data = ureq_val(r)};
    MDB_val old;
    uint64_t ver, count;
    int mrc;
    int rc;

    rc = meta_get(s, txn, meta, r->bytes, r->plen, 0, 0, &ver, &count);
    if (rc < 0)
        return rc;
    if (r->op == OP_ROSTER_PUT) {
        rc = account_check(s, txn, r);
        if (rc < 0)
            return rc;
        mrc = mdb_get(txn, r->dbi, &k, &old);
        if (mrc == MDB_NOTFOUND)
            count++;
        else if (mrc != 0)
            return cv__store_lmdb_fail(s, mrc, "roster put (get)");
        rc = cv__lmdb_rc(s, mdb_put(txn, r->dbi, &k, &v, 0), "roster put");
        if (rc < 0)
            return rc;
    } else {
        rc = cv__lmdb_found(s, mdb_del(txn, r->dbi, &k, NULL), "roster remove");
        if (rc < 0)
            return rc;
        count = count != 0 ? count - 1 : 0;
    }
    ver = roster_next_version(ver);
    *value = ver;
    return meta_put(s, txn, meta, r->bytes, r->plen, ver, count);
}

/* Stores one offline message. A push takes the next sequence number and counts against
 * the quota (r->arg). A restore puts a message back under the number it had (its delivery
 * could not happen after all), so it keeps its place in the queue; no quota, it was
 * counted when it first came, and a number still queued is left alone (value 0). A
 * number from before this account's first (an earlier account of the same name) is
 * refused as CV_ENOTFOUND: that account and its messages are gone. Value: the message's
 * sequence number. */
static int apply_offline_put(store_lmdb_t *s, MDB_txn *txn, ureq_t *r, uint64_t *value)
{
    MDB_val k = {.mv_size = r->klen, .mv_data = r->bytes};
    MDB_val v = {.mv_size = r->vlen, .mv_data = ureq_val(r)};
    int restore = r->op == OP_OFFLINE_RESTORE;
    offline_meta_t m;
    uint64_t next = 0, seq;
    int mrc;
    int rc;

    rc = account_check(s, txn, r);
    if (rc == 0)
        rc = offline_meta_get(s, txn, r->bytes, r->plen, &m);
    if (rc == 0)
        rc = offline_next_get(s, txn, &next);
    if (rc < 0)
        return rc;
    if (!m.found) /* this account's first number: the next one not handed out */
        m.next = m.first = next;
    if (restore) {
        seq = be64_get(r->bytes + r->plen);
        if (!m.found || seq < m.first)
            return CV_ENOTFOUND;
    } else {
        if (m.count >= r->arg)
            return CV_ELIMIT;
        seq = next > m.next ? next : m.next;
        be64_put(r->bytes + r->plen, seq);
    }
    /* MDB_APPEND would only apply to the user whose keys sort last in the whole database,
     * so a plain insert it is; for a push, NOOVERWRITE catches a counter that went
     * backwards. */
    mrc = mdb_put(txn, r->dbi, &k, &v, MDB_NOOVERWRITE);
    if (mrc == MDB_KEYEXIST && restore)
        return 0;
    if (mrc == MDB_KEYEXIST) {
        cv_error("storage: offline sequence %llu reused: counter record damaged",
                 (unsigned long long)seq);
        return CV_ESTORE;
    }
    rc = cv__lmdb_rc(s, mrc, restore ? "offline restore" : "offline push");
    if (rc < 0)
        return rc;
    *value = seq;
    /* Both counters only grow: no later push may reuse a restored number either. */
    if (m.next <= seq)
        m.next = seq + 1;
    m.count++;
    rc = offline_meta_put(s, txn, r->bytes, r->plen, &m);
    if (rc == 0 && next <= seq)
        rc = offline_next_put(s, txn, seq + 1);
    return rc;
}

/* n messages of r's user were deleted: the count goes down by as much (the sequence
 * counter never does). Value: n. */
static int offline_count_down(store_lmdb_t *s, MDB_txn *txn, ureq_t *r, uint64_t n, uint64_t *value)
{
    offline_meta_t m;
    int rc;

    if (n == 0)
        return 0;
    rc = offline_meta_get(s, txn, r->bytes, r->plen, &m);
    if (rc < 0)
        return rc;
    *value = n;
    m.count = m.count >= n ? m.count - n : 0;
    return offline_meta_put(s, txn, r->bytes, r->plen, &m);
}

static int apply_offline_delete(store_lmdb_t *s, MDB_txn *txn, ureq_t *r, uint64_t *value)
{
    size_t n;
    int rc = range_del(s, txn, r->dbi, r->bytes, r->plen, &r->arg, &n);

    return rc < 0 ? rc : offline_count_down(s, txn, r, n, value);
}

/* Deletes exactly the listed numbers: a collection deletes what it fetched and nothing a
 * restore put back meanwhile under a smaller number (which delete_upto would). Value: how
 * many were there. */
static int apply_offline_delete_list(store_lmdb_t *s, MDB_txn *txn, ureq_t *r, uint64_t *value)
{
    MDB_val k = {.mv_size = r->klen, .mv_data = r->bytes};
    uint64_t n = 0;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < r->nitems; i++) {
        memcpy(r->bytes + r->plen, ureq_val(r) + 8 * i, 8);
        int mrc = mdb_del(txn, r->dbi, &k, NULL);
        if (mrc == 0)
            n++;
        else if (mrc != MDB_NOTFOUND)
            rc = cv__store_lmdb_fail(s, mrc, "offline delete");
    }
    return rc < 0 ? rc : offline_count_down(s, txn, r, n, value);
}

static int apply_blob_set(store_lmdb_t *s, MDB_txn *txn, ureq_t *r)
{
    MDB_val k = {.mv_size = r->klen, .mv_data = r->bytes};
    MDB_val v = {.mv_size = r->vlen, .mv_data = ureq_val(r)};
    int mrc;
    int rc;

    if (r->vlen == 0) {
        mrc = mdb_del(txn, r->dbi, &k, NULL);
        return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : cv__store_lmdb_fail(s, mrc, "blob delete");
    }
    rc = account_check(s, txn, r);
    if (rc < 0)
        return rc;
    return cv__lmdb_rc(s, mdb_put(txn, r->dbi, &k, &v, 0), "blob write");
}

static int count_each(void *arg, const MDB_val *k, const MDB_val *v, size_t plen)
{
    (void)k;
    (void)v;
    (void)plen;
    (*(size_t *)arg)++;
    return 0;
}

/* Counts the user's blocklist entries (lists are small and bounded by the caller). */
static int block_count(store_lmdb_t *s, MDB_txn *txn, ureq_t *r, size_t *n)
{
    *n = 0;
    return prefix_scan(s, txn, r->dbi, r->bytes, r->plen, count_each, n, "blocklist count (cursor)",
                       "blocklist count");
}

static int apply_block(store_lmdb_t *s, MDB_txn *txn, ureq_t *r, uint64_t *value)
{
    const unsigned char *p = ureq_val(r);
    unsigned char key[CV__LMDB_KEY_BYTES];
    MDB_val k = {.mv_size = 0, .mv_data = key};
    MDB_val v = {.mv_size = 0, .mv_data = (void *)""};
    size_t have = 0, changed = 0;
    int mrc;
    int rc;

    if (r->op == OP_BLOCK_CLEAR) {
        rc = range_del(s, txn, r->dbi, r->bytes, r->plen, NULL, &changed);
        *value = changed;
        return rc;
    }
    if (r->op == OP_BLOCK_ADD) {
        rc = account_check(s, txn, r);
        if (rc == 0)
            rc = block_count(s, txn, r, &have);
        if (rc < 0)
            return rc;
    }
    memcpy(key, r->bytes, r->plen);
    for (size_t i = 0; i < r->nitems; i++) {
        size_t len = (size_t)p[0] << 8 | p[1];

        memcpy(key + r->plen, p + 2, len);
        k.mv_size = r->plen + len;
        p += 2 + len;
        if (r->op == OP_BLOCK_ADD)
            mrc = mdb_put(txn, r->dbi, &k, &v, MDB_NOOVERWRITE);
        else
            mrc = mdb_del(txn, r->dbi, &k, NULL);
        if (mrc == 0)
            changed++;
        else if (mrc != MDB_KEYEXIST && mrc != MDB_NOTFOUND)
            return cv__store_lmdb_fail(s, mrc, "blocklist change");
    }
    /* The bound is checked after the inserts so duplicates are not counted twice; the
     * caller's nested transaction is aborted on error, so nothing is kept. */
    if (r->op == OP_BLOCK_ADD && have + changed > r->arg)
        return CV_ELIMIT;
    *value = changed;
    return 0;
}

static int apply_last(store_lmdb_t *s, MDB_txn *txn, ureq_t *r)
{
    MDB_val k = {.mv_size = r->klen, .mv_data = r->bytes};
    MDB_val v = {.mv_size = r->vlen, .mv_data = ureq_val(r)};
    int rc;

    rc = account_check(s, txn, r);
    if (rc < 0)
        return rc;
    return cv__lmdb_rc(s, mdb_put(txn, r->dbi, &k, &v, 0), "last activity write");
}

static int apply(store_lmdb_t *s, MDB_txn *txn, ureq_t *r, uint64_t *value)
{
    *value = 0;
    switch (r->op) {
    case OP_ROSTER_PUT:
    case OP_ROSTER_REMOVE: return apply_roster(s, txn, r, value);
    case OP_OFFLINE_PUSH:
    case OP_OFFLINE_RESTORE: return apply_offline_put(s, txn, r, value);
    case OP_OFFLINE_DELETE_UPTO: return apply_offline_delete(s, txn, r, value);
    case OP_OFFLINE_DELETE: return apply_offline_delete_list(s, txn, r, value);
    case OP_BLOB_SET: return apply_blob_set(s, txn, r);
    case OP_BLOCK_ADD:
    case OP_BLOCK_REMOVE:
    case OP_BLOCK_CLEAR: return apply_block(s, txn, r, value);
    case OP_LAST_SET: return apply_last(s, txn, r);
    default: CV_ASSERT(!"unknown storage request"); return CV_ESTORE;
    }
}

/*
 * Applies the requests from batch up to (not including) end in one write transaction,
 * each in a nested one, and commits. Returns 0 or the commit's failure, in which case no
 * request of the batch was written and the rc of each is left as its nested result.
 */
static int run_txn(store_lmdb_t *s, cv__store_req_t *batch, cv__store_req_t *end)
{
    MDB_txn *txn = NULL;
    MDB_txn *child;
    uint64_t value;
    int mrc;
    int rc;

    rc = cv__lmdb_begin(s, 0, "write batch (begin)", &txn);
    if (rc < 0)
        goto out;
    for (cv__store_req_t *q = batch; q != end; q = q->next) {
        mrc = mdb_txn_begin(s->env, txn, 0, &child);
        if (mrc != 0) {
            q->rc = cv__store_lmdb_fail(s, mrc, "write (nested begin)");
            continue;
        }
        rc = apply(s, child, (ureq_t *)q, &value);
        if (rc == 0)
            rc = cv__lmdb_commit_nested(s, &child, "write (nested commit)");
        cv__lmdb_end(child);
        q->rc = rc;
        q->value = rc == 0 ? value : 0;
    }
    /* One commit, hence one sync, makes the whole batch durable. */
    rc = cv__lmdb_commit(s, &txn, "write batch (commit)");
out:
    cv__lmdb_end(txn);
    return rc;
}

void cv__store_lmdb_run_batch(void *backend, cv__store_req_t *batch)
{
    store_lmdb_t *s = backend;
    int rc;

    rc = run_txn(s, batch, NULL);
    if (rc == 0)
        return;
    /* The commit failed, typically because the map filled up when the free-page list
     * was written. Retrying each request alone lets those that fit succeed instead of
     * failing with the one that did not. */
    for (cv__store_req_t *q = batch; q != NULL; q = q->next) {
        q->rc = 0;
        if (batch->next != NULL)
            rc = run_txn(s, q, q->next);
        if (rc < 0 && q->rc == 0)
            q->rc = rc;
        if (q->rc < 0)
            q->value = 0;
    }
}
