/*
 * Per-user data of the storage interface on the LMDB backend: rosters (items, versions,
 * counts), offline queues (FIFO order across reopen, quota, delete_upto), vCard and
 * private XML, blocklists, last activity, deletion with the account, key bounds, a full
 * map in the middle of a batch, and the upgrade of a schema version 1 database.
 */
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corvid/buf.h"
#include "corvid/core.h"
#include "corvid/store.h"
#include "check.h"

#define MAP_SIZE (32u * 1024 * 1024)
#define H "example.org"

static cv_store_t *open_store(const char *dir, size_t map_size)
{
    cv_store_opts_t o = {.backend = "lmdb", .dir = dir, .map_size = map_size};
    cv_store_t *st = NULL;
    int rc = cv_store_open(&st, &o);
    if (rc != 0 || st == NULL) {
        printf("FAIL open %s: %s\n", dir, cv_strerror(rc));
        failures++;
        return NULL;
    }
    return st;
}

/* ---- rosters ---- */

typedef struct roster_seen_s {
    char contact[8][128];
    char name[8][128];
    char groups[8][256]; /* joined with '|' */
    int sub[8], ask[8], approved[8], pending_in[8];
    char status[8][64];
    size_t n;
    size_t stop_after;
} roster_seen_t;

static int roster_collect(void *ctx, const cv_store_roster_item_t *it)
{
    roster_seen_t *c = ctx;
    if (c->n < 8) {
        size_t i = c->n;
        snprintf(c->contact[i], sizeof c->contact[i], "%s", it->contact);
        snprintf(c->name[i], sizeof c->name[i], "%s", it->name);
        snprintf(c->status[i], sizeof c->status[i], "%s", it->pending_status);
        c->groups[i][0] = '\0';
        for (size_t g = 0; g < it->ngroups; g++) {
            size_t l = strlen(c->groups[i]);
            snprintf(c->groups[i] + l, sizeof c->groups[i] - l, "%s%s", g ? "|" : "",
                     it->groups[g]);
        }
        c->sub[i] = (int)it->sub;
        c->ask[i] = it->ask;
        c->approved[i] = it->approved;
        c->pending_in[i] = it->pending_in;
    }
    c->n++;
    return c->stop_after != 0 && c->n == c->stop_after ? 42 : 0;
}

