/*
 * Account semantics of the storage interface on the LMDB backend: create/get/set/delete,
 * error codes, listing order and host separation, persistence across reopen, schema
 * version check, and a full map.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corvid/core.h"
#include "corvid/store.h"
#include "check.h"

#define MAP_SIZE (16u * 1024 * 1024)

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

/* Checks that get returns exactly want/wlen. */
static void check_cred(cv_store_t *st, const char *host, const char *user, const void *want,
                       size_t wlen, int line)
{
    unsigned char buf[CV_STORE_CRED_MAX];
    size_t len = (size_t)-1;
    int rc = cv_store_account_get(st, host, user, buf, sizeof buf, &len);
    if (rc != 0 || len != wlen || (wlen != 0 && memcmp(buf, want, wlen) != 0)) {
        printf("FAIL line %d: get %s@%s: rc %d (%s), len %zu want %zu\n", line, user, host, rc,
               cv_strerror(rc), len, wlen);
        failures++;
    }
}

static void test_open_errors(const char *base)
{
    cv_store_opts_t o = {.backend = "no-such-backend", .dir = base, .map_size = MAP_SIZE};
    cv_store_t *st = (cv_store_t *)&o; /* must be reset to NULL on failure */

    CHECK_RC(cv_store_open(&st, &o), CV_EUNSUPP);
    CHECK(st == NULL);
    CHECK_RC(cv_store_open(&st, NULL), CV_EINVAL);
    o.backend = "lmdb";
    o.dir = NULL;
    CHECK_RC(cv_store_open(&st, &o), CV_EINVAL);
    o.dir = "";
    CHECK_RC(cv_store_open(&st, &o), CV_EINVAL);

    /* A data directory path going through a regular file cannot be created. */
    char file[512], dir[600];
    snprintf(file, sizeof file, "%s/plainfile", base);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f != NULL)
        fclose(f);
    snprintf(dir, sizeof dir, "%s/sub", file);
    o.dir = dir;
    CHECK_RC(cv_store_open(&st, &o), CV_ESTORE);
    o.dir = file;
    CHECK_RC(cv_store_open(&st, &o), CV_ESTORE);
    cv_store_close(NULL);
}

