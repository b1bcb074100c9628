/*
 * corvid-bench-store: how many offline messages per second the store makes durable
 * through its group-commit writer when they are pushed asynchronously, as the router
 * does (router/offline.c). Every push counts only when its completion reports it
 * committed and synced. Not a test: it prints figures and asserts nothing.
 *
 *   corvid-bench-store [MESSAGES] [ACCOUNTS] [DIR]     (defaults 200000, 100, a temp dir)
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "corvid/store.h"

typedef struct bench_s {
    cv_store_t *st;
    unsigned long messages;
    unsigned accounts;
    atomic_ulong done;
    atomic_ulong failed;
} bench_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pushed(void *ctx, int rc, uint64_t seq)
{
    bench_t *b = ctx;
    (void)seq;
    if (rc < 0)
        atomic_fetch_add(&b->failed, 1);
    atomic_fetch_add(&b->done, 1);
}

static const char body[] =
    "<message from='user1@localhost/r' to='user2@localhost' type='chat' id='m'>"
    "<body>a message of the size chat clients send, stored for an offline user and "
    "delivered with a delay stamp when that user comes back</body>"
    "<delay xmlns='urn:xmpp:delay' from='localhost' stamp='2026-11-24T00:00:00.000Z'/>"
    "</message>";

static int push_all(bench_t *b)
{
    char user[32];
    for (unsigned long i = 0; i < b->messages; i++) {
        snprintf(user, sizeof user, "user%lu", i % b->accounts + 1);
        int rc;
        /* A full writer queue says "again": wait for it to drain a little. */
        while ((rc = cv_store_offline_push_async(b->st, "localhost", user, i, body, sizeof body - 1,
                                                 SIZE_MAX, pushed, b)) == CV_AGAIN)
            usleep(100);
        if (rc < 0) {
            fprintf(stderr, "push: %s\n", cv_strerror(rc));
            return rc;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_t b;
    char tmpl[] = "/var/tmp/corvid-bench-store.XXXXXX";
    const char *dir = argc > 3 ? argv[3] : mkdtemp(tmpl);
    int rc;

    memset(&b, 0, sizeof b);
    b.messages = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    b.accounts = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 100;
    if (!dir || b.messages == 0 || b.accounts == 0) {
        fprintf(stderr, "usage: %s [MESSAGES] [ACCOUNTS] [DIR]\n", argv[0]);
        return 2;
    }
    cv_store_opts_t opts = {.backend = "lmdb", .dir = dir, .map_size = (size_t)4 << 30};
    rc = cv_store_open(&b.st, &opts);
    if (rc < 0) {
        fprintf(stderr, "open %s: %s\n", dir, cv_strerror(rc));
        return 1;
    }
    for (unsigned i = 1; i <= b.accounts; i++) {
        char user[32];
        snprintf(user, sizeof user, "user%u", i);
        (void)cv_store_account_create(b.st, "localhost", user, "x", 1);
    }
    double t0 = now_s();
    rc = push_all(&b);
    while (rc == 0 && atomic_load(&b.done) < b.messages)
        usleep(1000);
    double dt = now_s() - t0;
    printf("%lu offline messages of %zu bytes for %u accounts made durable in %.3f s: "
           "%.0f stored/s (%lu failed)\n",
           b.messages, sizeof body - 1, b.accounts, dt, (double)b.messages / dt,
           atomic_load(&b.failed));
    cv_store_close(b.st);
    if (argc <= 3) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return rc < 0 ? 1 : 0;
}
