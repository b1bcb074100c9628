/*
 * The offload pool: a mutex-protected FIFO and a condition variable. Jobs are rare (a
 * password login, a stanza that changes stored data) and each costs up to milliseconds,
 * so a lock here is off every hot path.
 */
#include <pthread.h>
#include <stdlib.h>

#include "corvid/offload.h"

struct cv_offload_s {
    pthread_mutex_t lock; /* guards head, tail, stopping */
    pthread_cond_t ready;
    cv_offload_job_t *head, *tail;
    int stopping;
    unsigned nthreads;
    unsigned live; /* threads that have not decided to exit; guarded by lock */
    pthread_t *threads;
};

static void finish(cv_offload_job_t *j)
{
    j->run(j);
    j->done(j);
}

static void *pool_main(void *arg)
{
    cv_offload_t *o = arg;
    for (;;) {
        pthread_mutex_lock(&o->lock);
        while (!o->head && !o->stopping)
            pthread_cond_wait(&o->ready, &o->lock);
        cv_offload_job_t *j = o->head;
        if (j) {
            o->head = j->next;
            if (!o->head)
                o->tail = NULL;
        }
        if (!j) {
            /* Stopping and nothing queued. Decided under the lock, so a later submit sees
               whether any thread is left to take its job. */
            o->live--;
            pthread_mutex_unlock(&o->lock);
            return NULL;
        }
        pthread_mutex_unlock(&o->lock);
        finish(j);
    }
}

int cv_offload_create(cv_offload_t **out, unsigned threads)
{
    cv_offload_t *o = calloc(1, sizeof *o);
    int rc = 0;

    if (!o)
        return CV_ENOMEM;
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->ready, NULL);
    o->threads = calloc(threads ? threads : 1, sizeof *o->threads);
    if (!o->threads) {
        rc = CV_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < (threads ? threads : 1); i++) {
        /* Counted before the thread exists, so it never decides to exit uncounted. */
        pthread_mutex_lock(&o->lock);
        o->live++;
        pthread_mutex_unlock(&o->lock);
        if (pthread_create(&o->threads[i], NULL, pool_main, o) != 0) {
            pthread_mutex_lock(&o->lock);
            o->live--;
            pthread_mutex_unlock(&o->lock);
            rc = CV_ENOMEM;
            goto out;
        }
        o->nthreads++;
    }
    *out = o;
    return 0;
out:
    cv_offload_stop(o);
    cv_offload_free(o);
    return rc;
}

void cv_offload_submit(cv_offload_t *o, cv_offload_job_t *j)
{
    j->next = NULL;
    pthread_mutex_lock(&o->lock);
    if (o->stopping && o->live == 0) {
        /* Stopped (the shut-down drain): nothing else runs, so the caller does the job. */
        pthread_mutex_unlock(&o->lock);
        finish(j);
        return;
    }
    if (o->tail)
        o->tail->next = j;
    else
        o->head = j;
    o->tail = j;
    pthread_cond_signal(&o->ready);
    pthread_mutex_unlock(&o->lock);
}

void cv_offload_stop(cv_offload_t *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->stopping = 1;
    pthread_cond_broadcast(&o->ready);
    pthread_mutex_unlock(&o->lock);
    /* The threads take what is queued before they see `stopping` with an empty queue. */
    for (unsigned i = 0; i < o->nthreads; i++)
        pthread_join(o->threads[i], NULL);
    o->nthreads = 0;
}

void cv_offload_free(cv_offload_t *o)
{
    if (!o)
        return;
    pthread_cond_destroy(&o->ready);
    pthread_mutex_destroy(&o->lock);
    free(o->threads);
    free(o);
}