static void test_crud(const char *base)
{
    static const unsigned char c1[] = {0x00, 0x01, 'x', 0xff, 0x00};
    unsigned char c2[300];
    unsigned char small[2];
    char dir[512];
    struct stat sb;
    size_t len;

    for (size_t i = 0; i < sizeof c2; i++)
        c2[i] = (unsigned char)(i * 7 + 3);
    snprintf(dir, sizeof dir, "%s/nested/deeper/data", base);
    cv_store_t *st = open_store(dir, MAP_SIZE);
    if (st == NULL)
        return;
    CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700);

    CHECK_RC(cv_store_account_get(st, "example.org", "alice", small, sizeof small, &len),
             CV_ENOTFOUND);
    CHECK_RC(cv_store_account_exists(st, "example.org", "alice"), CV_ENOTFOUND);
    CHECK_RC(cv_store_account_create(st, "example.org", "alice", c1, sizeof c1), 0);
    CHECK_RC(cv_store_account_exists(st, "example.org", "alice"), 0);
    check_cred(st, "example.org", "alice", c1, sizeof c1, __LINE__);

    /* Too small a buffer: nothing copied, size reported. */
    small[0] = small[1] = 0xAA;
    len = 0;
    CHECK_RC(cv_store_account_get(st, "example.org", "alice", small, sizeof small, &len),
             CV_ELIMIT);
    CHECK(len == sizeof c1);
    CHECK(small[0] == 0xAA && small[1] == 0xAA);
    len = 0;
    CHECK_RC(cv_store_account_get(st, "example.org", "alice", NULL, 0, &len), CV_ELIMIT);
    CHECK(len == sizeof c1);

    /* A second create fails and leaves the first credential alone. */
    CHECK_RC(cv_store_account_create(st, "example.org", "alice", c2, sizeof c2), CV_EEXIST);
    check_cred(st, "example.org", "alice", c1, sizeof c1, __LINE__);
    /* Same user on another host is another account. */
    CHECK_RC(cv_store_account_exists(st, "example.com", "alice"), CV_ENOTFOUND);
    CHECK_RC(cv_store_account_create(st, "example.com", "alice", c2, sizeof c2), 0);
    check_cred(st, "example.com", "alice", c2, sizeof c2, __LINE__);
    check_cred(st, "example.org", "alice", c1, sizeof c1, __LINE__);

    CHECK_RC(cv_store_account_set_cred(st, "example.org", "bob", c2, sizeof c2), CV_ENOTFOUND);
    CHECK_RC(cv_store_account_exists(st, "example.org", "bob"), CV_ENOTFOUND);
    CHECK_RC(cv_store_account_set_cred(st, "example.org", "alice", c2, sizeof c2), 0);
    check_cred(st, "example.org", "alice", c2, sizeof c2, __LINE__);
    CHECK_RC(cv_store_account_set_cred(st, "example.org", "alice", NULL, 0), 0);
    check_cred(st, "example.org", "alice", NULL, 0, __LINE__);
    CHECK_RC(cv_store_account_set_cred(st, "example.org", "alice", c1, 3), 0);
    check_cred(st, "example.org", "alice", c1, 3, __LINE__);

    CHECK_RC(cv_store_account_delete(st, "example.org", "alice"), 0);
    CHECK_RC(cv_store_account_delete(st, "example.org", "alice"), CV_ENOTFOUND);
    CHECK_RC(cv_store_account_get(st, "example.org", "alice", small, sizeof small, &len),
             CV_ENOTFOUND);
    CHECK_RC(cv_store_account_exists(st, "example.org", "alice"), CV_ENOTFOUND);
    CHECK_RC(cv_store_account_set_cred(st, "example.org", "alice", c1, sizeof c1), CV_ENOTFOUND);
    check_cred(st, "example.com", "alice", c2, sizeof c2, __LINE__);
    CHECK_RC(cv_store_account_create(st, "example.org", "alice", c1, sizeof c1), 0);
    check_cred(st, "example.org", "alice", c1, sizeof c1, __LINE__);

    /* Arguments the interface rejects before reaching the backend. */
    CHECK_RC(cv_store_account_create(st, "", "u", c1, 1), CV_EINVAL);
    CHECK_RC(cv_store_account_create(st, "h", "", c1, 1), CV_EINVAL);
    CHECK_RC(cv_store_account_create(st, NULL, "u", c1, 1), CV_EINVAL);
    CHECK_RC(cv_store_account_create(st, "h", NULL, c1, 1), CV_EINVAL);
    CHECK_RC(cv_store_account_create(NULL, "h", "u", c1, 1), CV_EINVAL);
    CHECK_RC(cv_store_account_create(st, "h", "u", NULL, 5), CV_EINVAL);
    CHECK_RC(cv_store_account_get(st, "h", "u", NULL, 5, &len), CV_EINVAL);
    CHECK_RC(cv_store_account_get(st, "h", "u", small, sizeof small, NULL), CV_EINVAL);
    CHECK_RC(cv_store_account_count(st, "h", NULL), CV_EINVAL);
    CHECK_RC(cv_store_account_list(st, "h", NULL, NULL), CV_EINVAL);
    {
        unsigned char *big = calloc(1, CV_STORE_CRED_MAX + 1);
        CHECK(big != NULL);
        if (big != NULL) {
            CHECK_RC(cv_store_account_create(st, "h", "u", big, CV_STORE_CRED_MAX + 1), CV_ELIMIT);
            CHECK_RC(cv_store_account_create(st, "h", "big", big, CV_STORE_CRED_MAX), 0);
            check_cred(st, "h", "big", big, CV_STORE_CRED_MAX, __LINE__);
            free(big);
        }
        CHECK_RC(cv_store_account_exists(st, "h", "u"), CV_ENOTFOUND);
    }

    /* Key length bound: exactly CV_STORE_LMDB_KEY_MAX bytes of host + user fits. */
    {
        char user[CV_STORE_LMDB_KEY_MAX + 2];
        memset(user, 'x', sizeof user - 1);
        user[sizeof user - 1] = '\0';
        user[CV_STORE_LMDB_KEY_MAX - 1] = '\0'; /* host "h" + 509 bytes = 510 */
        CHECK_RC(cv_store_account_create(st, "h", user, c1, 2), 0);
        check_cred(st, "h", user, c1, 2, __LINE__);
        user[CV_STORE_LMDB_KEY_MAX - 1] = 'x'; /* 511: too long */
        CHECK_RC(cv_store_account_create(st, "h", user, c1, 2), CV_ELIMIT);
        CHECK_RC(cv_store_account_get(st, "h", user, small, sizeof small, &len), CV_ENOTFOUND);
        CHECK_RC(cv_store_account_exists(st, "h", user), CV_ENOTFOUND);
        CHECK_RC(cv_store_account_set_cred(st, "h", user, c1, 2), CV_ENOTFOUND);
        CHECK_RC(cv_store_account_delete(st, "h", user), CV_ENOTFOUND);
        size_t n = 99;
        CHECK_RC(cv_store_account_count(st, user, &n), 0);
        CHECK(n == 0);
        CHECK_RC(cv_store_account_count(st, "h", &n), 0);
        CHECK(n == 2);
    }
    cv_store_close(st);
}

