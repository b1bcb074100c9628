/*
 * Concurrent use of one store: writer threads create, read back and update distinct
 * accounts on two hosts (one a prefix-extension of the other) while lister threads walk
 * and count those hosts. Listers check that every walk is sorted, belongs to its host and
 * never shrinks (there are no deletes); at the end every account must be present with
 * its last credential.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "corvid/core.h"
#include "corvid/store.h"
#include "check.h"

#define WRITERS 4
#define LISTERS 2
#define PER_WRITER 150

static const char *const hosts[2] = {"h.example", "h.example.org"};

typedef struct shared_s {
    cv_store_t *st;
    /* Set by main after every writer has joined; release/acquire is enough because
     * listers only use it to stop, and the final checks run after pthread_join. */
    atomic_int writers_done;
    /* Failed checks from any thread; relaxed: only read after all threads joined. */
    atomic_int failures;
} shared_t;

typedef struct worker_s {
    shared_t *sh;
    int id;
    unsigned long walks; /* lister only: completed walks */
} worker_t;

/* Writer w's accounts all live on hosts[w % 2], so each host is written by two threads. */
static void account_name(int w, int i, char *user, size_t cap)
{
    snprintf(user, cap, "w%d-%04d", w, i);
}

static size_t make_cred(int w, int i, int gen, char *cred, size_t cap)
{
    int n = snprintf(cred, cap, "cred:%d:%d:%d:%.*s", gen, w, i, i % 40,
                     "padding-padding-padding-padding-padding-");
    return (size_t)n;
}

static void check_get(shared_t *sh, const char *host, const char *user, const char *want,
                      size_t wlen)
{
    char buf[256];
    size_t len = 0;
    int rc = cv_store_account_get(sh->st, host, user, buf, sizeof buf, &len);
    if (rc != 0 || len != wlen || memcmp(buf, want, wlen) != 0)
        FAIL(sh, "get %s@%s: rc %d (%s), len %zu want %zu", user, host, rc, cv_strerror(rc), len,
             wlen);
}

static void *writer_main(void *arg)
{
    worker_t *wk = arg;
    shared_t *sh = wk->sh;
    const char *host = hosts[wk->id % 2];
    char user[32], cred[128];
    size_t clen;
    int rc;

    for (int i = 0; i < PER_WRITER; i++) {
        account_name(wk->id, i, user, sizeof user);
        clen = make_cred(wk->id, i, 0, cred, sizeof cred);
        rc = cv_store_account_create(sh->st, host, user, cred, clen);
        if (rc != 0)
            FAIL(sh, "create %s@%s: %s", user, host, cv_strerror(rc));
        check_get(sh, host, user, cred, clen);
        /* Every tenth account gets a second credential, read back at the end. */
        if (i % 10 == 0) {
            clen = make_cred(wk->id, i, 1, cred, sizeof cred);
            rc = cv_store_account_set_cred(sh->st, host, user, cred, clen);
            if (rc != 0)
                FAIL(sh, "set_cred %s@%s: %s", user, host, cv_strerror(rc));
            check_get(sh, host, user, cred, clen);
        }
        /* An earlier account of this writer is still there. */
        if (i > 0) {
            account_name(wk->id, i / 2, user, sizeof user);
            rc = cv_store_account_exists(sh->st, host, user);
            if (rc != 0)
                FAIL(sh, "exists %s@%s: %s", user, host, cv_strerror(rc));
        }
        rc = cv_store_account_create(sh->st, host, user, "x", 1);
        if (rc != CV_EEXIST)
            FAIL(sh, "second create %s@%s: %s", user, host, cv_strerror(rc));
    }
    return NULL;
}

typedef struct walk_s {
    shared_t *sh;
    const char *host;
    char prev[64];
    size_t n;
} walk_t;

static int walk_cb(void *ctx, const char *user)
{
    walk_t *w = ctx;
    int wid;
    int idx;
    char tail;

    /* Names on hosts[k] come only from writers with id % 2 == k. */
    if (sscanf(user, "w%d-%d%c", &wid, &idx, &tail) != 2 || wid < 0 || wid >= WRITERS ||
        hosts[wid % 2] != w->host || idx < 0 || idx >= PER_WRITER)
        FAIL(w->sh, "list %s returned foreign name %s", w->host, user);
    if (w->n > 0 && strcmp(w->prev, user) >= 0)
        FAIL(w->sh, "list %s out of order: %s then %s", w->host, w->prev, user);
    snprintf(w->prev, sizeof w->prev, "%s", user);
    w->n++;
    return 0;
}