static void test_roster(cv_store_t *st)
{
    /* Unicode names and groups go through as UTF-8 bytes. */
    static const char *const g1[] = {"Friends", "Fr\xc3\xa9res \xe2\x9c\x88",
                                     "\xe6\x9c\x8b\xe5\x8f\x8b"};
    cv_store_roster_item_t it = {
        .contact = "romeo@montague.lit",
        .name = "Rom\xc3\xa9o \xf0\x9f\x8c\xb9",
        .groups = g1,
        .ngroups = 3,
        .sub = CV_STORE_SUB_BOTH,
    };
    cv_store_roster_item_t *got = NULL;
    roster_seen_t seen;
    uint64_t v0 = 99, v1 = 0, v2 = 0, v3 = 0, v4 = 0, vr = 0;
    size_t n = 99;

    CHECK_RC(cv_store_account_create(st, H, "juliet", "c", 1), 0);
    CHECK_RC(cv_store_roster_version(st, H, "juliet", &v0), 0);
    CHECK(v0 == 0);
    CHECK_RC(cv_store_roster_count(st, H, "juliet", &n), 0);
    CHECK(n == 0);
    CHECK_RC(cv_store_roster_get_item(st, H, "juliet", "romeo@montague.lit", &got), CV_ENOTFOUND);
    CHECK(got == NULL);

    /* No account, no roster. */
    CHECK_RC(cv_store_roster_put(st, H, "nobody", &it, &v1), CV_ENOTFOUND);

    CHECK_RC(cv_store_roster_put(st, H, "juliet", &it, &v1), 0);
    CHECK(v1 > 0);
    CHECK_RC(cv_store_roster_get_item(st, H, "juliet", "romeo@montague.lit", &got), 0);
    if (got != NULL) {
        CHECK(strcmp(got->contact, it.contact) == 0);
        CHECK(strcmp(got->name, it.name) == 0);
        CHECK(strcmp(got->pending_status, "") == 0);
        CHECK(got->sub == CV_STORE_SUB_BOTH && !got->ask && !got->approved && !got->pending_in);
        CHECK(got->ngroups == 3);
        for (size_t i = 0; i < 3 && i < got->ngroups; i++)
            CHECK(strcmp(got->groups[i], g1[i]) == 0);
        free(got);
        got = NULL;
    }

    /* A second contact with flags, a pending inbound request and no name or group. */
    cv_store_roster_item_t it2 = {
        .contact = "benvolio@montague.lit",
        .pending_status = "let me in",
        .sub = CV_STORE_SUB_TO,
        .ask = true,
        .approved = true,
        .pending_in = true,
    };
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &it2, &v2), 0);
    CHECK(v2 > v1);
    /* Replacing keeps the count and still bumps the version. */
    it.sub = CV_STORE_SUB_FROM;
    it.ngroups = 1;
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &it, &v3), 0);
    CHECK(v3 > v2);
    CHECK_RC(cv_store_roster_count(st, H, "juliet", &n), 0);
    CHECK(n == 2);

    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_roster_get(st, H, "juliet", roster_collect, &seen, &vr), 0);
    CHECK(vr == v3);
    CHECK(seen.n == 2);
    /* Contact order: benvolio before romeo. */
    CHECK(strcmp(seen.contact[0], "benvolio@montague.lit") == 0);
    CHECK(strcmp(seen.contact[1], "romeo@montague.lit") == 0);
    CHECK(strcmp(seen.name[0], "") == 0 && strcmp(seen.status[0], "let me in") == 0);
    CHECK(seen.sub[0] == CV_STORE_SUB_TO && seen.ask[0] && seen.approved[0] && seen.pending_in[0]);
    CHECK(strcmp(seen.groups[0], "") == 0);
    CHECK(seen.sub[1] == CV_STORE_SUB_FROM && !seen.ask[1]);
    CHECK(strcmp(seen.groups[1], "Friends") == 0);
    CHECK(strcmp(seen.name[1], it.name) == 0);
    /* A callback's non-zero value stops the walk and comes back. */
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 1;
    CHECK_RC(cv_store_roster_get(st, H, "juliet", roster_collect, &seen, NULL), 42);
    CHECK(seen.n == 1);

    /* Another user's roster, and the host whose name extends this one, stay apart. */
    CHECK_RC(cv_store_account_create(st, H ".uk", "juliet", "c", 1), 0);
    CHECK_RC(cv_store_account_create(st, H, "juliet2", "c", 1), 0);
    it2.contact = "x@y";
    CHECK_RC(cv_store_roster_put(st, H ".uk", "juliet", &it2, NULL), 0);
    CHECK_RC(cv_store_roster_put(st, H, "juliet2", &it2, NULL), 0);
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_roster_get(st, H, "juliet", roster_collect, &seen, NULL), 0);
    CHECK(seen.n == 2);

    CHECK_RC(cv_store_roster_remove(st, H, "juliet", "benvolio@montague.lit", &v4), 0);
    CHECK(v4 > v3);
    CHECK_RC(cv_store_roster_remove(st, H, "juliet", "benvolio@montague.lit", NULL), CV_ENOTFOUND);
    CHECK_RC(cv_store_roster_version(st, H, "juliet", &vr), 0);
    CHECK(vr == v4); /* a failed remove does not bump */
    CHECK_RC(cv_store_roster_count(st, H, "juliet", &n), 0);
    CHECK(n == 1);

    /* Bounds and bad items. */
    const char *many[CV_STORE_ROSTER_GROUPS_MAX + 1];
    for (size_t i = 0; i < CV_ARRAY_LEN(many); i++)
        many[i] = "g";
    cv_store_roster_item_t bad = {
        .contact = "a@b", .groups = many, .ngroups = CV_STORE_ROSTER_GROUPS_MAX + 1};
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &bad, NULL), CV_ELIMIT);
    bad.ngroups = CV_STORE_ROSTER_GROUPS_MAX;
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &bad, NULL), 0);
    char longname[CV_STORE_ROSTER_TEXT_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    bad.name = longname;
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &bad, NULL), CV_ELIMIT);
    longname[CV_STORE_ROSTER_TEXT_MAX] = '\0';
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &bad, NULL), 0);
    CHECK_RC(cv_store_roster_get_item(st, H, "juliet", "a@b", &got), 0);
    if (got != NULL) {
        CHECK(strlen(got->name) == CV_STORE_ROSTER_TEXT_MAX);
        CHECK(got->ngroups == CV_STORE_ROSTER_GROUPS_MAX);
        free(got);
    }
    bad.sub = (cv_store_sub_t)7;
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &bad, NULL), CV_EINVAL);
    bad.sub = CV_STORE_SUB_NONE;
    bad.groups = NULL;
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &bad, NULL), CV_EINVAL);
    bad.contact = "";
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &bad, NULL), CV_EINVAL);
    CHECK_RC(cv_store_roster_put(st, H, "juliet", NULL, NULL), CV_EINVAL);
    CHECK_RC(cv_store_roster_get(st, H, "juliet", NULL, NULL, NULL), CV_EINVAL);
    CHECK_RC(cv_store_roster_version(st, "", "juliet", &vr), CV_EINVAL);

    /* A contact whose key exceeds LMDB's bound cannot be stored nor found. */
    char jid[600];
    memset(jid, 'j', sizeof jid - 1);
    jid[sizeof jid - 1] = '\0';
    cv_store_roster_item_t lng = {.contact = jid};
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &lng, NULL), CV_ELIMIT);
    CHECK_RC(cv_store_roster_get_item(st, H, "juliet", jid, &got), CV_ENOTFOUND);
    CHECK_RC(cv_store_roster_remove(st, H, "juliet", jid, NULL), CV_ENOTFOUND);
    /* The largest key that fits: host + user + contact + 2 separators = 511 bytes. */
    jid[511 - strlen(H) - strlen("juliet") - 2] = '\0';
    CHECK_RC(cv_store_roster_put(st, H, "juliet", &lng, NULL), 0);
    CHECK_RC(cv_store_roster_get_item(st, H, "juliet", jid, &got), 0);
    free(got);
    CHECK_RC(cv_store_roster_count(st, H, "juliet", &n), 0);
    CHECK(n == 3);
}

/* ---- offline ---- */

typedef struct offline_seen_s {
    uint64_t seq[64], stamp[64];
    char text[64][32];
    size_t n;
} offline_seen_t;

static int offline_collect(void *ctx, uint64_t seq, uint64_t stamp, const void *data, size_t len)
{
    offline_seen_t *c = ctx;
    if (c->n < 64) {
        c->seq[c->n] = seq;
        c->stamp[c->n] = stamp;
        snprintf(c->text[c->n], sizeof c->text[0], "%.*s", data ? (int)len : 9,
                 data ? (const char *)data : "<damaged>");
    }
    c->n++;
    return 0;
}