/* Collects the names a walk reports. */
typedef struct names_s {
    char items[16][64];
    size_t n;
    size_t stop_after; /* 0: never stop */
    cv_store_t *st;    /* set: create an account during the first call */
} names_t;

static int collect(void *ctx, const char *user)
{
    names_t *c = ctx;
    if (c->n < CV_ARRAY_LEN(c->items))
        snprintf(c->items[c->n], sizeof c->items[0], "%s", user);
    c->n++;
    if (c->st != NULL && c->n == 1)
        CHECK_RC(cv_store_account_create(c->st, "a.b", "dave", "d", 1), 0);
    if (c->stop_after != 0 && c->n == c->stop_after)
        return 7;
    return 0;
}

static void check_list(cv_store_t *st, const char *host, const char *const *want, size_t nwant,
                       int line)
{
    names_t c = {.n = 0};
    size_t count = 12345;
    int rc = cv_store_account_list(st, host, collect, &c);
    int ok = rc == 0 && c.n == nwant;
    for (size_t i = 0; ok && i < nwant; i++)
        ok = strcmp(c.items[i], want[i]) == 0;
    if (!ok) {
        printf("FAIL line %d: list %s: rc %d, %zu names:", line, host, rc, c.n);
        for (size_t i = 0; i < c.n && i < CV_ARRAY_LEN(c.items); i++)
            printf(" %s", c.items[i]);
        printf("\n");
        failures++;
    }
    rc = cv_store_account_count(st, host, &count);
    if (rc != 0 || count != nwant) {
        printf("FAIL line %d: count %s: rc %d, %zu want %zu\n", line, host, rc, count, nwant);
        failures++;
    }
}

static void fill_hosts(cv_store_t *st)
{
    static const char *const accounts[][2] = {
        {"a.b", "carol"},   {"a.b", "alice"}, {"a.b", "bob"}, {"a.b", "al"}, {"a.b.c", "zed"},
        {"a.b.c", "alice"}, {"a", "zz"},      {"a.bb", "x"},  {"a.c", "y"},  {"b", "alice"},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(accounts); i++)
        CHECK_RC(cv_store_account_create(st, accounts[i][0], accounts[i][1], "k", 1), 0);
}