static void *lister_main(void *arg)
{
    worker_t *wk = arg;
    shared_t *sh = wk->sh;
    size_t last_walk[2] = {0, 0}, last_count[2] = {0, 0};
    int done;

    do {
        /* Read the flag before walking, so the walk after the last write is included. */
        done = atomic_load_explicit(&sh->writers_done, memory_order_acquire);
        for (int h = 0; h < 2; h++) {
            walk_t w = {.sh = sh, .host = hosts[h]};
            size_t count = 0;
            int rc = cv_store_account_list(sh->st, hosts[h], walk_cb, &w);
            if (rc != 0)
                FAIL(sh, "list %s: %s", hosts[h], cv_strerror(rc));
            if (w.n < last_walk[h])
                FAIL(sh, "list %s shrank from %zu to %zu", hosts[h], last_walk[h], w.n);
            last_walk[h] = w.n;
            rc = cv_store_account_count(sh->st, hosts[h], &count);
            if (rc != 0)
                FAIL(sh, "count %s: %s", hosts[h], cv_strerror(rc));
            if (count < last_count[h] || count < w.n)
                FAIL(sh, "count %s went back: %zu after %zu (walk %zu)", hosts[h], count,
                     last_count[h], w.n);
            last_count[h] = count;
        }
        wk->walks++;
    } while (!done);
    for (int h = 0; h < 2; h++)
        if (last_walk[h] != (size_t)PER_WRITER * WRITERS / 2)
            FAIL(sh, "last walk of %s saw %zu accounts, want %d", hosts[h], last_walk[h],
                 PER_WRITER * WRITERS / 2);
    return NULL;
}

int main(void)
{
    pthread_t writers[WRITERS], listers[LISTERS];
    worker_t wk[WRITERS], lk[LISTERS];
    shared_t sh = {.st = NULL};
    char base[256], dir[300], user[32], cred[128];
    int rc;

    atomic_init(&sh.writers_done, 0);
    atomic_init(&sh.failures, 0);
    if (check_tmpdir(base, sizeof base, "corvid-store-thr") < 0)
        return 1;
    snprintf(dir, sizeof dir, "%s/data", base);
    cv_store_opts_t o = {.backend = "lmdb", .dir = dir, .map_size = 64u * 1024 * 1024};
    rc = cv_store_open(&sh.st, &o);
    if (rc != 0) {
        printf("FAIL open: %s\n", cv_strerror(rc));
        return 1;
    }

    for (int i = 0; i < LISTERS; i++) {
        lk[i] = (worker_t){.sh = &sh, .id = i};
        if (pthread_create(&listers[i], NULL, lister_main, &lk[i]) != 0) {
            printf("FAIL pthread_create\n");
            return 1;
        }
    }
    for (int i = 0; i < WRITERS; i++) {
        wk[i] = (worker_t){.sh = &sh, .id = i};
        if (pthread_create(&writers[i], NULL, writer_main, &wk[i]) != 0) {
            printf("FAIL pthread_create\n");
            return 1;
        }
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(writers[i], NULL);
    atomic_store_explicit(&sh.writers_done, 1, memory_order_release);
    for (int i = 0; i < LISTERS; i++) {
        pthread_join(listers[i], NULL);
        if (lk[i].walks < 2)
            FAIL(&sh, "lister %d walked only %lu time(s)", i, lk[i].walks);
    }

    for (int w = 0; w < WRITERS; w++) {
        for (int i = 0; i < PER_WRITER; i++) {
            account_name(w, i, user, sizeof user);
            size_t clen = make_cred(w, i, i % 10 == 0 ? 1 : 0, cred, sizeof cred);
            check_get(&sh, hosts[w % 2], user, cred, clen);
            /* Never on the other host. */
            rc = cv_store_account_exists(sh.st, hosts[(w + 1) % 2], user);
            if (rc != CV_ENOTFOUND)
                FAIL(&sh, "%s found on %s: %s", user, hosts[(w + 1) % 2], cv_strerror(rc));
        }
    }
    for (int h = 0; h < 2; h++) {
        size_t n = 0;
        rc = cv_store_account_count(sh.st, hosts[h], &n);
        if (rc != 0 || n != (size_t)PER_WRITER * WRITERS / 2)
            FAIL(&sh, "final count %s: rc %d, %zu", hosts[h], rc, n);
    }
    cv_store_close(sh.st);
    check_rm_tree(base);

    failures = atomic_load_explicit(&sh.failures, memory_order_relaxed);
    if (failures != 0) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok (%lu and %lu walks)\n", lk[0].walks, lk[1].walks);
    return 0;
}