static void test_offline(const char *dir)
{
    cv_store_t *st = open_store(dir, MAP_SIZE);
    offline_seen_t seen;
    char msg[32];
    uint64_t seq = 0;
    size_t n = 99;

    if (st == NULL)
        return;
    CHECK_RC(cv_store_account_create(st, H, "olga", "c", 1), 0);
    CHECK_RC(cv_store_offline_count(st, H, "olga", &n), 0);
    CHECK(n == 0);
    CHECK_RC(cv_store_offline_push(st, H, "nobody", 1, "x", 1, 10, &seq), CV_ENOTFOUND);
    for (int i = 1; i <= 10; i++) {
        snprintf(msg, sizeof msg, "<message n='%d'/>", i);
        CHECK_RC(
            cv_store_offline_push(st, H, "olga", 1000u + (uint64_t)i, msg, strlen(msg), 10, &seq),
            0);
        CHECK(seq == (uint64_t)i);
    }
    /* Quota: the eleventh is refused and not stored; quota 0 refuses everything. */
    CHECK_RC(cv_store_offline_push(st, H, "olga", 1, "y", 1, 10, &seq), CV_ELIMIT);
    CHECK_RC(cv_store_offline_push(st, H, "olga", 1, "y", 1, 0, &seq), CV_ELIMIT);
    CHECK_RC(cv_store_offline_count(st, H, "olga", &n), 0);
    CHECK(n == 10);
    /* An empty blob is a valid message; a NULL one with a length is not. */
    CHECK_RC(cv_store_offline_push(st, H, "olga", 5, NULL, 0, SIZE_MAX, &seq), 0);
    CHECK(seq == 11);
    CHECK_RC(cv_store_offline_push(st, H, "olga", 5, NULL, 3, SIZE_MAX, &seq), CV_EINVAL);
    CHECK_RC(cv_store_offline_push(st, H, "olga", 5, "z", CV_STORE_BLOB_MAX + 1, SIZE_MAX, &seq),
             CV_ELIMIT);
    cv_store_close(st);

    /* FIFO order, stamps and bodies survive a reopen. */
    st = open_store(dir, 0);
    if (st == NULL)
        return;
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_offline_fetch(st, H, "olga", offline_collect, &seen), 0);
    CHECK(seen.n == 11);
    for (size_t i = 0; i < 10 && i < seen.n; i++) {
        snprintf(msg, sizeof msg, "<message n='%zu'/>", i + 1);
        CHECK(seen.seq[i] == i + 1 && seen.stamp[i] == 1001 + i);
        CHECK(strcmp(seen.text[i], msg) == 0);
    }
    CHECK(seen.n < 11 || (seen.seq[10] == 11 && seen.text[10][0] == '\0'));

    /* delete_upto removes a prefix of the queue only. */
    size_t del = 99;
    CHECK_RC(cv_store_offline_delete_upto(st, H, "olga", 4, &del), 0);
    CHECK(del == 4);
    CHECK_RC(cv_store_offline_delete_upto(st, H, "olga", 4, &del), 0);
    CHECK(del == 0);
    CHECK_RC(cv_store_offline_count(st, H, "olga", &n), 0);
    CHECK(n == 7);
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_offline_fetch(st, H, "olga", offline_collect, &seen), 0);
    CHECK(seen.n == 7 && seen.seq[0] == 5 && seen.seq[6] == 11);
    /* Sequences keep growing after deletions, even of the whole queue. */
    CHECK_RC(cv_store_offline_delete_upto(st, H, "olga", UINT64_MAX, &del), 0);
    CHECK(del == 7);
    CHECK_RC(cv_store_offline_count(st, H, "olga", &n), 0);
    CHECK(n == 0);
    CHECK_RC(cv_store_offline_push(st, H, "olga", 7, "again", 5, 1, &seq), 0);
    CHECK(seq == 12);
    CHECK_RC(cv_store_offline_push(st, H, "olga", 7, "again", 5, 1, &seq), CV_ELIMIT);
    CHECK_RC(cv_store_offline_delete_upto(st, H, "nobody", 100, &del), 0);
    CHECK(del == 0);
    cv_store_close(st);
}

/* A damaged record (written here behind the store's back) does not hide the messages after
   it: the walk hands it over as unreadable, and it can be deleted by its number. */
static void test_offline_damaged(const char *dir)
{
    cv_store_t *st = open_store(dir, MAP_SIZE);
    offline_seen_t seen;
    uint64_t seq = 0;
    size_t del = 0;

    if (st == NULL)
        return;
    CHECK_RC(cv_store_account_create(st, H, "dora", "c", 1), 0);
    for (int i = 0; i < 3; i++)
        CHECK_RC(cv_store_offline_push(st, H, "dora", 1, "ok", 2, 10, &seq), 0);
    cv_store_close(st);

    /* Message 2's record loses its format byte. */
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi off;
    unsigned char key[64];
    size_t kl = (size_t)snprintf((char *)key, sizeof key, "%s", H) + 1;
    kl += (size_t)snprintf((char *)key + kl, sizeof key - kl, "dora") + 1;
    memcpy(key + kl, "\0\0\0\0\0\0\0\2", 8);
    MDB_val k = {.mv_size = kl + 8, .mv_data = key}, v = {.mv_size = 3, .mv_data = "bad"};
    CHECK(mdb_env_create(&env) == 0);
    CHECK(mdb_env_set_maxdbs(env, 16) == 0);
    CHECK(mdb_env_open(env, dir, 0, 0600) == 0);
    CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "offline", 0, &off) == 0);
    CHECK(mdb_put(txn, off, &k, &v, 0) == 0);
    CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);

    st = open_store(dir, 0);
    if (st == NULL)
        return;
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_offline_fetch(st, H, "dora", offline_collect, &seen), 0);
    CHECK(seen.n == 3);
    CHECK(strcmp(seen.text[0], "ok") == 0 && strcmp(seen.text[2], "ok") == 0);
    CHECK(seen.seq[1] == 2 && strcmp(seen.text[1], "<damaged>") == 0);
    uint64_t damaged = 2;
    CHECK_RC(cv_store_offline_delete(st, H, "dora", &damaged, 1, &del), 0);
    CHECK(del == 1);
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_offline_fetch(st, H, "dora", offline_collect, &seen), 0);
    CHECK(seen.n == 2 && seen.seq[0] == 1 && seen.seq[1] == 3);
    cv_store_close(st);
}

/* A message taken off the queue can be put back in its old place, past the quota, and
   the numbering goes on above it. */