static void check_hosts(cv_store_t *st)
{
    static const char *const ab[] = {"al", "alice", "bob", "carol"};
    static const char *const abc[] = {"alice", "zed"};
    static const char *const a[] = {"zz"};
    check_list(st, "a.b", ab, CV_ARRAY_LEN(ab), __LINE__);
    check_list(st, "a.b.c", abc, CV_ARRAY_LEN(abc), __LINE__);
    check_list(st, "a", a, CV_ARRAY_LEN(a), __LINE__);
    check_list(st, "a.", NULL, 0, __LINE__);
    check_list(st, "nohost", NULL, 0, __LINE__);
}

static void test_list_and_reopen(const char *base)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/hosts", base);
    cv_store_t *st = open_store(dir, MAP_SIZE);
    if (st == NULL)
        return;
    fill_hosts(st);
    check_hosts(st);

    /* A non-zero return stops the walk and is handed back. */
    names_t c = {.stop_after = 2};
    CHECK_RC(cv_store_account_list(st, "a.b", collect, &c), 7);
    CHECK(c.n == 2);

    /* The walk reads one snapshot: an account created from inside it is not seen by it,
     * but is there afterwards. */
    names_t w = {.st = st};
    CHECK_RC(cv_store_account_list(st, "a.b", collect, &w), 0);
    CHECK(w.n == 4);
    static const char *const ab5[] = {"al", "alice", "bob", "carol", "dave"};
    check_list(st, "a.b", ab5, CV_ARRAY_LEN(ab5), __LINE__);
    CHECK_RC(cv_store_account_delete(st, "a.b", "dave"), 0);
    cv_store_close(st);

    /* Everything survives a close and reopen (map size 0: keep the existing one). */
    st = open_store(dir, 0);
    if (st == NULL)
        return;
    check_hosts(st);
    check_cred(st, "b", "alice", "k", 1, __LINE__);
    CHECK_RC(cv_store_account_exists(st, "a.b", "dave"), CV_ENOTFOUND);
    cv_store_close(st);
}

/* A database whose schema version is not this build's is refused, untouched. */
static void test_schema_version(const char *base)
{
    char dir[512];
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    unsigned char ver[4] = {0, 0, 0, 99};
    MDB_val k = {.mv_size = 14, .mv_data = "schema_version"};
    MDB_val v = {.mv_size = sizeof ver, .mv_data = ver};

    snprintf(dir, sizeof dir, "%s/schema", base);
    cv_store_t *st = open_store(dir, MAP_SIZE);
    if (st == NULL)
        return;
    cv_store_close(st);

    /* The layout documented in docs/storage.md: "meta" holds a 4-byte big-endian
     * version, 3 today. */
    CHECK(mdb_env_create(&env) == 0);
    CHECK(mdb_env_set_maxdbs(env, 4) == 0);
    CHECK(mdb_env_open(env, dir, 0, 0600) == 0);
    CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
    MDB_val cur;
    CHECK(mdb_get(txn, dbi, &k, &cur) == 0 && cur.mv_size == 4 &&
          memcmp(cur.mv_data, "\0\0\0\3", 4) == 0);
    CHECK(mdb_put(txn, dbi, &k, &v, 0) == 0);
    CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);

    st = NULL;
    cv_store_opts_t o = {.backend = "lmdb", .dir = dir, .map_size = MAP_SIZE};
    CHECK_RC(cv_store_open(&st, &o), CV_ESTORE);
    CHECK(st == NULL);
    cv_store_close(st);
}

