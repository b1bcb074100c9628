/*
 * Scheduling invariant: an actor is pushed on a deque only by the thread whose increment
 * raised its `pending` count from 0, and only the worker running it lowers the count (by
 * the messages it handled); the run that brings it to 0 gives the actor up. So an actor is
 * never on two deques, nor run by two workers at once, and a message is never left behind:
 * a message counted but not yet visible in the mailbox (its sender is between increment
 * and push, or mid-push) keeps the count above 0, and the actor is scheduled again.
 */
#include <stddef.h>
#include <string.h>

#include "corvid/deque.h"
#include "corvid/sched.h"

/* Messages one actor handles before it yields its worker to others (fairness). */
#define CV_SCHED_BATCH 64

typedef struct worker_s {
    cv_deque_t deque;
    /* Actors scheduled from outside the pool (or when a deque push failed) wait here; the
       worker moves them to its deque. */
    cv_mpsc_t overflow;
} worker_t;

struct cv_sched_s {
    unsigned nworkers;
    worker_t *workers;
    void (*wake)(unsigned worker, void *arg);
    void *wake_arg;
    /* Bit i set while worker i sleeps. Relaxed is enough: a wrong guess costs one spurious
       or one missed steal hint, never a lost actor (actors stay on a deque until run). */
    atomic_uint_least64_t idle_mask;
    atomic_uint rr; /* round robin over workers for external sends */
};

int cv_sched_create(cv_sched_t **out, unsigned nworkers, void (*wake)(unsigned, void *), void *arg)
{
    cv_sched_t *s;
    if (nworkers == 0 || nworkers > CV_SCHED_MAX_WORKERS)
        return CV_EINVAL;
    s = calloc(1, sizeof *s);
    if (!s)
        return CV_ENOMEM;
    s->workers = calloc(nworkers, sizeof *s->workers);
    if (!s->workers) {
        free(s);
        return CV_ENOMEM;
    }
    s->nworkers = nworkers;
    s->wake = wake;
    s->wake_arg = arg;
    atomic_init(&s->idle_mask, 0);
    atomic_init(&s->rr, 0);
    for (unsigned i = 0; i < nworkers; i++) {
        if (cv_deque_init(&s->workers[i].deque, 1024) < 0) {
            s->nworkers = i;
            cv_sched_free(s);
            return CV_ENOMEM;
        }
        cv_mpsc_init(&s->workers[i].overflow);
    }
    *out = s;
    return 0;
}

void cv_sched_free(cv_sched_t *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nworkers; i++)
        cv_deque_destroy(&s->workers[i].deque);
    free(s->workers);
    free(s);
}

void cv_actor_init(cv_actor_t *a, void (*handle)(cv_actor_t *, cv_mpsc_node_t *, unsigned))
{
    cv_mpsc_init(&a->mailbox);
    atomic_init(&a->pending, 0);
    a->handle = handle;
    a->retain = NULL;
    a->release = NULL;
}

/* Wakes one sleeping worker other than self to steal. */
static void hint_thief(cv_sched_t *s, unsigned self)
{
    uint64_t idle = atomic_load_explicit(&s->idle_mask, memory_order_relaxed);
    if (self < 64)
        idle &= ~((uint64_t)1 << self);
    if (idle == 0)
        return;
    unsigned victim = (unsigned)__builtin_ctzll(idle);
    atomic_fetch_and_explicit(&s->idle_mask, ~((uint64_t)1 << victim), memory_order_relaxed);
    s->wake(victim, s->wake_arg);
}

static void schedule(cv_sched_t *s, unsigned self, cv_actor_t *a);

void cv_sched_send(cv_sched_t *s, unsigned self, cv_actor_t *a, cv_mpsc_node_t *msg)
{
    /* Count first, then push: a worker never pops a message that is not counted yet, so
       the count never drops below the messages still to come. acq_rel: the sender that
       raises the count from 0 sees everything the last run of the actor did. */
    long before = atomic_fetch_add_explicit(&a->pending, 1, memory_order_acq_rel);
    if (before == 0 && a->retain)
        a->retain(a); /* before the push: the message may be the actor's last reference */
    cv_mpsc_push(&a->mailbox, msg);
    if (before == 0)
        schedule(s, self, a);
}

static void schedule(cv_sched_t *s, unsigned self, cv_actor_t *a)
{
    if (self < s->nworkers && cv_deque_push(&s->workers[self].deque, a) == 0) {
        if (cv_deque_size_hint(&s->workers[self].deque) > 1)
            hint_thief(s, self);
        return;
    }
    /* Not a worker (a store job's answer, say), or the deque could not grow: hand the
       actor to a worker's overflow queue, linked by its own node, and wake that worker. */
    unsigned target = atomic_fetch_add_explicit(&s->rr, 1, memory_order_relaxed) % s->nworkers;
    cv_mpsc_push(&s->workers[target].overflow, &a->overflow_node);
    s->wake(target, s->wake_arg);
}

static void run_actor(cv_sched_t *s, unsigned self, cv_actor_t *a)
{
    long handled = 0;
    for (unsigned i = 0; i < CV_SCHED_BATCH; i++) {
        cv_mpsc_node_t *m = cv_mpsc_pop(&a->mailbox);
        if (!m)
            break;
        a->handle(a, m, self);
        handled++;
    }
    /* acq_rel: our handling happens-before whoever schedules the actor next. If messages
       remain (or are on their way), the actor is still ours: queue it again. */
    if (atomic_fetch_sub_explicit(&a->pending, handled, memory_order_acq_rel) != handled)
        schedule(s, self, a);
    else if (a->release)
        a->release(a); /* idle now: nothing here touches a after this */
}

static cv_actor_t *next_actor(cv_sched_t *s, unsigned self)
{
    worker_t *w = &s->workers[self];
    cv_mpsc_node_t *n;
    while ((n = cv_mpsc_pop(&w->overflow)) != NULL) {
        cv_actor_t *a = (cv_actor_t *)((char *)n - offsetof(cv_actor_t, overflow_node));
        if (cv_deque_push(&w->deque, a) < 0)
            return a; /* run it now rather than lose it */
    }
    cv_actor_t *a = cv_deque_take(&w->deque);
    if (a)
        return a;
    /* Steal: visit the other workers once, starting after self. */
    for (unsigned k = 1; k < s->nworkers; k++) {
        unsigned v = (self + k) % s->nworkers;
        for (int tries = 0; tries < 4; tries++) {
            void *item = cv_deque_steal(&s->workers[v].deque);
            if (item == CV_DEQUE_ABORT)
                continue;
            if (item)
                return item;
            break;
        }
    }
    return NULL;
}

int cv_sched_run(cv_sched_t *s, unsigned self, unsigned budget)
{
    for (unsigned i = 0; i < budget; i++) {
        cv_actor_t *a = next_actor(s, self);
        if (!a)
            return 0;
        run_actor(s, self, a);
    }
    return cv_deque_size_hint(&s->workers[self].deque) > 0;
}

size_t cv_sched_drain(cv_sched_t *s)
{
    size_t runs = 0;
    for (unsigned i = 0; i < s->nworkers; i++) {
        cv_actor_t *a;
        while ((a = next_actor(s, i)) != NULL) {
            run_actor(s, i, a);
            runs++;
        }
    }
    return runs;
}

void cv_sched_idle(cv_sched_t *s, unsigned self, int idle)
{
    uint64_t bit = (uint64_t)1 << self;
    if (idle)
        atomic_fetch_or_explicit(&s->idle_mask, bit, memory_order_relaxed);
    else
        atomic_fetch_and_explicit(&s->idle_mask, ~bit, memory_order_relaxed);
}