static void test_offline_restore(const char *dir)
{
    cv_store_t *st = open_store(dir, MAP_SIZE);
    offline_seen_t seen;
    uint64_t seq = 0;
    size_t n = 0, del = 0;

    if (st == NULL)
        return;
    CHECK_RC(cv_store_account_create(st, H, "rita", "c", 1), 0);
    for (int i = 1; i <= 4; i++)
        CHECK_RC(cv_store_offline_push(st, H, "rita", 100u + (uint64_t)i, "m", 1, 4, &seq), 0);
    CHECK_RC(cv_store_offline_delete_upto(st, H, "rita", 2, &del), 0);
    CHECK(del == 2);
    CHECK_RC(cv_store_offline_push(st, H, "rita", 105, "m", 1, 3, &seq), 0);
    CHECK(seq == 5);
    /* Back in front of 3, 4 and 5, though the queue is full (quota 3) before either. */
    CHECK_RC(cv_store_offline_restore(st, H, "rita", 2, 102, "two", 3), 0);
    CHECK_RC(cv_store_offline_restore(st, H, "rita", 1, 101, "one", 3), 0);
    CHECK_RC(cv_store_offline_push(st, H, "rita", 1, "x", 1, 5, &seq), CV_ELIMIT);
    /* A number still queued is left alone. */
    CHECK_RC(cv_store_offline_restore(st, H, "rita", 3, 1, "dup", 3), 0);
    CHECK_RC(cv_store_offline_count(st, H, "rita", &n), 0);
    CHECK(n == 5);
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_offline_fetch(st, H, "rita", offline_collect, &seen), 0);
    CHECK(seen.n == 5);
    CHECK(seen.seq[0] == 1 && seen.stamp[0] == 101 && strcmp(seen.text[0], "one") == 0);
    CHECK(seen.seq[1] == 2 && seen.stamp[1] == 102 && strcmp(seen.text[1], "two") == 0);
    CHECK(seen.seq[2] == 3 && strcmp(seen.text[2], "m") == 0);
    CHECK(seen.seq[4] == 5);
    /* Past the counter: later pushes are numbered above it. */
    CHECK_RC(cv_store_offline_delete_upto(st, H, "rita", UINT64_MAX, &del), 0);
    CHECK_RC(cv_store_offline_restore(st, H, "rita", 9, 1, "nine", 4), 0);
    CHECK_RC(cv_store_offline_push(st, H, "rita", 1, "ten", 3, 4, &seq), 0);
    CHECK(seq == 10);
    CHECK_RC(cv_store_offline_restore(st, H, "nobody", 1, 1, "x", 1), CV_ENOTFOUND);
    CHECK_RC(cv_store_offline_delete_upto(st, H, "rita", UINT64_MAX, &del), 0);

    /* A collection deletes exactly what it fetched: a message put back meanwhile under a
       smaller number (another collection's session went away) stays. */
    uint64_t fetched[2], none[2] = {1000, 1001};
    for (int i = 0; i < 4; i++)
        CHECK_RC(cv_store_offline_push(st, H, "rita", 200, "q", 1, 10, &seq), 0);
    CHECK(seq == 14); /* 11..14 */
    uint64_t first_two[2] = {11, 12};
    CHECK_RC(cv_store_offline_delete(st, H, "rita", first_two, 2, &del), 0);
    CHECK(del == 2);
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_offline_fetch(st, H, "rita", offline_collect, &seen), 0);
    CHECK(seen.n == 2 && seen.seq[0] == 13 && seen.seq[1] == 14);
    fetched[0] = seen.seq[0];
    fetched[1] = seen.seq[1];
    CHECK_RC(cv_store_offline_restore(st, H, "rita", 11, 200, "back", 4), 0);
    CHECK_RC(cv_store_offline_delete(st, H, "rita", fetched, 2, &del), 0);
    CHECK(del == 2);
    CHECK_RC(cv_store_offline_delete(st, H, "rita", none, 2, &del), 0);
    CHECK(del == 0);
    CHECK_RC(cv_store_offline_count(st, H, "rita", &n), 0);
    CHECK(n == 1);
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_offline_fetch(st, H, "rita", offline_collect, &seen), 0);
    CHECK(seen.n == 1 && seen.seq[0] == 11 && strcmp(seen.text[0], "back") == 0);
    CHECK_RC(cv_store_offline_delete(st, H, "rita", NULL, 1, &del), CV_EINVAL);
    CHECK_RC(cv_store_offline_restore(st, H, "rita", 0, 1, "x", 1), CV_EINVAL);
    cv_store_close(st);
}

/* ---- vCard, private XML, last activity ---- */

