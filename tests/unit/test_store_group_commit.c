/*
 * The group-commit writer under concurrency. Eight producer threads push durable offline
 * messages (to their own user and to one shared user) while two threads change one
 * roster and a reader walks the queues; every acknowledged push must be present, in
 * order and exactly once after a close and reopen, and the counts must match. Roster
 * versions handed back must be unique and growing.
 *
 * It also prints the durable pushes per second with one producer (every push waits for
 * its own sync) and with eight (pushes arriving during a sync share the next one). The
 * figures are reported, not asserted: they depend on the disk. Run it on the disk of
 * interest with TMPDIR=/path ./test_store_group_commit.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "corvid/core.h"
#include "corvid/store.h"
#include "check.h"

#define PRODUCERS 8
#define ROSTER_THREADS 2
#define PHASE_SECONDS 1.0
#define MAX_PER_THREAD 200000
#define H "gc.example"

typedef struct shared_s {
    cv_store_t *st;
    /* Set by main to end a phase; release/acquire: threads only use it to stop. */
    atomic_int stop;
    /* Failed checks from any thread; relaxed: read after every thread joined. */
    atomic_int failures;
} shared_t;

typedef struct producer_s {
    shared_t *sh;
    int id;
    char user[16];
    size_t own;    /* acknowledged pushes to user */
    size_t shared; /* acknowledged pushes to "shared" */
} producer_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *producer_main(void *arg)
{
    producer_t *p = arg;
    shared_t *sh = p->sh;
    char msg[64];
    uint64_t seq, last = 0; /* only this thread writes to its user's queue */
    int rc;

    while (!atomic_load_explicit(&sh->stop, memory_order_acquire) && p->own < MAX_PER_THREAD) {
        int to_shared = (p->own + p->shared) % 4 == 3;
        int n = snprintf(msg, sizeof msg, "<message id='%d-%zu'/>", p->id,
                         to_shared ? p->shared : p->own);
        rc = cv_store_offline_push(sh->st, H, to_shared ? "shared" : p->user, (uint64_t)p->id, msg,
                                   (size_t)n, SIZE_MAX, &seq);
        if (rc != 0) {
            FAIL(sh, "push %d: %s", p->id, cv_strerror(rc));
            break;
        }
        if (to_shared) {
            p->shared++;
        } else {
            /* Sequence numbers of a user's queue grow with each push (by one or more:
               one counter numbers every queue). */
            if (seq <= last)
                FAIL(sh, "producer %d got sequence %llu after %llu", p->id, (unsigned long long)seq,
                     (unsigned long long)last);
            last = seq;
        }
        p->own += !to_shared;
    }
    return NULL;
}

/* The same load without group commit: account writes commit on the caller's thread, so
 * eight threads doing them still pay one sync each, one after the other. */
static void *direct_main(void *arg)
{
    producer_t *p = arg;
    shared_t *sh = p->sh;
    char cred[64];
    int rc;

    while (!atomic_load_explicit(&sh->stop, memory_order_acquire)) {
        int n = snprintf(cred, sizeof cred, "<message id='%d-%zu'/>", p->id, p->own);
        rc = cv_store_account_set_cred(sh->st, H, p->user, cred, (size_t)n);
        if (rc != 0) {
            FAIL(sh, "set_cred %d: %s", p->id, cv_strerror(rc));
            break;
        }
        p->own++;
    }
    return NULL;
}

typedef struct roster_thr_s {
    shared_t *sh;
    int id;
    size_t puts;
} roster_thr_t;

static void *roster_main(void *arg)
{
    roster_thr_t *r = arg;
    shared_t *sh = r->sh;
    static const char *const groups[] = {"A", "B"};
    char contact[64];
    uint64_t ver, last = 0;
    int rc;

    while (!atomic_load_explicit(&r->sh->stop, memory_order_acquire)) {
        cv_store_roster_item_t it = {.contact = contact, .groups = groups, .ngroups = 2};
        snprintf(contact, sizeof contact, "c%d-%zu@x.lit", r->id, r->puts % 50);
        rc = cv_store_roster_put(sh->st, H, "shared", &it, &ver);
        if (rc != 0) {
            FAIL(sh, "roster put: %s", cv_strerror(rc));
            break;
        }
        if (ver <= last)
            FAIL(sh, "roster version went from %llu to %llu", (unsigned long long)last,
                 (unsigned long long)ver);
        last = ver;
        r->puts++;
    }
    return NULL;
}

typedef struct order_s {
    shared_t *sh;
    uint64_t last_seq;
    long next_own; /* expected index of the next message of the checked producer, or -1 */
    int id;
    long next[PRODUCERS];
    size_t n;
} order_t;

