/* The session table: replacement of a full JID, removal of a replaced entry, and many
   threads binding and unbinding overlapping JIDs without losing or duplicating entries. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "corvid/sessions.h"
#include "check.h"

typedef struct sess_s {
    cv_sess_entry_t entry;
    cv_jid_t jid;
    atomic_int held;
} sess_t;

static void hold(cv_sess_entry_t *e)
{
    atomic_fetch_add(&((sess_t *)e)->held, 1);
}

static int sess_init(sess_t *s, const char *jid)
{
    memset(s, 0, sizeof *s);
    s->entry.jid = &s->jid;
    return cv_jid_parse(&s->jid, jid, strlen(jid));
}

static void test_replace(void)
{
    cv_sessions_t *t = NULL;
    sess_t a, b, c;
    cv_sess_entry_t *old = NULL;
    CHECK(cv_sessions_create(&t, 16) == 0);
    CHECK(sess_init(&a, "romeo@example.net/home") == 0);
    CHECK(sess_init(&b, "Romeo@Example.NET/home") == 0); /* same after normalization */
    CHECK(sess_init(&c, "romeo@example.net/work") == 0);
    CHECK(cv_sessions_insert(t, &a.entry, CV_MAX_RESOURCES, hold, &old) == 0 && old == NULL);
    CHECK(cv_sessions_insert(t, &c.entry, CV_MAX_RESOURCES, hold, &old) == 0 && old == NULL);
    CHECK(cv_sessions_count(t) == 2);
    CHECK(cv_sessions_insert(t, &b.entry, CV_MAX_RESOURCES, hold, &old) == 0 && old == &a.entry);
    CHECK(atomic_load(&a.held) == 1);
    CHECK(cv_sessions_count(t) == 2);
    cv_sessions_remove(t, &a.entry); /* already replaced: no effect */
    CHECK(cv_sessions_count(t) == 2);
    cv_sessions_remove(t, &b.entry);
    cv_sessions_remove(t, &c.entry);
    CHECK(cv_sessions_count(t) == 0);
    cv_jid_free(&a.jid);
    cv_jid_free(&b.jid);
    cv_jid_free(&c.jid);
    cv_sessions_free(t);
}

/* An account binds at most max_per_bare resources; at the limit a bind of a new one is
   refused and changes nothing, a bind of a bound full JID still replaces it, and another
   account is not affected. */
static void test_resource_limit(void)
{
    enum { MAX = 3 };
    cv_sessions_t *t = NULL;
    sess_t r[MAX + 1], again, other;
    cv_sess_entry_t *old = NULL;
    char jid[64];

    CHECK(cv_sessions_create(&t, 16) == 0);
    for (int i = 0; i <= MAX; i++) {
        snprintf(jid, sizeof jid, "juliet@example.com/r%d", i);
        CHECK(sess_init(&r[i], jid) == 0);
    }
    CHECK(sess_init(&again, "juliet@example.com/r1") == 0);
    CHECK(sess_init(&other, "nurse@example.com/r0") == 0);
    for (int i = 0; i < MAX; i++)
        CHECK(cv_sessions_insert(t, &r[i].entry, MAX, hold, &old) == 0 && old == NULL);
    CHECK(cv_sessions_insert(t, &r[MAX].entry, MAX, hold, &old) == CV_ELIMIT && old == NULL);
    CHECK(!r[MAX].entry.in_table && cv_sessions_count(t) == MAX);
    CHECK(cv_sessions_insert(t, &again.entry, MAX, hold, &old) == 0 && old == &r[1].entry);
    CHECK(cv_sessions_insert(t, &other.entry, MAX, hold, &old) == 0 && old == NULL);
    CHECK(cv_sessions_count(t) == MAX + 1);
    cv_sessions_remove(t, &r[0].entry);
    CHECK(cv_sessions_insert(t, &r[MAX].entry, MAX, hold, &old) == 0 && old == NULL);
    for (int i = 0; i <= MAX; i++) {
        cv_sessions_remove(t, &r[i].entry);
        cv_jid_free(&r[i].jid);
    }
    cv_sessions_remove(t, &again.entry);
    cv_sessions_remove(t, &other.entry);
    CHECK(cv_sessions_count(t) == 0);
    cv_jid_free(&again.jid);
    cv_jid_free(&other.jid);
    cv_sessions_free(t);
}

#define THREADS 4
#define PER_THREAD 64
#define ROUNDS 200

static cv_sessions_t *shared;
static sess_t sessions[THREADS][PER_THREAD];

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < PER_THREAD; i++) {
            cv_sess_entry_t *old = NULL;
            if (cv_sessions_insert(shared, &sessions[id][i].entry, CV_MAX_RESOURCES, hold, &old) !=
                0)
                return (void *)1;
        }
        for (int i = 0; i < PER_THREAD; i++)
            cv_sessions_remove(shared, &sessions[id][i].entry);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[THREADS];
    char jid[64];
    CHECK(cv_sessions_create(&shared, 8) == 0);
    /* Threads 0 and 1 share JIDs (they replace each other); 2 and 3 have their own. */
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            snprintf(jid, sizeof jid, "u%d@example.org/r%d", t < 2 ? 0 : t, i);
            CHECK(sess_init(&sessions[t][i], jid) == 0);
        }
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) {
        void *res = NULL;
        pthread_join(th[t], &res);
        CHECK(res == NULL);
    }
    CHECK(cv_sessions_count(shared) == 0);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            CHECK(!sessions[t][i].entry.in_table);
            if (t >= 2)
                CHECK(atomic_load(&sessions[t][i].held) == 0);
            cv_jid_free(&sessions[t][i].jid);
        }
    cv_sessions_free(shared);
}

int main(void)
{
    test_replace();
    test_resource_limit();
    test_threads();
    printf("%d failed\n", failures);
    return failures != 0;
}