static void test_blobs(cv_store_t *st)
{
    cv_buf_t b = CV_BUF_INIT;
    uint64_t secs = 0;
    static const char vc[] = "<vCard xmlns='vcard-temp'><FN>Olga \xc3\x96</FN></vCard>";

    CHECK_RC(cv_store_account_create(st, H, "vera", "c", 1), 0);
    CHECK_RC(cv_store_vcard_get(st, H, "vera", &b), CV_ENOTFOUND);
    CHECK_RC(cv_store_vcard_set(st, H, "nobody", vc, sizeof vc - 1), CV_ENOTFOUND);
    CHECK_RC(cv_store_vcard_set(st, H, "vera", vc, sizeof vc - 1), 0);
    CHECK_RC(cv_store_vcard_get(st, H, "vera", &b), 0);
    CHECK(b.len == sizeof vc - 1 && memcmp(b.data, vc, b.len) == 0);
    CHECK_RC(cv_store_vcard_set(st, H, "vera", "<vCard/>", 8), 0);
    cv_buf_clear(&b);
    CHECK_RC(cv_store_vcard_get(st, H, "vera", &b), 0);
    CHECK(b.len == 8 && memcmp(b.data, "<vCard/>", 8) == 0);
    CHECK_RC(cv_store_vcard_set(st, H, "vera", NULL, 0), 0);
    CHECK_RC(cv_store_vcard_get(st, H, "vera", &b), CV_ENOTFOUND);
    CHECK_RC(cv_store_vcard_set(st, H, "vera", NULL, 0), 0);

    /* Private XML: name and namespace both form the key. */
    CHECK_RC(cv_store_private_set(st, H, "vera", "storage", "storage:bookmarks", "<a/>", 4), 0);
    CHECK_RC(cv_store_private_set(st, H, "vera", "storage", "storage:rosternotes", "<b/>", 4), 0);
    CHECK_RC(cv_store_private_set(st, H, "vera", "storagex", "storage:bookmarks", "<c/>", 4), 0);
    cv_buf_clear(&b);
    CHECK_RC(cv_store_private_get(st, H, "vera", "storage", "storage:bookmarks", &b), 0);
    CHECK(b.len == 4 && memcmp(b.data, "<a/>", 4) == 0);
    cv_buf_clear(&b);
    CHECK_RC(cv_store_private_get(st, H, "vera", "storage", "storage:rosternotes", &b), 0);
    CHECK(b.len == 4 && memcmp(b.data, "<b/>", 4) == 0);
    CHECK_RC(cv_store_private_get(st, H, "vera", "storage", "other", &b), CV_ENOTFOUND);
    CHECK_RC(cv_store_private_get(st, H, "vera", "", "x", &b), CV_EINVAL);
    CHECK_RC(cv_store_private_set(st, H, "vera", "storage", "storage:rosternotes", NULL, 0), 0);
    CHECK_RC(cv_store_private_get(st, H, "vera", "storage", "storage:rosternotes", &b),
             CV_ENOTFOUND);
    CHECK_RC(cv_store_vcard_set(st, H, "vera", "x", CV_STORE_BLOB_MAX + 1), CV_ELIMIT);

    CHECK_RC(cv_store_last_get(st, H, "vera", &secs, NULL), CV_ENOTFOUND);
    CHECK_RC(cv_store_last_set(st, H, "vera", 1700000000u, "Gone \xe2\x9c\x88"), 0);
    cv_buf_clear(&b);
    CHECK_RC(cv_store_last_get(st, H, "vera", &secs, &b), 0);
    CHECK(secs == 1700000000u && b.len == strlen("Gone \xe2\x9c\x88") &&
          strcmp(b.data, "Gone \xe2\x9c\x88") == 0);
    CHECK_RC(cv_store_last_set(st, H, "vera", 1700000500u, NULL), 0);
    cv_buf_clear(&b);
    CHECK_RC(cv_store_last_get(st, H, "vera", &secs, &b), 0);
    CHECK(secs == 1700000500u && b.len == 0);
    CHECK_RC(cv_store_last_set(st, H, "nobody", 1, NULL), CV_ENOTFOUND);
    cv_buf_free(&b);
}

/* ---- blocklist ---- */

typedef struct jids_s {
    char j[8][64];
    size_t n;
} jids_t;

static int jid_collect(void *ctx, const char *jid)
{
    jids_t *c = ctx;
    if (c->n < 8)
        snprintf(c->j[c->n], sizeof c->j[0], "%s", jid);
    c->n++;
    return 0;
}

