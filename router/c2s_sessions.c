/*
 * A client session in the shared session table, and its lifetime across rings: a session
 * on one ring can be replaced by a new bind on another, routed to by actors on any
 * worker, or closed from elsewhere. The struct stays valid for all of them through its
 * reference count; only its own ring touches its connection.
 */
#include <stddef.h>
#include <string.h>

#include "corvid/log.h"
#include "roster_int.h"

cv_c2s_t *cv__c2s_of_actor(cv_actor_t *a)
{
    return (cv_c2s_t *)((char *)a - offsetof(cv_c2s_t, actor));
}

cv_c2s_t *cv__c2s_of_entry(cv_sess_entry_t *e)
{
    return (cv_c2s_t *)((char *)e - offsetof(cv_c2s_t, entry));
}

void cv__c2s_hold(cv_c2s_t *s)
{
    /* relaxed: the holder already has a reference (or the shard lock), so the count cannot
       be zero here and no ordering is needed to take another. */
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void cv__c2s_release(cv_c2s_t *s)
{
    /* acq_rel: the last releaser must see every write other holders made before theirs. */
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        cv__presence_free(s);
        free(s->user);
        free(s->full);
        free(s->to_attr);
        cv_jid_free(&s->jid);
        free(s);
    }
}

typedef struct find_s {
    int (*match)(const cv_c2s_t *s, const void *arg);
    const void *arg;
    cv_c2s_t *found;
} find_t;

static void find_visit(cv_sess_entry_t *e, void *arg)
{
    find_t *f = arg;
    cv_c2s_t *s = cv__c2s_of_entry(e);
    if (!f->found && f->match(s, f->arg)) {
        cv__c2s_hold(s); /* under the shard lock, so s cannot be going away */
        f->found = s;
    }
}

cv_c2s_t *cv__c2s_find(cv_server_t *srv, const char *user, const char *host,
                       int (*match)(const cv_c2s_t *s, const void *arg), const void *arg)
{
    cv_jid_t bare = {(char *)user, (char *)host, NULL, NULL};
    find_t f = {match, arg, NULL};
    cv_sessions_visit_bare(srv->sessions, &bare, find_visit, &f);
    return f.found;
}

int cv__c2s_has_resource(const cv_c2s_t *s, const void *resource)
{
    return s->jid.resource && strcmp(s->jid.resource, resource) == 0;
}

/* Called under the shard lock for the session being replaced: keep it alive for the task. */
static void hold_replaced(cv_sess_entry_t *e)
{
    cv__c2s_hold(cv__c2s_of_entry(e));
}

/* Runs on the session's own ring. */
static void close_run(cv_net_task_t *t, cv_worker_t *w)
{
    static const char close_tag[] = "</stream:stream>";
    cv_c2s_t *s = (cv_c2s_t *)((char *)t - offsetof(cv_c2s_t, close_task));
    CV_UNUSED(w);
    if (s->conn && s->phase != CV_C2S_CLOSED) {
        if (s->close_cond == CV_SE_CONFLICT)
            cv__c2s_stream_error(s, CV_SE_CONFLICT, "replaced by a new session");
        else if (s->close_cond != CV_SE_NONE)
            cv__c2s_stream_error(s, s->close_cond, NULL);
        else {
            (void)cv__c2s_write(s, close_tag, sizeof close_tag - 1);
            s->phase = CV_C2S_CLOSED;
            cv__c2s_set_gone(s);
            cv_net_conn_close(s->conn);
        }
    }
    cv__c2s_release(s);
}

void cv__c2s_close_async(cv_c2s_t *s, cv_worker_t *from, cv_stream_err_t cond)
{
    if (atomic_exchange(&s->close_posted, 1) != 0)
        return;
    cv__c2s_hold(s);
    s->close_cond = cond;
    s->close_task.run = close_run;
    cv_net_post(from, s->worker, &s->close_task);
}

