/*
 * corvid/mpsc.h — an intrusive multi-producer single-consumer queue (Dmitry Vyukov's
 * design): push is one atomic exchange and one store, wait-free; pop is done by one
 * consumer thread only. Nodes are embedded in the caller's objects, so nothing is
 * allocated.
 *
 * Threads: cv_mpsc_push from any thread; cv_mpsc_pop only from the single consumer;
 * cv_mpsc_init before the queue is shared.
 */
#ifndef CORVID_MPSC_H
#define CORVID_MPSC_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct cv_mpsc_node_s {
    _Atomic(struct cv_mpsc_node_s *) next;
} cv_mpsc_node_t;

typedef struct cv_mpsc_s {
    _Atomic(cv_mpsc_node_t *) head; /* producers: the newest node */
    cv_mpsc_node_t *tail;           /* consumer only: the oldest node */
    cv_mpsc_node_t stub;            /* keeps the list non-empty */
} cv_mpsc_t;

static inline void cv_mpsc_init(cv_mpsc_t *q)
{
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->head, &q->stub);
    q->tail = &q->stub;
}

static inline void cv_mpsc_push(cv_mpsc_t *q, cv_mpsc_node_t *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    /* acq_rel: release publishes n (and the object around it) to the consumer; acquire
       makes prev a node whose initialization by its producer we see. */
    cv_mpsc_node_t *prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
    /* Between the exchange and this store the list is briefly cut: pop returns NULL
       then, and the producer's wake-up (its caller's business) brings the consumer back. */
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Returns the oldest node or NULL (empty, or a producer is between its two steps). */
static inline cv_mpsc_node_t *cv_mpsc_pop(cv_mpsc_t *q)
{
    cv_mpsc_node_t *tail = q->tail;
    cv_mpsc_node_t *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next)
            return NULL;
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
        return NULL;
    cv_mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL;
}

#endif
