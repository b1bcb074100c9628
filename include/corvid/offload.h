/*
 * corvid/offload.h — a small pool of threads for work that must not run on a ring: CPU
 * work of milliseconds (deriving keys from a password for SASL PLAIN) that would stall
 * every connection of the ring it ran on.
 *
 * Owns its threads and its queue; jobs belong to their submitters (the job struct is
 * embedded in the caller's object, so submitting allocates nothing). A job runs once on a
 * pool thread; then its `done` task is posted to the worker it names (cv_net_post), which
 * runs it on that ring: there the submitter picks up the result. Everything the job
 * touches is handed over by the submit and handed back by the post (both release/acquire
 * edges), so no other synchronization is needed.
 *
 * Threads: cv_offload_create / cv_offload_stop / cv_offload_free: main. cv_offload_submit:
 * any thread, until cv_offload_stop has returned.
 */
#ifndef CORVID_OFFLOAD_H
#define CORVID_OFFLOAD_H

#include "corvid/net.h"

typedef struct cv_offload_s cv_offload_t;

typedef struct cv_offload_job_s cv_offload_job_t;
struct cv_offload_job_s {
    cv_offload_job_t *next;           /* owned by the pool while queued */
    void (*run)(cv_offload_job_t *j); /* on a pool thread */
    cv_worker_t *worker;              /* where `done` is posted after run */
    cv_net_task_t done;               /* run on that worker's ring */
};

/* Thread: main. Starts `threads` (at least 1) pool threads. Returns 0, CV_ENOMEM. */
int cv_offload_create(cv_offload_t **out, unsigned threads);

/* Thread: any, before cv_offload_stop returns. Queues j; its run and then its done task
   follow, in that order, exactly once. */
void cv_offload_submit(cv_offload_t *o, cv_offload_job_t *j);

/* Thread: main. Runs every job still queued, posts their done tasks (the caller drains
   the workers' inboxes afterwards, cv_net_drain) and joins the threads. */
void cv_offload_stop(cv_offload_t *o);

/* Thread: main, after cv_offload_stop. NULL is allowed. */
void cv_offload_free(cv_offload_t *o);

#endif
