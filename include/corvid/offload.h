/*
 * corvid/offload.h — a small pool of threads for work that must not run on a ring or a
 * worker: CPU work of milliseconds (deriving keys from a password for SASL PLAIN) and
 * waits for the disk (a stanza that changes stored data waits for its group commit),
 * either of which would stall every connection and actor of the worker it ran on.
 *
 * Owns its threads and its queue; jobs belong to their submitters (the job struct is
 * embedded in the caller's object, so submitting allocates nothing). A job runs once on a
 * pool thread, then its `done` hands it back (typically by posting a task to the
 * submitter's ring with cv_net_post, where the submitter picks up the result). Everything
 * the job touches is handed over by the submit (the pool's mutex) and handed back by done
 * (for cv_net_post, the inbox's release/acquire), so no other synchronization is needed.
 *
 * Threads: cv_offload_create / cv_offload_stop / cv_offload_free: main. cv_offload_submit:
 * any thread, until cv_offload_free; after cv_offload_stop it runs the job (and its done)
 * on the caller's thread, which is what the shut-down drain needs.
 */
#ifndef CORVID_OFFLOAD_H
#define CORVID_OFFLOAD_H

#include "corvid/core.h"

typedef struct cv_offload_s cv_offload_t;

typedef struct cv_offload_job_s cv_offload_job_t;
struct cv_offload_job_s {
    cv_offload_job_t *next;           /* owned by the pool while queued */
    void (*run)(cv_offload_job_t *j); /* on a pool thread */
    /* Right after run, on the same pool thread: hands the job back to its owner, e.g. by
       posting a task to the owner's ring (cv_net_post). The pool never touches j again. */
    void (*done)(cv_offload_job_t *j);
};

/* Thread: main. Starts `threads` (at least 1) pool threads. Returns 0, CV_ENOMEM. */
int cv_offload_create(cv_offload_t **out, unsigned threads);

/* Thread: any. Queues j; its run and then its done follow, in that order, exactly once
   each (on the caller's thread, before this returns, once the pool is stopped). */
void cv_offload_submit(cv_offload_t *o, cv_offload_job_t *j);

/* Thread: main. Runs every job still queued (and its done: a caller whose done posts to
   rings drains their inboxes afterwards, cv_net_drain) and joins the threads. */
void cv_offload_stop(cv_offload_t *o);

/* Thread: main, after cv_offload_stop. NULL is allowed. */
void cv_offload_free(cv_offload_t *o);

#endif
