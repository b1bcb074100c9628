/*
 * The algorithm is Lê et al. (PPoPP 2013), figure 1, but every access to top and bottom
 * is sequentially consistent instead of relaxed accesses plus fences. That costs an
 * xchg per push and take on x86 (an actor push, not a stanza), and it makes the
 * hand-over of an actor from one worker to another a plain synchronizes-with edge that
 * ThreadSanitizer can check: it does not model atomic_thread_fence, and the fence form
 * produced false reports. The item slots are atomics (relaxed) so that a thief's read of a
 * slot racing with the owner's reuse is not a data race; the CAS on top decides who owns
 * the item.
 */
#include <stdlib.h>

#include "corvid/deque.h"

const char cv_deque_abort_marker;

static cv_deque_array_t *array_new(int64_t size)
{
    cv_deque_array_t *a = malloc(sizeof *a + (size_t)size * sizeof(a->slots[0]));
    if (!a)
        return NULL;
    a->size = size;
    a->retired_next = NULL;
    for (int64_t i = 0; i < size; i++)
        atomic_init(&a->slots[i], NULL);
    return a;
}

int cv_deque_init(cv_deque_t *q, int64_t initial_size)
{
    int64_t size = 16;
    while (size < initial_size)
        size <<= 1;
    cv_deque_array_t *a = array_new(size);
    if (!a)
        return CV_ENOMEM;
    atomic_init(&q->top, 0);
    atomic_init(&q->bottom, 0);
    atomic_init(&q->array, a);
    q->retired = NULL;
    return 0;
}

void cv_deque_destroy(cv_deque_t *q)
{
    free(atomic_load_explicit(&q->array, memory_order_relaxed));
    while (q->retired) {
        cv_deque_array_t *next = q->retired->retired_next;
        free(q->retired);
        q->retired = next;
    }
}

static cv_deque_array_t *grow(cv_deque_t *q, cv_deque_array_t *a, int64_t top, int64_t bottom)
{
    cv_deque_array_t *b = array_new(a->size * 2);
    if (!b)
        return NULL;
    for (int64_t i = top; i < bottom; i++)
        atomic_store_explicit(
            &b->slots[i & (b->size - 1)],
            atomic_load_explicit(&a->slots[i & (a->size - 1)], memory_order_relaxed),
            memory_order_relaxed);
    /* release: a thief that loads the new array (acquire) sees its slots filled. */
    atomic_store_explicit(&q->array, b, memory_order_release);
    a->retired_next = q->retired;
    q->retired = a;
    return b;
}

int cv_deque_push(cv_deque_t *q, void *item)
{
    int64_t b = atomic_load(&q->bottom);
    int64_t t = atomic_load(&q->top);
    cv_deque_array_t *a = atomic_load_explicit(&q->array, memory_order_relaxed);
    if (b - t > a->size - 1) {
        a = grow(q, a, t, b);
        if (!a)
            return CV_ENOMEM;
    }
    atomic_store_explicit(&a->slots[b & (a->size - 1)], item, memory_order_relaxed);
    /* The item (and everything the owner did to it) is visible to a thief that sees the
       new bottom. */
    atomic_store(&q->bottom, b + 1);
    return 0;
}

void *cv_deque_take(cv_deque_t *q)
{
    int64_t b = atomic_load(&q->bottom) - 1;
    cv_deque_array_t *a = atomic_load_explicit(&q->array, memory_order_relaxed);
    atomic_store(&q->bottom, b);
    /* seq_cst store then load: the owner's claim of slot b and a thief's read of top
       are totally ordered, so at most one of them gets the last item. */
    int64_t t = atomic_load(&q->top);
    void *item = NULL;
    if (t <= b) {
        item = atomic_load_explicit(&a->slots[b & (a->size - 1)], memory_order_relaxed);
        if (t == b) {
            /* The last item: race the thieves for it through top. */
            if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, memory_order_seq_cst,
                                                         memory_order_relaxed))
                item = NULL;
            atomic_store(&q->bottom, b + 1);
        }
    } else {
        atomic_store(&q->bottom, b + 1);
    }
    return item;
}

void *cv_deque_steal(cv_deque_t *q)
{
    int64_t t = atomic_load(&q->top);
    int64_t b = atomic_load(&q->bottom);
    if (t >= b)
        return NULL;
    cv_deque_array_t *a = atomic_load_explicit(&q->array, memory_order_acquire);
    void *item = atomic_load_explicit(&a->slots[t & (a->size - 1)], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return CV_DEQUE_ABORT;
    return item;
}

int64_t cv_deque_size_hint(cv_deque_t *q)
{
    int64_t b = atomic_load(&q->bottom);
    int64_t t = atomic_load(&q->top);
    return b > t ? b - t : 0;
}
