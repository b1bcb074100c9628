/*
 * storage/store_writer.c — the group-commit writer shared by the backends.
 *
 * Durable writes cost one sync each when every caller commits on its own; here callers
 * only queue a request and one thread commits whatever accumulated while the previous
 * sync ran. Under load the batch grows by itself (every request that arrives during a
 * sync joins the next batch), so throughput scales with concurrency while a lone writer
 * still gets its own commit at once: nothing waits on a timer.
 *
 * The queue is a mutex-protected FIFO, not a lock-free one: this thread is the storage
 * thread, off the stanza hot path, and its cost is dominated by the sync.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "corvid/core.h"
#include "corvid/log.h"
#include "store_int.h"

/* Unlinks up to CV__STORE_BATCH_MAX requests in FIFO order; lock held. */
static cv__store_req_t *writer_take(cv__store_writer_t *w)
{
    cv__store_req_t *batch = w->head;
    cv__store_req_t *last = batch;
    size_t n = 1;

    while (n < CV__STORE_BATCH_MAX && last->next != NULL) {
        last = last->next;
        n++;
    }
    w->head = last->next;
    if (w->head == NULL)
        w->tail = NULL;
    last->next = NULL;
    w->queued -= n;
    return batch;
}

static void *writer_main(void *arg)
{
    cv__store_writer_t *w = arg;
    cv__store_req_t *batch;
    cv__store_req_t *next;

    for (;;) {
        CV_ASSERT(pthread_mutex_lock(&w->lock) == 0);
        while (w->head == NULL && !w->stopping)
            CV_ASSERT(pthread_cond_wait(&w->wake, &w->lock) == 0);
        /* Stopping still drains: a request accepted by submit always completes. */
        batch = w->head != NULL ? writer_take(w) : NULL;
        CV_ASSERT(pthread_mutex_unlock(&w->lock) == 0);
        if (batch == NULL)
            break;
        w->run(w->backend, batch);
        for (; batch != NULL; batch = next) {
            cv_store_done_fn cb = batch->cb;
            void *ctx = batch->ctx;
            int rc = batch->rc;
            uint64_t value = batch->value;

            next = batch->next;
            /* Freed before the callback, which may release whatever ctx refers to. */
            free(batch);
            cb(ctx, rc, value);
        }
    }
    return NULL;
}

int cv__store_writer_start(cv__store_writer_t *w, void (*run)(void *, cv__store_req_t *),
                           void *backend)
{
    int err;
    int rc = CV_ESTORE;

    memset(w, 0, sizeof *w);
    w->run = run;
    w->backend = backend;
    err = pthread_mutex_init(&w->lock, NULL);
    if (err != 0)
        goto out;
    err = pthread_cond_init(&w->wake, NULL);
    if (err != 0) {
        pthread_mutex_destroy(&w->lock);
        goto out;
    }
    err = pthread_create(&w->thread, NULL, writer_main, w);
    if (err != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        goto out;
    }
    w->started = 1;
    rc = 0;
out:
    if (rc < 0) {
        cv_error("storage: cannot start the writer thread: %s", strerror(err));
        rc = err == ENOMEM ? CV_ENOMEM : CV_ESTORE;
    }
    return rc;
}

int cv__store_writer_submit(cv__store_writer_t *w, cv__store_req_t *req)
{
    int rc = 0;

    req->next = NULL;
    req->rc = 0;
    req->value = 0;
    CV_ASSERT(pthread_mutex_lock(&w->lock) == 0);
    CV_ASSERT(!w->stopping);
    if (w->queued >= CV_STORE_WRITE_QUEUE_MAX) {
        rc = CV_AGAIN;
    } else {
        if (w->tail != NULL)
            w->tail->next = req;
        else
            w->head = req;
        w->tail = req;
        w->queued++;
        /* Signalled under the lock so the writer cannot miss it between its emptiness
         * check and its wait. */
        CV_ASSERT(pthread_cond_signal(&w->wake) == 0);
    }
    CV_ASSERT(pthread_mutex_unlock(&w->lock) == 0);
    return rc;
}

void cv__store_writer_stop(cv__store_writer_t *w)
{
    if (!w->started)
        return;
    CV_ASSERT(pthread_mutex_lock(&w->lock) == 0);
    w->stopping = 1;
    CV_ASSERT(pthread_cond_signal(&w->wake) == 0);
    CV_ASSERT(pthread_mutex_unlock(&w->lock) == 0);
    CV_ASSERT(pthread_join(w->thread, NULL) == 0);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    w->started = 0;
}