int cv__c2s_sessions_bind(cv_c2s_t *s)
{
    cv_sess_entry_t *replaced = NULL;
    s->entry.jid = &s->jid;
    int rc =
        cv_sessions_insert(s->srv->sessions, &s->entry, CV_MAX_RESOURCES, hold_replaced, &replaced);
    if (rc < 0)
        return rc;
    if (replaced) {
        cv_c2s_t *old = cv__c2s_of_entry(replaced);
        cv__c2s_close_async(old, s->worker, CV_SE_CONFLICT);
        cv__c2s_release(old); /* the reference hold_replaced took */
    }
    /* An account cancelled while this client was logging in: the cancel deletes it, then
       closes the sessions in the table (cv__c2s_close_account). Checked after the insert,
       this read sees the delete if that visit came before the insert and so missed us. */
    rc = cv_store_account_exists(s->srv->store, s->host, s->user);
    if (rc < 0) {
        cv_sessions_remove(s->srv->sessions, &s->entry);
        s->entry.jid = NULL;
        return rc; /* CV_ENOTFOUND: the account is gone */
    }
    return 0;
}

typedef struct closing_s {
    cv_stream_err_t cond;
    size_t n;
} closing_t;

static void close_visit(cv_sess_entry_t *e, void *arg)
{
    closing_t *c = arg;
    /* Under the shard lock: posting takes a reference and allocates nothing. */
    cv__c2s_close_async(cv__c2s_of_entry(e), NULL, c->cond);
    c->n++;
}

size_t cv__c2s_close_account(cv_server_t *srv, const char *user, const char *host,
                             cv_stream_err_t cond)
{
    cv_jid_t bare = {(char *)user, (char *)host, NULL, NULL};
    closing_t c = {cond, 0};
    cv_sessions_visit_bare(srv->sessions, &bare, close_visit, &c);
    return c.n;
}

void cv__c2s_sessions_unbind(cv_c2s_t *s)
{
    if (s->entry.jid)
        cv_sessions_remove(s->srv->sessions, &s->entry);
}

/* ---- accounts deleted by another process ---- */

/* How often ring 0 reads the store's log of deleted accounts. */
#define CV_DELETIONS_EVERY_MS 1000u

/* Owned by its timer: freed when the ring stops. */
typedef struct deletions_s {
    cv_net_task_t arm;
    cv_net_timer_t timer;
    cv_server_t *srv;
    uint64_t cursor; /* the last deletion acted on */
} deletions_t;

static int close_deleted(void *ctx, const char *host, const char *user)
{
    size_t n = cv__c2s_close_account(ctx, user, host, CV_SE_NOT_AUTHORIZED);
    if (n > 0)
        cv_info("account %s@%s was deleted: closing its %zu session(s)", user, host, n);
    return 0;
}

static void deletions_check(cv_net_task_t *t, cv_worker_t *w)
{
    deletions_t *d = (deletions_t *)((char *)t - offsetof(deletions_t, timer.task));
    if (cv_net_worker_stopped(w)) {
        free(d);
        return;
    }
    /* A failed read is logged by the store; the next tick tries again from the same place. */
    (void)cv_store_accounts_deleted(d->srv->store, &d->cursor, close_deleted, d->srv);
    cv_net_timer_arm(w, &d->timer, CV_DELETIONS_EVERY_MS);
}

static void deletions_arm(cv_net_task_t *t, cv_worker_t *w)
{
    deletions_t *d = (deletions_t *)((char *)t - offsetof(deletions_t, arm));
    if (cv_net_worker_stopped(w)) {
        free(d);
        return;
    }
    d->timer.task.run = deletions_check;
    cv_net_timer_arm(w, &d->timer, CV_DELETIONS_EVERY_MS);
}

int cv_server_watch_deletions(cv_server_t *srv)
{
    deletions_t *d = calloc(1, sizeof *d);
    int rc = d ? cv_store_accounts_deleted(srv->store, &d->cursor, NULL, NULL) : CV_ENOMEM;
    if (rc < 0) {
        free(d);
        return rc;
    }
    d->srv = srv;
    d->arm.run = deletions_arm;
    cv_net_post(NULL, cv_net_worker(srv->net, 0), &d->arm);
    return 0;
}