static void test_map_full(const char *base)
{
    unsigned char cred[1500];
    char dir[512], user[32];
    int created = 0, rc = 0;

    snprintf(dir, sizeof dir, "%s/full", base);
    /* A map far too small: the first few dozen accounts fill it. */
    cv_store_t *st = open_store(dir, 64 * 1024);
    if (st == NULL)
        return;
    for (int i = 0; i < 10000; i++) {
        memset(cred, i & 0xff, sizeof cred);
        snprintf(user, sizeof user, "user%05d", i);
        rc = cv_store_account_create(st, "full.example", user, cred, sizeof cred);
        if (rc != 0)
            break;
        created++;
    }
    CHECK_RC(rc, CV_ELIMIT);
    CHECK(created > 0);
    /* The failed write left nothing behind and reads still work. */
    snprintf(user, sizeof user, "user%05d", created);
    CHECK_RC(cv_store_account_exists(st, "full.example", user), CV_ENOTFOUND);
    for (int i = 0; i < created; i++) {
        memset(cred, i & 0xff, sizeof cred);
        snprintf(user, sizeof user, "user%05d", i);
        check_cred(st, "full.example", user, cred, sizeof cred, __LINE__);
    }
    size_t n = 0;
    CHECK_RC(cv_store_account_count(st, "full.example", &n), 0);
    CHECK(n == (size_t)created);
    cv_store_close(st);

    /* Reopened with a larger map, the same database accepts writes again. */
    st = open_store(dir, 4u * 1024 * 1024);
    if (st == NULL)
        return;
    snprintf(user, sizeof user, "user%05d", created);
    memset(cred, 0x5a, sizeof cred);
    CHECK_RC(cv_store_account_create(st, "full.example", user, cred, sizeof cred), 0);
    check_cred(st, "full.example", user, cred, sizeof cred, __LINE__);
    CHECK_RC(cv_store_account_count(st, "full.example", &n), 0);
    CHECK(n == (size_t)created + 1);
    cv_store_close(st);

    /* A map too small for even the empty databases is refused at open. */
    snprintf(dir, sizeof dir, "%s/tiny", base);
    cv_store_opts_t o = {.backend = "lmdb", .dir = dir, .map_size = 4096};
    st = NULL;
    rc = cv_store_open(&st, &o);
    CHECK_RC(rc, CV_ELIMIT);
    CHECK(st == NULL);
    cv_store_close(st);
}

/* Bulk creation: the missing accounts of a batch are made in one commit, existing ones
 * keep their credential, and a bad name anywhere in the batch creates none of them. */
static void test_create_many(const char *base)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/many", base);
    mkdir(dir, 0700);
    cv_store_t *st = open_store(dir, MAP_SIZE);
    if (!st)
        return;
    const char *const first[] = {"b1", "b2"};
    const char *const batch[] = {"b0", "b1", "b2", "b3"};
    const char *const bad[] = {"c1", "", "c2"};
    size_t made = 99;

    CHECK_RC(cv_store_account_create(st, "h", "b1", "old", 3), 0);
    CHECK_RC(cv_store_account_create_many(st, "h", first, 2, "new", 3, &made), 0);
    CHECK(made == 1);
    CHECK_RC(cv_store_account_create_many(st, "h", batch, 4, "new", 3, &made), 0);
    CHECK(made == 2);
    check_cred(st, "h", "b1", "old", 3, __LINE__);
    check_cred(st, "h", "b0", "new", 3, __LINE__);
    check_cred(st, "h", "b3", "new", 3, __LINE__);
    CHECK_RC(cv_store_account_create_many(st, "h", bad, 3, "new", 3, &made), CV_EINVAL);
    CHECK(made == 0);
    CHECK_RC(cv_store_account_exists(st, "h", "c1"), CV_ENOTFOUND);
    CHECK_RC(cv_store_account_create_many(st, "h", batch, 0, "new", 3, &made), 0);
    CHECK(made == 0);
    size_t count = 0;
    CHECK_RC(cv_store_account_count(st, "h", &count), 0);
    CHECK(count == 4);
    cv_store_close(st);
}

typedef struct seen_s {
    char names[8][64];
    int n, stop_after;
} seen_t;

static int note_deleted(void *ctx, const char *host, const char *user)
{
    seen_t *seen = ctx;
    if (seen->n < 8)
        snprintf(seen->names[seen->n], sizeof seen->names[0], "%s@%s", user, host);
    seen->n++;
    return seen->stop_after && seen->n == seen->stop_after ? 7 : 0;
}