static void test_blocklist(cv_store_t *st)
{
    static const char *const a[] = {"spam@evil.lit", "evil.lit", "troll@x.lit/res"};
    static const char *const b[] = {"evil.lit", "new@y.lit", "new@y.lit"};
    static const char *const c[] = {"evil.lit", "nothere@z"};
    jids_t l;
    size_t n = 99;

    CHECK_RC(cv_store_account_create(st, H, "bea", "c", 1), 0);
    CHECK_RC(cv_store_block_add(st, H, "nobody", a, 3, 100, &n), CV_ENOTFOUND);
    CHECK_RC(cv_store_block_add(st, H, "bea", a, 3, 100, &n), 0);
    CHECK(n == 3);
    CHECK_RC(cv_store_block_contains(st, H, "bea", "evil.lit"), 0);
    CHECK_RC(cv_store_block_contains(st, H, "bea", "troll@x.lit/res"), 0);
    CHECK_RC(cv_store_block_contains(st, H, "bea", "troll@x.lit"), CV_ENOTFOUND);
    CHECK_RC(cv_store_block_contains(st, H, "bea", "evil.li"), CV_ENOTFOUND);
    /* Present JIDs and duplicates count once; the bound applies to the resulting list,
     * and a refused add changes nothing. */
    CHECK_RC(cv_store_block_add(st, H, "bea", b, 3, 3, &n), CV_ELIMIT);
    CHECK_RC(cv_store_block_contains(st, H, "bea", "new@y.lit"), CV_ENOTFOUND);
    CHECK_RC(cv_store_block_add(st, H, "bea", b, 3, 4, &n), 0);
    CHECK(n == 1);
    memset(&l, 0, sizeof l);
    CHECK_RC(cv_store_block_list(st, H, "bea", jid_collect, &l), 0);
    CHECK(l.n == 4);
    CHECK(strcmp(l.j[0], "evil.lit") == 0 && strcmp(l.j[1], "new@y.lit") == 0 &&
          strcmp(l.j[2], "spam@evil.lit") == 0 && strcmp(l.j[3], "troll@x.lit/res") == 0);
    /* A JID too long to be stored is simply not there: the others are still removed. */
    char lng[600];
    memset(lng, 'l', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    const char *c3[] = {c[0], lng, c[1]};
    CHECK_RC(cv_store_block_add(st, H, "bea", c3 + 1, 1, 100, &n), CV_ELIMIT);
    CHECK_RC(cv_store_block_contains(st, H, "bea", lng), CV_ENOTFOUND);
    CHECK_RC(cv_store_block_remove(st, H, "bea", c3, 3, &n), 0);
    CHECK(n == 1);
    CHECK_RC(cv_store_block_contains(st, H, "bea", "evil.lit"), CV_ENOTFOUND);
    CHECK_RC(cv_store_block_remove(st, H, "bea", NULL, 0, &n), 0);
    CHECK(n == 0);
    CHECK_RC(cv_store_block_add(st, H, "bea", NULL, 0, 0, &n), 0);
    CHECK(n == 0);
    memset(&l, 0, sizeof l);
    CHECK_RC(cv_store_block_list(st, H, "bea", jid_collect, &l), 0);
    CHECK(l.n == 3);
    CHECK_RC(cv_store_block_clear(st, H, "bea", &n), 0);
    CHECK(n == 3);
    memset(&l, 0, sizeof l);
    CHECK_RC(cv_store_block_list(st, H, "bea", jid_collect, &l), 0);
    CHECK(l.n == 0);
    static const char *const empty[] = {"ok@x", ""};
    CHECK_RC(cv_store_block_add(st, H, "bea", empty, 2, 10, &n), CV_EINVAL);
    CHECK_RC(cv_store_block_add(st, H, "bea", NULL, 2, 10, &n), CV_EINVAL);
}

/* ---- account deletion ---- */

static int count_cb(void *ctx, const char *jid)
{
    (void)jid;
    (*(size_t *)ctx)++;
    return 0;
}

static int count_roster(void *ctx, const cv_store_roster_item_t *it)
{
    (void)it;
    (*(size_t *)ctx)++;
    return 0;
}

static void fill_user(cv_store_t *st, const char *user)
{
    static const char *const bl[] = {"a@b", "c@d"};
    cv_store_roster_item_t it = {.contact = "friend@x.lit", .name = "F"};

    CHECK_RC(cv_store_account_create(st, H, user, "c", 1), 0);
    CHECK_RC(cv_store_roster_put(st, H, user, &it, NULL), 0);
    CHECK_RC(cv_store_offline_push(st, H, user, 1, "m", 1, 10, NULL), 0);
    CHECK_RC(cv_store_offline_push(st, H, user, 2, "n", 1, 10, NULL), 0);
    CHECK_RC(cv_store_vcard_set(st, H, user, "<vCard/>", 8), 0);
    CHECK_RC(cv_store_private_set(st, H, user, "q", "ns", "<q/>", 4), 0);
    CHECK_RC(cv_store_block_add(st, H, user, bl, 2, 10, NULL), 0);
    CHECK_RC(cv_store_last_set(st, H, user, 5, "bye"), 0);
}

static void check_user(cv_store_t *st, const char *user, int present, int line)
{
    cv_buf_t b = CV_BUF_INIT;
    uint64_t ver = 0, secs;
    size_t n = 0, items = 0, blocked = 0;
    int want = present ? 0 : CV_ENOTFOUND;
    int bad = 0;

    bad |= cv_store_roster_get(st, H, user, count_roster, &items, &ver) != 0;
    bad |= items != (present ? 1u : 0u) || (ver != 0) != present;
    bad |= cv_store_roster_count(st, H, user, &n) != 0 || n != items;
    bad |= cv_store_offline_count(st, H, user, &n) != 0 || n != (present ? 2u : 0u);
    bad |= cv_store_vcard_get(st, H, user, &b) != want;
    bad |= cv_store_private_get(st, H, user, "q", "ns", &b) != want;
    bad |= cv_store_block_list(st, H, user, count_cb, &blocked) != 0;
    bad |= blocked != (present ? 2u : 0u);
    bad |= cv_store_last_get(st, H, user, &secs, NULL) != want;
    if (bad) {
        printf("FAIL line %d: data of %s should be %s\n", line, user, present ? "present" : "gone");
        failures++;
    }
    cv_buf_free(&b);
}

static void test_account_delete(cv_store_t *st)
{
    uint64_t v1 = 0, v2 = 0;
    cv_store_roster_item_t it = {.contact = "friend@x.lit"};
    offline_seen_t old, seen;
    size_t n = 0, del = 0;

    fill_user(st, "del");
    fill_user(st, "dela"); /* its prefix "del" + "a" must not be touched */
    check_user(st, "del", 1, __LINE__);
    CHECK_RC(cv_store_roster_version(st, H, "del", &v1), 0);
    memset(&old, 0, sizeof old);
    CHECK_RC(cv_store_offline_fetch(st, H, "del", offline_collect, &old), 0);
    CHECK(old.n == 2);
    CHECK_RC(cv_store_account_delete(st, H, "del"), 0);
    check_user(st, "del", 0, __LINE__);
    check_user(st, "dela", 1, __LINE__);

    /* A new account of the same name starts empty, and its roster versions never
     * repeat the old ones. */
    CHECK_RC(cv_store_account_create(st, H, "del", "c", 1), 0);
    check_user(st, "del", 0, __LINE__);
    usleep(2000);
    CHECK_RC(cv_store_roster_put(st, H, "del", &it, &v2), 0);
    CHECK(v2 > v1);

    /* Messages the old account's collection had taken (its session then went away) are
       not put back into the new one: before its first message, nor after. */
    uint64_t seq = 0;
    CHECK_RC(cv_store_offline_restore(st, H, "del", old.seq[0], 1, "old", 3), CV_ENOTFOUND);
    CHECK_RC(cv_store_offline_push(st, H, "del", 1, "new", 3, 10, &seq), 0);
    CHECK(seq > old.seq[1]);
    CHECK_RC(cv_store_offline_restore(st, H, "del", old.seq[1], 1, "old", 3), CV_ENOTFOUND);
    CHECK_RC(cv_store_offline_count(st, H, "del", &n), 0);
    CHECK(n == 1);
    /* Its own still go back. */
    CHECK_RC(cv_store_offline_delete(st, H, "del", &seq, 1, &del), 0);
    CHECK(del == 1);
    CHECK_RC(cv_store_offline_restore(st, H, "del", seq, 1, "new", 3), 0);
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_offline_fetch(st, H, "del", offline_collect, &seen), 0);
    CHECK(seen.n == 1 && seen.seq[0] == seq && strcmp(seen.text[0], "new") == 0);
    /* The other account's queue is untouched and numbered from the same counter. */
    CHECK_RC(cv_store_offline_push(st, H, "dela", 1, "m", 1, 10, &seq), 0);
    CHECK(seq > seen.seq[0]);
}