/* Checks FIFO order: sequences grow, and each producer's messages come in push order. */
static int order_cb(void *ctx, uint64_t seq, uint64_t stamp, const void *data, size_t len)
{
    order_t *o = ctx;
    int id;
    long idx;
    char tail;
    char text[64];

    snprintf(text, sizeof text, "%.*s", (int)len, (const char *)data);
    if (seq <= o->last_seq)
        FAIL(o->sh, "offline sequence %llu after %llu", (unsigned long long)seq,
             (unsigned long long)o->last_seq);
    o->last_seq = seq;
    if (sscanf(text, "<message id='%d-%ld'/%c", &id, &idx, &tail) != 3 || id < 0 ||
        id >= PRODUCERS || (uint64_t)id != stamp) {
        FAIL(o->sh, "foreign message %s", text);
        return 1;
    }
    if (idx != o->next[id])
        FAIL(o->sh, "producer %d: message %ld where %ld was due", id, idx, o->next[id]);
    o->next[id] = idx + 1;
    o->n++;
    return 0;
}

static void *reader_main(void *arg)
{
    shared_t *sh = arg;
    size_t last = 0, n;

    while (!atomic_load_explicit(&sh->stop, memory_order_acquire)) {
        order_t o = {.sh = sh};
        int rc = cv_store_offline_fetch(sh->st, H, "shared", order_cb, &o);
        if (rc != 0)
            FAIL(sh, "fetch: %s", cv_strerror(rc));
        if (o.n < last)
            FAIL(sh, "shared queue shrank from %zu to %zu", last, o.n);
        last = o.n;
        rc = cv_store_offline_count(sh->st, H, "shared", &n);
        if (rc != 0 || n < last)
            FAIL(sh, "count %zu below a walk of %zu: %s", n, last, cv_strerror(rc));
    }
    return NULL;
}

/* Runs nprod producers (and, in the concurrent phase, the roster and reader threads)
 * for PHASE_SECONDS; returns the acknowledged pushes per second. */
static double run_phase(shared_t *sh, producer_t *prod, int nprod, void *(*fn)(void *),
                        roster_thr_t *rt, int nrt, size_t *pushes)
{
    pthread_t tp[PRODUCERS], tr[ROSTER_THREADS], trd;
    size_t before = 0, after = 0;
    double t0, t1;

    for (int i = 0; i < nprod; i++)
        before += prod[i].own + prod[i].shared;
    atomic_store_explicit(&sh->stop, 0, memory_order_release);
    t0 = now_s();
    for (int i = 0; i < nprod; i++)
        CV_ASSERT(pthread_create(&tp[i], NULL, fn, &prod[i]) == 0);
    for (int i = 0; i < nrt; i++)
        CV_ASSERT(pthread_create(&tr[i], NULL, roster_main, &rt[i]) == 0);
    if (nrt != 0)
        CV_ASSERT(pthread_create(&trd, NULL, reader_main, sh) == 0);
    while (now_s() - t0 < PHASE_SECONDS) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store_explicit(&sh->stop, 1, memory_order_release);
    for (int i = 0; i < nprod; i++)
        pthread_join(tp[i], NULL);
    t1 = now_s();
    for (int i = 0; i < nrt; i++)
        pthread_join(tr[i], NULL);
    if (nrt != 0)
        pthread_join(trd, NULL);
    for (int i = 0; i < nprod; i++)
        after += prod[i].own + prod[i].shared;
    *pushes = after - before;
    return (double)(after - before) / (t1 - t0);
}

static int roster_count_cb(void *ctx, const cv_store_roster_item_t *it)
{
    (void)it;
    (*(size_t *)ctx)++;
    return 0;
}

