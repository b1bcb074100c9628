/* Actors on the work-stealing pool: worker threads run actors while producer threads send
   them messages. Every message is handled exactly once, an actor is never run by two
   workers at once, and each producer's messages reach an actor in the order sent. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "corvid/sched.h"

#define WORKERS 3
#define PRODUCERS 2
#define ACTORS 64
#define PER_PRODUCER 60000

typedef struct msg_s {
    cv_mpsc_node_t node;
    int producer;
    int seq;
} msg_t;

typedef struct test_actor_s {
    cv_actor_t actor;
    atomic_int running; /* detects two workers running the actor at once */
    int last_seq[PRODUCERS];
    long handled;
} test_actor_t;

static cv_sched_t *sched;
static test_actor_t actors[ACTORS];
static msg_t *msgs;
static atomic_long handled_total;
static atomic_int failures;
static atomic_int stop;

static void handle(cv_actor_t *a, cv_mpsc_node_t *n, unsigned self)
{
    test_actor_t *ta = (test_actor_t *)a;
    msg_t *m = (msg_t *)n;
    (void)self;
    if (atomic_fetch_add(&ta->running, 1) != 0 && atomic_fetch_add(&failures, 1) < 10)
        printf("FAIL: actor run by two workers at once\n");
    if (m->seq <= ta->last_seq[m->producer] && atomic_fetch_add(&failures, 1) < 10)
        printf("FAIL: producer %d: seq %d after %d\n", m->producer, m->seq,
               ta->last_seq[m->producer]);
    ta->last_seq[m->producer] = m->seq;
    ta->handled++;
    atomic_fetch_sub(&ta->running, 1);
    atomic_fetch_add(&handled_total, 1);
}

static void wake(unsigned worker, void *arg)
{
    (void)worker;
    (void)arg; /* workers here spin; nothing to wake */
}

static void produce(int p, unsigned self)
{
    for (int i = 0; i < PER_PRODUCER; i++) {
        msg_t *m = &msgs[p * PER_PRODUCER + i];
        m->producer = p;
        m->seq = i;
        cv_sched_send(sched, self, &actors[i % ACTORS].actor, &m->node);
        /* A worker that sends also runs, as a ring thread does between completions. */
        if (self != CV_SCHED_EXTERNAL && i % 64 == 63)
            cv_sched_run(sched, self, 4);
    }
}

/* Worker 0 is also producer 0 (sends go to its own deque); the others only run. */
static void *worker_main(void *arg)
{
    unsigned self = (unsigned)(uintptr_t)arg;
    if (self == 0)
        produce(0, 0);
    while (!atomic_load(&stop))
        cv_sched_run(sched, self, 16);
    return NULL;
}

/* Producer 1 is a thread outside the pool (the external path). */
static void *producer_main(void *arg)
{
    (void)arg;
    produce(1, CV_SCHED_EXTERNAL);
    return NULL;
}

int main(void)
{
    pthread_t workers[WORKERS], producers[PRODUCERS];
    msgs = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof *msgs);
    if (!msgs || cv_sched_create(&sched, WORKERS, wake, NULL) != 0)
        return 1;
    for (int i = 0; i < ACTORS; i++) {
        cv_actor_init(&actors[i].actor, handle);
        for (int p = 0; p < PRODUCERS; p++)
            actors[i].last_seq[p] = -1;
    }
    for (int w = 0; w < WORKERS; w++)
        pthread_create(&workers[w], NULL, worker_main, (void *)(uintptr_t)w);
    pthread_create(&producers[1], NULL, producer_main, NULL);
    pthread_join(producers[1], NULL);
    for (long spins = 0; atomic_load(&handled_total) < (long)PRODUCERS * PER_PRODUCER; spins++) {
        if (spins > 2000000000L) {
            printf("FAIL: only %ld of %d handled\n", atomic_load(&handled_total),
                   PRODUCERS * PER_PRODUCER);
            atomic_fetch_add(&failures, 1);
            break;
        }
    }
    atomic_store(&stop, 1);
    for (int w = 0; w < WORKERS; w++)
        pthread_join(workers[w], NULL);
    long sum = 0;
    for (int i = 0; i < ACTORS; i++)
        sum += actors[i].handled;
    if (sum != (long)PRODUCERS * PER_PRODUCER) {
        printf("FAIL: handled %ld, sent %d\n", sum, PRODUCERS * PER_PRODUCER);
        atomic_fetch_add(&failures, 1);
    }
    printf("%ld handled, %d failed\n", sum, atomic_load(&failures));
    cv_sched_free(sched);
    free(msgs);
    return atomic_load(&failures) != 0;
}
