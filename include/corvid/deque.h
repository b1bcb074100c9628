/*
 * corvid/deque.h — a Chase–Lev work-stealing deque of pointers (Lê, Pop, Cohen,
 * Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak Memory Models", PPoPP 2013).
 *
 * One owner thread pushes and takes at the bottom (LIFO, cache-warm); any other thread
 * steals from the top (FIFO). The array grows when full; retired arrays are kept until
 * cv_deque_destroy because a thief may still be reading one.
 *
 * Threads: cv_deque_push / cv_deque_take: the owner only. cv_deque_steal: any thread.
 * cv_deque_init / cv_deque_destroy: while no other thread uses the deque.
 */
#ifndef CORVID_DEQUE_H
#define CORVID_DEQUE_H

#include <stdatomic.h>
#include <stdint.h>

#include "corvid/core.h"

typedef struct cv_deque_array_s {
    int64_t size; /* power of two */
    struct cv_deque_array_s *retired_next;
    _Atomic(void *) slots[];
} cv_deque_array_t;

typedef struct cv_deque_s {
    /* top: next index thieves steal (only ever increases, by CAS). bottom: next index the
       owner pushes (written by the owner only). Items live in [top, bottom). */
    _Atomic int64_t top;
    _Atomic int64_t bottom;
    _Atomic(cv_deque_array_t *) array;
    cv_deque_array_t *retired; /* owner only: arrays replaced by growth */
} cv_deque_t;

/* CV_DEQUE_ABORT: a steal lost a race with another thief or the owner; try again.
   A unique address, so no item pointer can be mistaken for it. */
extern const char cv_deque_abort_marker;
#define CV_DEQUE_ABORT ((void *)&cv_deque_abort_marker)

int cv_deque_init(cv_deque_t *q, int64_t initial_size);
void cv_deque_destroy(cv_deque_t *q);
/* Returns 0 or CV_ENOMEM (growth failed; item not pushed). */
int cv_deque_push(cv_deque_t *q, void *item);
/* Returns the newest item or NULL when empty. */
void *cv_deque_take(cv_deque_t *q);
/* Returns the oldest item, NULL when empty, or CV_DEQUE_ABORT. */
void *cv_deque_steal(cv_deque_t *q);
/* A racy estimate of the number of items (for wake-up heuristics). */
int64_t cv_deque_size_hint(cv_deque_t *q);

#endif
