/*
 * Slow steps of a negotiating stream (a password to check or to turn into credentials, an
 * account to create) run on the offload pool, so the ring keeps serving its other
 * connections. While a job is in flight the stream's input is held (c2s.c, hold_input)
 * and the session's SASL state is left alone (auth_pending); the answer comes back as a
 * task on the session's ring, which finishes the step and feeds the held input.
 */
#include <stddef.h>

#include "corvid/offload.h"
#include "c2s_int.h"

static void job_run(cv_offload_job_t *oj)
{
    cv__c2s_job_t *j = (cv__c2s_job_t *)((char *)oj - offsetof(cv__c2s_job_t, job));
    j->work(j);
}

static void job_post(cv_offload_job_t *oj)
{
    cv__c2s_job_t *j = (cv__c2s_job_t *)((char *)oj - offsetof(cv__c2s_job_t, job));
    cv_net_post(NULL, j->s->worker, &j->back);
}

/* On the session's ring. */
static void job_back(cv_net_task_t *t, cv_worker_t *w)
{
    cv__c2s_job_t *j = (cv__c2s_job_t *)((char *)t - offsetof(cv__c2s_job_t, back));
    cv_c2s_t *s = j->s;
    CV_UNUSED(w);

    s->auth_pending = 0;
    if (s->conn && s->phase != CV_C2S_CLOSED) {
        cv__c2s_resume(s, j->finish(j));
    } else {
        /* The connection went while the job ran: its close left this to us. */
        cv__c2s_auth_free(s);
        cv_buf_free(&s->held);
    }
    j->free(j);
    cv__c2s_release(s);
}

int cv__c2s_job_start(cv_c2s_t *s, cv__c2s_job_t *j)
{
    j->s = s;
    j->job.run = job_run;
    j->job.done = job_post;
    j->back.run = job_back;
    cv__c2s_hold(s); /* the job's, released by job_back */
    s->auth_pending = 1;
    s->pause = CV_C2S_PAUSE_AUTH;
    if (s->srv->offload) {
        cv_offload_submit(s->srv->offload, &j->job);
    } else {
        /* No pool (unit-sized set-ups): the step runs here; its answer still comes back
           through the ring's inbox, after the parser has paused. */
        j->work(j);
        cv_net_post(NULL, s->worker, &j->back);
    }
    return 1;
}