/* ---- a full map in the middle of a batch ---- */

typedef struct slot_s {
    int rc;
    uint64_t value;
} slot_t;

static void async_done(void *ctx, int rc, uint64_t value)
{
    slot_t *slot = ctx;
    slot->rc = rc;
    slot->value = value;
}

static void test_map_full(const char *dir)
{
    static char big[8000];
    cv_store_t *st = open_store(dir, 256 * 1024);
    int ok = 0, rc = 0;
    size_t n = 0;

    if (st == NULL)
        return;
    CHECK_RC(cv_store_account_create(st, H, "full", "c", 1), 0);
    memset(big, 'B', sizeof big);
    for (int i = 0; i < 1000; i++) {
        rc = cv_store_offline_push(st, H, "full", (uint64_t)i, big, sizeof big, SIZE_MAX, NULL);
        if (rc != 0)
            break;
        ok++;
    }
    CHECK_RC(rc, CV_ELIMIT);
    CHECK(ok > 0);
    CHECK_RC(cv_store_offline_count(st, H, "full", &n), 0);
    CHECK(n == (size_t)ok);
    /* A small write still fits next to the failed big one. */
    CHECK_RC(cv_store_offline_push(st, H, "full", 1, "s", 1, SIZE_MAX, NULL), 0);
    cv_store_close(st);
    st = open_store(dir, 0);
    if (st == NULL)
        return;
    CHECK_RC(cv_store_offline_count(st, H, "full", &n), 0);
    CHECK(n == (size_t)ok + 1);
    cv_store_close(st);
}

typedef struct acked_s {
    uint64_t seq[200];
    size_t n;
    size_t seen;
} acked_t;

static int acked_cb(void *ctx, uint64_t seq, uint64_t stamp, const void *data, size_t len)
{
    acked_t *a = ctx;
    (void)stamp;
    (void)data;
    (void)len;
    for (size_t i = 0; i < a->n; i++)
        if (a->seq[i] == seq)
            a->seen++;
    return 0;
}

/* Many writes in one batch while the map fills: each is acknowledged or refused on its
 * own, and exactly the acknowledged ones are on disk afterwards. */
static void test_map_full_batch(const char *dir)
{
    static char big[6000];
    slot_t slots[120];
    acked_t acked = {.n = 0};
    size_t refused = 0, n = 0;
    cv_store_t *st = open_store(dir, 256 * 1024);

    if (st == NULL)
        return;
    CHECK_RC(cv_store_account_create(st, H, "fill", "c", 1), 0);
    memset(big, 'b', sizeof big);
    for (int i = 0; i < 120; i++) {
        slots[i].rc = 1;
        CHECK_RC(cv_store_offline_push_async(st, H, "fill", (uint64_t)i, big,
                                             i % 3 == 2 ? 1 : sizeof big, SIZE_MAX, async_done,
                                             &slots[i]),
                 0);
    }
    /* FIFO: when this returns every earlier callback has run. */
    (void)cv_store_last_set(st, H, "fill", 1, NULL);
    for (int i = 0; i < 120; i++) {
        if (slots[i].rc == 0)
            acked.seq[acked.n++] = slots[i].value;
        else if (slots[i].rc == CV_ELIMIT)
            refused++;
        else
            CHECK_RC(slots[i].rc, 0);
    }
    CHECK(acked.n > 0 && refused > 0);
    cv_store_close(st);
    st = open_store(dir, 0);
    if (st == NULL)
        return;
    CHECK_RC(cv_store_offline_count(st, H, "fill", &n), 0);
    CHECK(n == acked.n);
    CHECK_RC(cv_store_offline_fetch(st, H, "fill", acked_cb, &acked), 0);
    CHECK(acked.seen == acked.n);
    cv_store_close(st);
}

/* ---- asynchronous calls complete on the writer ---- */

static void test_async(cv_store_t *st)
{
    slot_t slots[20];
    cv_store_roster_item_t it = {.contact = "c@d"};
    offline_seen_t seen;

    CHECK_RC(cv_store_account_create(st, H, "asy", "c", 1), 0);
    for (int i = 0; i < 20; i++) {
        slots[i].rc = 1;
        slots[i].value = 0;
        CHECK_RC(cv_store_offline_push_async(st, H, "asy", (uint64_t)i, "abc", 3, 15, async_done,
                                             &slots[i]),
                 0);
    }
    /* A blocking write queued behind them completes after them (FIFO writer). */
    CHECK_RC(cv_store_roster_put(st, H, "asy", &it, NULL), 0);
    for (int i = 0; i < 20; i++) {
        if (i < 15)
            CHECK(slots[i].rc == 0 && slots[i].value == slots[0].value + (uint64_t)i);
        else
            CHECK(slots[i].rc == CV_ELIMIT);
    }
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_offline_fetch(st, H, "asy", offline_collect, &seen), 0);
    CHECK(seen.n == 15 && seen.stamp[14] == 14);
    CHECK_RC(cv_store_offline_push_async(st, H, "asy", 1, "x", 1, 10, NULL, NULL), CV_EINVAL);
    CHECK_RC(cv_store_roster_remove_async(st, H, "asy", "c@d", async_done, &slots[0]), 0);
    CHECK_RC(cv_store_roster_put_async(st, H, "asy", &it, async_done, &slots[1]), 0);
    /* The slots must outlive the callbacks: a blocking write behind them drains them. */
    CHECK_RC(cv_store_last_set(st, H, "asy", 1, NULL), 0);
    CHECK(slots[0].rc == 0 && slots[1].rc == 0 && slots[1].value > slots[0].value);
}

/* ---- schema upgrade ---- */

/* Reads dir as LMDB itself: the schema version is 3 (and the database db exists, if
   given). */
