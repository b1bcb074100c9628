/*
 * A client session in the shared session table, and its lifetime across rings: a session
 * on one ring can be replaced by a new bind on another, which then asks the old one's ring
 * to close it. The struct stays valid for that request through its reference count.
 */
#include <stddef.h>

#include "corvid/log.h"
#include "c2s_int.h"

void cv__c2s_release(cv_c2s_t *s)
{
    /* acq_rel: the last releaser must see every write other holders made before theirs. */
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        cv_jid_free(&s->jid);
        free(s);
    }
}

/* Called under the shard lock for the session being replaced: keep it alive for the task. */
static void hold_replaced(cv_sess_entry_t *e)
{
    cv_c2s_t *old = (cv_c2s_t *)((char *)e - offsetof(cv_c2s_t, entry));
    atomic_fetch_add_explicit(&old->refs, 1, memory_order_relaxed);
}

/* Runs on the replaced session's ring. */
static void kill_replaced(cv_net_task_t *t, cv_worker_t *w)
{
    cv_c2s_t *s = (cv_c2s_t *)((char *)t - offsetof(cv_c2s_t, kill_task));
    CV_UNUSED(w);
    if (s->conn && s->phase != CV_C2S_CLOSED)
        cv__c2s_stream_error(s, CV_SE_CONFLICT, "replaced by a new session");
    cv__c2s_release(s);
}

int cv__c2s_sessions_bind(cv_c2s_t *s)
{
    cv_sess_entry_t *replaced = NULL;
    s->entry.jid = &s->jid;
    int rc = cv_sessions_insert(s->srv->sessions, &s->entry, hold_replaced, &replaced);
    if (rc < 0)
        return rc;
    if (replaced) {
        cv_c2s_t *old = (cv_c2s_t *)((char *)replaced - offsetof(cv_c2s_t, entry));
        old->kill_task.run = kill_replaced;
        cv_net_post(old->worker, &old->kill_task);
    }
    return 0;
}

void cv__c2s_sessions_unbind(cv_c2s_t *s)
{
    if (s->phase == CV_C2S_BOUND || s->entry.jid)
        cv_sessions_remove(s->srv->sessions, &s->entry);
}
