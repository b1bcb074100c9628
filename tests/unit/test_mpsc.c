/* The MPSC queue under contention: every pushed node is popped exactly once, and each
   producer's nodes come out in the order it pushed them. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "corvid/mpsc.h"

#define PRODUCERS 4
#define PER_PRODUCER 200000

typedef struct item_s {
    cv_mpsc_node_t node;
    int producer;
    int seq;
} item_t;

static cv_mpsc_t queue;
static item_t *items;

static void *produce(void *arg)
{
    int p = (int)(intptr_t)arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        item_t *it = &items[p * PER_PRODUCER + i];
        it->producer = p;
        it->seq = i;
        cv_mpsc_push(&queue, &it->node);
    }
    return NULL;
}

int main(void)
{
    pthread_t th[PRODUCERS];
    int next_seq[PRODUCERS] = {0};
    long popped = 0, failures = 0;

    items = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof *items);
    if (!items)
        return 1;
    cv_mpsc_init(&queue);
    if (cv_mpsc_pop(&queue) != NULL) {
        printf("FAIL: empty queue popped a node\n");
        failures++;
    }
    for (int p = 0; p < PRODUCERS; p++)
        pthread_create(&th[p], NULL, produce, (void *)(intptr_t)p);
    while (popped < (long)PRODUCERS * PER_PRODUCER) {
        cv_mpsc_node_t *n = cv_mpsc_pop(&queue);
        if (!n)
            continue;
        item_t *it = (item_t *)n;
        if (it->seq != next_seq[it->producer]) {
            if (failures++ < 10)
                printf("FAIL: producer %d: got %d, expected %d\n", it->producer, it->seq,
                       next_seq[it->producer]);
        }
        next_seq[it->producer] = it->seq + 1;
        popped++;
    }
    for (int p = 0; p < PRODUCERS; p++)
        pthread_join(th[p], NULL);
    if (cv_mpsc_pop(&queue) != NULL) {
        printf("FAIL: a node was popped twice or invented\n");
        failures++;
    }
    free(items);
    printf("%ld popped, %ld failed\n", popped, failures);
    return failures != 0;
}