int main(void)
{
    producer_t prod[PRODUCERS];
    roster_thr_t rt[ROSTER_THREADS];
    shared_t sh = {.st = NULL};
    char base[256], dir[300];
    size_t nd, n1, n8, n;
    double rd, r1, r8;
    int rc;

    atomic_init(&sh.stop, 0);
    atomic_init(&sh.failures, 0);
    if (check_tmpdir(base, sizeof base, "corvid-store-gc") < 0)
        return 1;
    snprintf(dir, sizeof dir, "%s/data", base);
    cv_store_opts_t o = {.backend = "lmdb", .dir = dir, .map_size = 256u * 1024 * 1024};
    rc = cv_store_open(&sh.st, &o);
    if (rc != 0) {
        printf("FAIL open: %s\n", cv_strerror(rc));
        return 1;
    }
    CV_ASSERT(cv_store_account_create(sh.st, H, "shared", "c", 1) == 0);
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i] = (producer_t){.sh = &sh, .id = i};
        snprintf(prod[i].user, sizeof prod[i].user, "u%d", i);
        CV_ASSERT(cv_store_account_create(sh.st, H, prod[i].user, "c", 1) == 0);
    }
    for (int i = 0; i < ROSTER_THREADS; i++)
        rt[i] = (roster_thr_t){.sh = &sh, .id = i};

    /* Eight threads, one sync per write (no group commit), on the account records. */
    rd = run_phase(&sh, prod, PRODUCERS, direct_main, rt, 0, &nd);
    for (int i = 0; i < PRODUCERS; i++)
        prod[i].own = 0;
    /* One producer: every push is a batch of one, i.e. one sync per push. */
    r1 = run_phase(&sh, prod, 1, producer_main, rt, 0, &n1);
    r8 = run_phase(&sh, prod, PRODUCERS, producer_main, rt, ROSTER_THREADS, &n8);
    printf("durable writes/s over %.1f s each: %d threads, one sync per write: %.0f (%zu); "
           "group commit, 1 producer: %.0f (%zu); group commit, %d producers (+%d roster "
           "writers and a reader): %.0f (%zu) = %.1fx the first\n",
           PHASE_SECONDS, PRODUCERS, rd, nd, r1, n1, PRODUCERS, ROSTER_THREADS, r8, n8,
           rd > 0 ? r8 / rd : 0.0);
    if (n1 == 0 || n8 == 0)
        FAIL(&sh, "no push acknowledged (%zu, %zu)", n1, n8);
    cv_store_close(sh.st);

    /* Everything acknowledged is on disk, once, in order. */
    sh.st = NULL;
    rc = cv_store_open(&sh.st, &o);
    if (rc != 0) {
        printf("FAIL reopen: %s\n", cv_strerror(rc));
        return 1;
    }
    size_t shared_total = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        order_t ord = {.sh = &sh};
        rc = cv_store_offline_fetch(sh.st, H, prod[i].user, order_cb, &ord);
        if (rc != 0 || ord.n != prod[i].own || ord.next[i] != (long)prod[i].own)
            FAIL(&sh, "queue of %s: rc %d, %zu messages, %zu acknowledged", prod[i].user, rc, ord.n,
                 prod[i].own);
        rc = cv_store_offline_count(sh.st, H, prod[i].user, &n);
        if (rc != 0 || n != prod[i].own)
            FAIL(&sh, "count of %s: %zu, want %zu", prod[i].user, n, prod[i].own);
        shared_total += prod[i].shared;
    }
    order_t ord = {.sh = &sh};
    rc = cv_store_offline_fetch(sh.st, H, "shared", order_cb, &ord);
    if (rc != 0 || ord.n != shared_total)
        FAIL(&sh, "shared queue: rc %d, %zu messages, %zu acknowledged", rc, ord.n, shared_total);
    for (int i = 0; i < PRODUCERS; i++)
        if (ord.next[i] != (long)prod[i].shared)
            FAIL(&sh, "shared queue holds %ld of producer %d, %zu acknowledged", ord.next[i], i,
                 prod[i].shared);
    rc = cv_store_offline_count(sh.st, H, "shared", &n);
    if (rc != 0 || n != shared_total)
        FAIL(&sh, "count of shared: %zu, want %zu", n, shared_total);

    /* The roster holds the distinct contacts written, and its count agrees. */
    size_t want_items = 0, walked = 0;
    for (int i = 0; i < ROSTER_THREADS; i++)
        want_items += rt[i].puts < 50 ? rt[i].puts : 50;
    uint64_t ver = 0;
    rc = cv_store_roster_get(sh.st, H, "shared", roster_count_cb, &walked, &ver);
    if (rc != 0 || walked != want_items || ver == 0)
        FAIL(&sh, "roster: rc %d, %zu items, want %zu", rc, walked, want_items);
    rc = cv_store_roster_count(sh.st, H, "shared", &n);
    if (rc != 0 || n != want_items)
        FAIL(&sh, "roster count %zu, want %zu", n, want_items);

    /* Deleting the account empties every queue of it in one go. */
    CV_ASSERT(cv_store_account_delete(sh.st, H, "shared") == 0);
    rc = cv_store_offline_count(sh.st, H, "shared", &n);
    if (rc != 0 || n != 0)
        FAIL(&sh, "count after delete: %zu", n);
    cv_store_close(sh.st);
    check_rm_tree(base);

    failures = atomic_load_explicit(&sh.failures, memory_order_relaxed);
    if (failures != 0) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