/* The log of deleted accounts: a reader that starts at the newest entry sees the
   deletions after it, oldest first, once each, and only the newest CV_STORE_DELETED_KEEP
   are kept. (The integration tests read it from the server while corvidctl deletes.) */
static void test_deleted_log(const char *base)
{
    char dir[512], name[32];
    uint64_t cursor = 99, again = 0;
    seen_t seen = {.n = 0};
    snprintf(dir, sizeof dir, "%s/deleted", base);
    mkdir(dir, 0700);
    cv_store_t *st = open_store(dir, MAP_SIZE);
    if (!st)
        return;
    CHECK_RC(cv_store_accounts_deleted(st, &cursor, NULL, NULL), 0);
    CHECK(cursor == 99); /* an empty log leaves the start where it was */
    cursor = 0;
    CHECK_RC(cv_store_account_create(st, "h", "early", "c", 1), 0);
    CHECK_RC(cv_store_account_delete(st, "h", "early"), 0);
    CHECK_RC(cv_store_accounts_deleted(st, &cursor, NULL, NULL), 0); /* start: newest */
    CHECK(cursor == 1);
    CHECK_RC(cv_store_account_create(st, "h", "ann", "c", 1), 0);
    CHECK_RC(cv_store_account_create(st, "g", "bob", "c", 1), 0);
    CHECK_RC(cv_store_account_delete(st, "h", "ann"), 0);
    CHECK_RC(cv_store_account_delete(st, "h", "nobody"), CV_ENOTFOUND); /* not logged */
    CHECK_RC(cv_store_account_delete(st, "g", "bob"), 0);
    CHECK_RC(cv_store_accounts_deleted(st, &cursor, note_deleted, &seen), 0);
    CHECK(seen.n == 2 && !strcmp(seen.names[0], "ann@h") && !strcmp(seen.names[1], "bob@g"));
    CHECK(cursor == 3);
    seen.n = 0;
    CHECK_RC(cv_store_accounts_deleted(st, &cursor, note_deleted, &seen), 0);
    CHECK(seen.n == 0);
    /* A callback's non-zero value stops the walk where it is. */
    CHECK_RC(cv_store_account_create(st, "h", "c1", "c", 1), 0);
    CHECK_RC(cv_store_account_create(st, "h", "c2", "c", 1), 0);
    CHECK_RC(cv_store_account_delete(st, "h", "c1"), 0);
    CHECK_RC(cv_store_account_delete(st, "h", "c2"), 0);
    seen = (seen_t){.n = 0, .stop_after = 1};
    CHECK_RC(cv_store_accounts_deleted(st, &cursor, note_deleted, &seen), 7);
    CHECK(seen.n == 1 && cursor == 4);
    /* Bounded: after KEEP more deletions the oldest entries are gone. */
    for (int i = 0; i < CV_STORE_DELETED_KEEP + 2; i++) {
        snprintf(name, sizeof name, "n%d", i);
        if (cv_store_account_create(st, "h", name, "c", 1) != 0 ||
            cv_store_account_delete(st, "h", name) != 0) {
            CHECK(!"create and delete in a loop failed");
            break;
        }
    }
    seen = (seen_t){.n = 0};
    CHECK_RC(cv_store_accounts_deleted(st, &again, note_deleted, &seen), 0);
    CHECK(seen.n == CV_STORE_DELETED_KEEP);
    cv_store_close(st);
}

int main(void)
{
    char base[256];

    if (check_tmpdir(base, sizeof base, "corvid-store") < 0)
        return 1;
    test_open_errors(base);
    test_crud(base);
    test_list_and_reopen(base);
    test_schema_version(base);
    test_map_full(base);
    test_create_many(base);
    test_deleted_log(base);
    check_rm_tree(base);
    if (failures != 0) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
