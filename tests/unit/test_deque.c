/* The Chase–Lev deque under contention: an owner pushes and takes while thieves steal;
   every item is run exactly once (none lost, none twice), including across growth. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "corvid/deque.h"

#define ITEMS 400000
#define THIEVES 3

static cv_deque_t dq;
static atomic_int seen[ITEMS];
static atomic_int done;
static atomic_long stolen;

static void run_item(void *p)
{
    intptr_t id = (intptr_t)p - 1;
    atomic_fetch_add_explicit(&seen[id], 1, memory_order_relaxed);
}

static void *thief(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&done, memory_order_acquire)) {
        void *it = cv_deque_steal(&dq);
        if (it && it != CV_DEQUE_ABORT) {
            run_item(it);
            atomic_fetch_add_explicit(&stolen, 1, memory_order_relaxed);
        }
    }
    return NULL;
}

int main(void)
{
    pthread_t th[THIEVES];
    int failures = 0;

    if (cv_deque_init(&dq, 16) != 0)
        return 1;
    if (cv_deque_take(&dq) != NULL || cv_deque_steal(&dq) != NULL) {
        printf("FAIL: empty deque returned an item\n");
        failures++;
    }
    for (int i = 0; i < THIEVES; i++)
        pthread_create(&th[i], NULL, thief, NULL);
    /* Pushes in bursts (forcing growth) and takes some back, like a worker would. */
    for (intptr_t i = 0; i < ITEMS;) {
        int burst = (int)(i % 97) + 1;
        for (int k = 0; k < burst && i < ITEMS; k++, i++)
            if (cv_deque_push(&dq, (void *)(i + 1)) != 0) {
                printf("FAIL: push\n");
                return 1;
            }
        for (int k = 0; k < burst / 2; k++) {
            void *it = cv_deque_take(&dq);
            if (it)
                run_item(it);
        }
    }
    void *it;
    while ((it = cv_deque_take(&dq)) != NULL)
        run_item(it);
    /* Thieves may still hold a claimed item: wait until every item is accounted for. */
    for (int spins = 0; spins < 1000000; spins++) {
        long total = 0;
        for (int i = 0; i < ITEMS; i += 997)
            total += atomic_load(&seen[i]);
        if (total >= (ITEMS + 996) / 997)
            break;
    }
    atomic_store_explicit(&done, 1, memory_order_release);
    for (int i = 0; i < THIEVES; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < ITEMS; i++) {
        int n = atomic_load(&seen[i]);
        if (n != 1 && failures++ < 10)
            printf("FAIL: item %d ran %d times\n", i, n);
    }
    printf("%d items, %ld stolen, %d failed\n", ITEMS, atomic_load(&stolen), failures);
    cv_deque_destroy(&dq);
    return failures != 0;
}