static void check_schema_3(const char *dir, const char *db)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k = {.mv_size = 14, .mv_data = "schema_version"};
    MDB_val v;

    CHECK(mdb_env_create(&env) == 0);
    CHECK(mdb_env_set_maxdbs(env, 16) == 0);
    CHECK(mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0);
    CHECK(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
    CHECK(mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 4 &&
          memcmp(v.mv_data, "\0\0\0\3", 4) == 0);
    if (db)
        CHECK(mdb_dbi_open(txn, db, 0, &dbi) == 0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void test_schema_upgrade(const char *dir)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi meta, acc;
    unsigned char ver[4] = {0, 0, 0, 1};
    MDB_val k = {.mv_size = 14, .mv_data = "schema_version"};
    MDB_val v = {.mv_size = sizeof ver, .mv_data = ver};
    MDB_val ak = {.mv_size = 7, .mv_data = "h\0alice"};
    MDB_val av = {.mv_size = 2, .mv_data = "\1k"};

    /* A version 1 database as the first release wrote it: meta and accounts only. */
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(mdb_env_create(&env) == 0);
    CHECK(mdb_env_set_maxdbs(env, 4) == 0);
    CHECK(mdb_env_open(env, dir, 0, 0600) == 0);
    CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta) == 0);
    CHECK(mdb_dbi_open(txn, "accounts", MDB_CREATE, &acc) == 0);
    CHECK(mdb_put(txn, meta, &k, &v, 0) == 0);
    CHECK(mdb_put(txn, acc, &ak, &av, 0) == 0);
    CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);

    cv_store_t *st = open_store(dir, MAP_SIZE);
    if (st == NULL)
        return;
    CHECK_RC(cv_store_account_exists(st, "h", "alice"), 0);
    CHECK_RC(cv_store_vcard_set(st, "h", "alice", "<v/>", 4), 0);
    cv_store_close(st);

    check_schema_3(dir, "vcards");
}

/* A version 2 database numbered each account's queue on its own and kept 16-byte
   offline_meta records: at open the shared counter starts above every account's, its
   accounts' own messages still go back, and the version becomes 3. */
static void test_offline_counter_upgrade(const char *dir)
{
    static const char ok[] = H "\0old";
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi meta, ometa;
    unsigned char ver[4] = {0, 0, 0, 2}, rec[16] = {0};
    MDB_val k = {.mv_size = 14, .mv_data = "schema_version"};
    MDB_val v = {.mv_size = sizeof ver, .mv_data = ver};
    MDB_val nk = {.mv_size = 12, .mv_data = "offline_next"};
    MDB_val mk = {.mv_size = sizeof ok, .mv_data = (void *)ok}; /* host \0 user \0 */
    MDB_val mv = {.mv_size = sizeof rec, .mv_data = rec};
    offline_seen_t seen;
    uint64_t seq = 0;
    size_t del = 0;
    cv_store_t *st = open_store(dir, MAP_SIZE);

    if (st == NULL)
        return;
    CHECK_RC(cv_store_account_create(st, H, "old", "c", 1), 0);
    CHECK_RC(cv_store_account_create(st, H, "two", "c", 1), 0);
    for (int i = 0; i < 3; i++)
        CHECK_RC(cv_store_offline_push(st, H, "old", 1, "m", 1, 10, NULL), 0);
    cv_store_close(st);

    /* Rewritten as version 2 left it, the account's own counter at 1000. */
    rec[6] = 1000 >> 8;
    rec[7] = 1000 & 0xff;
    rec[15] = 3;
    CHECK(mdb_env_create(&env) == 0);
    CHECK(mdb_env_set_maxdbs(env, 16) == 0);
    CHECK(mdb_env_open(env, dir, 0, 0600) == 0);
    CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    CHECK(mdb_dbi_open(txn, "offline_meta", 0, &ometa) == 0);
    CHECK(mdb_put(txn, meta, &k, &v, 0) == 0);
    CHECK(mdb_del(txn, meta, &nk, NULL) == 0);
    CHECK(mdb_put(txn, ometa, &mk, &mv, 0) == 0);
    CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);

    st = open_store(dir, MAP_SIZE);
    if (st == NULL)
        return;
    CHECK_RC(cv_store_offline_push(st, H, "two", 1, "t", 1, 10, &seq), 0);
    CHECK(seq >= 1000);
    memset(&seen, 0, sizeof seen);
    CHECK_RC(cv_store_offline_fetch(st, H, "old", offline_collect, &seen), 0);
    CHECK(seen.n == 3);
    CHECK_RC(cv_store_offline_delete(st, H, "old", seen.seq, 1, &del), 0);
    CHECK(del == 1);
    CHECK_RC(cv_store_offline_restore(st, H, "old", seen.seq[0], 1, "m", 1), 0);
    CHECK_RC(cv_store_offline_push(st, H, "old", 1, "m", 1, 10, &seq), 0);
    CHECK(seq > 1000);
    cv_store_close(st);

    check_schema_3(dir, NULL);
}

int main(void)
{
    char base[256], dir[320];

    if (check_tmpdir(base, sizeof base, "corvid-store-user") < 0)
        return 1;
    snprintf(dir, sizeof dir, "%s/main", base);
    cv_store_t *st = open_store(dir, MAP_SIZE);
    if (st != NULL) {
        test_roster(st);
        test_blobs(st);
        test_blocklist(st);
        test_account_delete(st);
        test_async(st);
        cv_store_close(st);
    }
    snprintf(dir, sizeof dir, "%s/offline", base);
    test_offline(dir);
    snprintf(dir, sizeof dir, "%s/restore", base);
    test_offline_restore(dir);
    snprintf(dir, sizeof dir, "%s/damaged", base);
    test_offline_damaged(dir);
    snprintf(dir, sizeof dir, "%s/full", base);
    test_map_full(dir);
    snprintf(dir, sizeof dir, "%s/fullbatch", base);
    test_map_full_batch(dir);
    snprintf(dir, sizeof dir, "%s/v1", base);
    test_schema_upgrade(dir);
    snprintf(dir, sizeof dir, "%s/v2", base);
    test_offline_counter_upgrade(dir);
    check_rm_tree(base);
    if (failures != 0) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
