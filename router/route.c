/*
 * Routing of stanzas from bound client sessions (RFC 6120 §8.1, §10; RFC 6121 §8).
 *
 * Every stanza a bound client sends goes to its session's actor (cv__route_enqueue, on the
 * ring), and the actor — on whichever worker runs it — stamps the sender's full JID as
 * 'from', decides where the stanza goes, and hands it to the recipients' rings
 * (deliver.c). Replies and errors to the sender take the same path back, so the sender's
 * stanzas are handled in order and its replies arrive in order.
 */
#include <stddef.h>
#include <string.h>

#include "corvid/iq.h"
#include "corvid/log.h"
#include "corvid/rules.h"
#include "reply.h"
#include "roster_int.h"

/* What one routing decision works with. */
typedef struct route_s {
    cv_server_t *srv;
    cv_worker_t *self; /* the worker running the actor */
    cv_c2s_t *sender;
    cv_xml_node_t *st; /* the stanza (from stamped) */
    const char *type;  /* its 'type', or "" */
} route_t;

/*
 * Input backpressure (limits.max_pending_stanzas): a client that sends faster than its
 * actor routes (or than its store writes complete) has its input stopped by its ring once
 * that many stanzas are pending, and resumed when a quarter are left. The resume task is
 * allocated when input stops and handed over through s->input_resume: the ring and the
 * router both try to take it with an exchange, so exactly one posts it.
 */
typedef struct cv__input_resume_s {
    cv_net_task_t task;
    cv_c2s_t *s; /* held by the task */
} input_resume_t;

/* On the session's ring. */
static void input_resume_run(cv_net_task_t *t, cv_worker_t *w)
{
    input_resume_t *r = (input_resume_t *)t;
    cv_c2s_t *s = r->s;
    CV_UNUSED(w);

    /* A newer stop published after this task was taken (the ring parsed its way back to
       the limit) keeps input stopped: its own task resumes it. */
    if (s->conn && s->phase != CV_C2S_CLOSED && !atomic_load(&s->input_resume))
        cv_net_conn_hold_input(s->conn, 0);
    cv__c2s_release(s);
    free(r);
}

/* Thread: any. Posts the resume task, unless another thread took it first. */
static void input_release(cv_c2s_t *s, cv_worker_t *from)
{
    input_resume_t *r = atomic_exchange(&s->input_resume, NULL);
    if (r)
        cv_net_post(from, s->worker, &r->task);
}

/* Thread: ring owner. */
static void input_stop(cv_c2s_t *s)
{
    unsigned low = s->srv->config->max_pending_stanzas / 4;
    input_resume_t *r;

    if (!s->conn || s->phase != CV_C2S_BOUND || atomic_load(&s->input_resume) ||
        !(r = malloc(sizeof *r)))
        return; /* closing, already stopped, or (no memory) left running */
    cv_debug("c2s %s: %u stanzas pending: not reading until %u are left", s->full,
             atomic_load(&s->pending), low);
    r->task.run = input_resume_run;
    r->s = s;
    cv__c2s_hold(s);
    cv_net_conn_hold_input(s->conn, 1);
    atomic_store(&s->input_resume, r);
    /* The router may have drained below low before the task was published. */
    if (atomic_load(&s->pending) <= low)
        input_release(s, s->worker);
}

/* Thread: any, once per stanza routed (or dropped) for s. */
static void pending_done(cv_c2s_t *s, cv_worker_t *self)
{
    unsigned left = atomic_fetch_sub(&s->pending, 1) - 1;
    /* seq_cst, pairing with input_stop's store-then-load: one of the two sees the other. */
    if (left <= s->srv->config->max_pending_stanzas / 4 && atomic_load(&s->input_resume))
        input_release(s, self);
}

void cv__route_enqueue(cv_c2s_t *s, cv_stanza_t *st)
{
    unsigned n = atomic_fetch_add(&s->pending, 1) + 1;
    /* While the actor is scheduled it holds a reference (actor_retain), so the session
       outlives every message queued for it. */
    cv_sched_send(s->srv->sched, cv_net_worker_index(s->worker), &s->actor, cv_stanza_node(st));
    if (n >= s->srv->config->max_pending_stanzas)
        input_stop(s);
}

static int is_type(const route_t *r, const char *t)
{
    return strcmp(r->type, t) == 0;
}

void cv__route_bounce(cv_server_t *srv, cv_worker_t *from, cv_c2s_t *sender,
                      const cv_xml_node_t *st, cv_stanza_err_t cond, const char *text)
{
    cv_stanza_t *e = NULL;
    const char *type = cv_xml_attr(st, "type");
    /* Never an error in reply to an error: two servers could loop forever. */
    if (type && !strcmp(type, "error"))
        return;
    if (cv__reply_error(st, cond, text, NULL, NULL, &e) == 0)
        (void)cv__deliver(srv, from, sender, cv_stanza_root(e));
    cv_stanza_free(e);
}

static void bounce(route_t *r, cv_stanza_err_t cond, const char *text)
{
    cv__route_bounce(r->srv, r->self, r->sender, r->st, cond, text);
}

/* The sessions of one account, collected under the shard lock with a reference each. */
typedef struct resources_s {
    cv_c2s_t *found[CV_MAX_RESOURCES];
    size_t n;
} resources_t;

static void collect(cv_sess_entry_t *e, void *arg)
{
    resources_t *res = arg;
    if (res->n == CV_MAX_RESOURCES)
        return;
    cv_c2s_t *s = cv__c2s_of_entry(e);
    cv__c2s_hold(s);
    res->found[res->n++] = s;
}

static void resources_release(resources_t *res)
{
    for (size_t i = 0; i < res->n; i++)
        cv__c2s_release(res->found[i]);
    res->n = 0;
}

/* Sends r->st to every session in targets[0..n): serialized once. */
static void deliver_all(route_t *r, cv_c2s_t **targets, size_t n)
{
    cv_payload_t *p = NULL;
    if (n == 0 || cv__payload_new(r->st, &p) < 0)
        return;
    if (!strcmp(r->st->name, "message") &&
        (!*r->type || is_type(r, "chat") || is_type(r, "normal")))
        cv__payload_set_offline_ok(p);
    else if (!strcmp(r->st->name, "iq") && (is_type(r, "get") || is_type(r, "set")))
        cv__payload_set_answer_if_gone(p);
    for (size_t i = 0; i < n; i++)
        (void)cv__payload_deliver(p, r->self, targets[i]);
    cv__payload_release(p);
}

static int is_available(cv_c2s_t *s)
{
    return cv__c2s_is_available(s);
}

static int priority_of(cv_c2s_t *s)
{
    return atomic_load_explicit(&s->priority, memory_order_relaxed);
}

/* The recipients an action names, out of the account's sessions. */
static size_t pick(cv_rule_action_t action, const resources_t *res, const char *resource,
                   cv_c2s_t **out)
{
    int best = 0;
    size_t n = 0;
    if (action == CV_RULE_TO_HIGHEST)
        for (size_t i = 0; i < res->n; i++)
            if (is_available(res->found[i]) && priority_of(res->found[i]) > best)
                best = priority_of(res->found[i]);
    for (size_t i = 0; i < res->n; i++) {
        cv_c2s_t *s = res->found[i];
        int take = 0;
        switch (action) {
        case CV_RULE_TO_RESOURCE: take = strcmp(s->jid.resource, resource) == 0; break;
        case CV_RULE_TO_HIGHEST: /* RFC 6121 §8.5.2.1.1: all that share the top priority */
            take = is_available(s) && priority_of(s) == best;
            break;
        case CV_RULE_TO_NONNEGATIVE: take = is_available(s) && priority_of(s) >= 0; break;
        case CV_RULE_TO_AVAILABLE: take = is_available(s); break;
        default: break;
        }
        if (take)
            out[n++] = s;
    }
    return n;
}

/* Leaves out of targets[0..n) each session whose full JID the sender blocks: a full-JID
   blocklist item names that one resource (XEP-0191), so a stanza to the bare JID must not
   reach it (bare and domain items were refused for the whole account before). Returns
   the new count. Only for a sender with a blocklist. */
static size_t drop_blocked_resources(route_t *r, cv_c2s_t **targets, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (!cv__blocking_blocks(r->srv, r->sender->host, r->sender->user, &targets[i]->jid))
            targets[kept++] = targets[i];
    return kept;
}

/* IQs the server answers: to itself, to the sender's account, or on behalf of another
   local account (RFC 6120 §10.3.3, RFC 6121 §8.5.2.1.3). to: NULL when no 'to'. */
static void server_iq(route_t *r, const cv_jid_t *to, int to_server)
{
    cv_c2s_t *s = r->sender;
    cv_iq_t q;

    memset(&q, 0, sizeof q);
    q.srv = r->srv;
    q.self = r->self;
    q.sender = s;
    q.from = &s->jid;
    q.user = s->user;
    q.host = s->host;
    q.iq = r->st;
    q.payload = cv_xml_first_element(r->st);
    q.is_set = is_type(r, "set");
    q.to_server = to_server;
    /* The sender's own bare JID is "self", like no 'to' at all. */
    if (to && !to_server &&
        !(to->local && !strcmp(to->local, s->user) && !strcmp(to->domain, s->host)))
        q.to = to;
    if (!cv_xml_attr(r->st, "id"))
        return bounce(r, CV_STE_BAD_REQUEST, "an iq needs an id");
    if (!q.payload || cv_xml_next_element(q.payload))
        return bounce(r, CV_STE_BAD_REQUEST, "an iq get or set has exactly one child");
    (void)cv_iq_dispatch(&q);
}

/* The <priority/> of an available presence (RFC 6121 §4.7.2.3): -128..127, 0 when absent
   or not a number in that range. */
static int presence_priority(const cv_xml_node_t *st)
{
    const cv_xml_node_t *p = cv_xml_child(st, "priority", CV_NS_CLIENT);
    int prio = 0;
    cv_buf_t text = CV_BUF_INIT;
    if (p && cv_xml_text(p, &text) == 0 && text.data) {
        char *end = NULL;
        long v = strtol(text.data, &end, 10);
        if (end != text.data && *end == '\0' && v >= -128 && v <= 127)
            prio = (int)v;
    }
    cv_buf_free(&text);
    return prio;
}

/* Presence without 'to': the client's own availability (RFC 6121 §4.2, §4.4, §4.5). */
static void presence_broadcast(route_t *r)
{
    cv_c2s_t *s = r->sender;
    int was_negative = 0;
    if (!*r->type) {
        int prio = presence_priority(r->st);
        was_negative = s->initial_sent && priority_of(s) < 0;
        atomic_store_explicit(&s->priority, prio, memory_order_relaxed);
        cv__c2s_set_available(s, 1);
    } else {
        cv__c2s_set_available(s, 0);
    }
    cv__presence_broadcast(r->srv, r->self, s, r->st);
    /* Stored messages wait for a resource with non-negative priority: this one is now. */
    if (was_negative && priority_of(s) >= 0)
        cv__route_offline_recheck(s);
}

static cv_kind_t kind_of(const cv_xml_node_t *st)
{
    if (!strcmp(st->name, "message"))
        return CV_KIND_MESSAGE;
    return !strcmp(st->name, "iq") ? CV_KIND_IQ : CV_KIND_PRESENCE;
}

static int is_local_domain(cv_server_t *srv, const char *domain)
{
    const cv_route_t *rt = cv_routes_lookup(srv->routes, domain);
    return rt && rt->kind == CV_ROUTE_LOCAL;
}

/* Another domain: its route table entry says how to reach it. Components and federation
   are not there yet, so no entry exists for one (RFC 6120 §10.4.3). */
static void route_remote(route_t *r, const cv_jid_t *to)
{
    const cv_route_t *rt = cv_routes_lookup(r->srv->routes, to->domain);
    if (!rt)
        bounce(r, CV_STE_REMOTE_SERVER_NOT_FOUND, NULL);
    else
        bounce(r, CV_STE_SERVICE_UNAVAILABLE, "that route is not served yet");
}

/* Gathers what the rules need about the recipient `to` (NULL: no 'to'). */
static void gather(route_t *r, const cv_jid_t *to, cv_rules_in_t *in, resources_t *res)
{
    cv_c2s_t *s = r->sender;
    in->kind = kind_of(r->st);
    in->type = cv_rules_type(in->kind, r->type);
    if (!to) {
        in->to_absent = 1;
        to = &s->jid; /* a message without 'to' goes to the sender's own account */
    } else if (!is_local_domain(r->srv, to->domain)) {
        in->to_remote = 1;
        return;
    } else if (!to->local) {
        in->to_server = 1;
        return;
    }
    in->to_own_bare = !in->to_absent && !to->resource && !strcmp(to->local, s->user) &&
                      !strcmp(to->domain, s->host);
    in->to_full = !in->to_absent && to->resource != NULL;
    cv_sessions_visit_bare(r->srv->sessions, to, collect, res);
    for (size_t i = 0; i < res->n; i++) {
        cv_c2s_t *t = res->found[i];
        if (in->to_full && !strcmp(t->jid.resource, to->resource))
            in->resource_bound = 1;
        if (is_available(t)) {
            in->available = 1;
            if (priority_of(t) >= 0)
                in->nonnegative = 1;
        }
    }
    /* Sessions prove the account; only without any is the store asked. */
    in->account_exists =
        res->n > 0 || cv_store_account_exists(r->srv->store, to->domain, to->local) == 0;
}

/* XEP-0191: a stanza between an account and one it blocks (either way) stops here. The
   sessions' has_blocklist flags spare the store lookups when nobody blocks anyone. */
static int blocked(route_t *r, const cv_rules_in_t *in, const cv_jid_t *to, resources_t *res)
{
    cv_c2s_t *s = r->sender;
    int answerable =
        in->type != CV_RT_ERROR && in->type != CV_RT_RESULT && in->kind != CV_KIND_PRESENCE;
    if (atomic_load_explicit(&s->has_blocklist, memory_order_relaxed) &&
        cv__blocking_blocks(r->srv, s->host, s->user, to)) {
        if (answerable)
            cv__blocking_refuse(r->srv, r->self, s, r->st); /* §3.5 */
        return 1;
    }
    int check = res->n == 0 && in->account_exists; /* offline: ask the store */
    for (size_t i = 0; !check && i < res->n; i++)
        check = atomic_load_explicit(&res->found[i]->has_blocklist, memory_order_relaxed);
    if (check && cv__blocking_blocks(r->srv, to->domain, to->local, &s->jid)) {
        /* §3.4: the blocked sender learns nothing but that the service is unavailable. */
        if (answerable)
            bounce(r, CV_STE_SERVICE_UNAVAILABLE, NULL);
        return 1;
    }
    return 0;
}

static void route(route_t *r)
{
    const char *to_attr = cv_xml_attr(r->st, "to");
    cv_jid_t to = CV_JID_INIT;
    cv_rules_in_t in;
    resources_t res = {{NULL}, 0};
    cv_c2s_t *targets[CV_MAX_RESOURCES];
    size_t ntargets;
    char to_buf[CV_JID_BUF_SIZE]; /* `to` lives here: no allocation per stanza */

    memset(&in, 0, sizeof in);
    if (to_attr && cv_jid_parse_buf(&to, to_attr, strlen(to_attr), to_buf) < 0) {
        bounce(r, CV_STE_JID_MALFORMED, NULL);
        return;
    }
    gather(r, to_attr ? &to : NULL, &in, &res);
    if (to_attr && !in.to_remote && !in.to_server && blocked(r, &in, &to, &res))
        goto out;
    cv_rule_t rule = cv_rules_decide(&in, r->srv->config->max_offline_messages > 0);
    switch (rule.action) {
    case CV_RULE_DROP: break;
    case CV_RULE_BOUNCE: bounce(r, rule.error, NULL); break;
    case CV_RULE_SERVER:
        if (in.kind == CV_KIND_IQ)
            server_iq(r, to_attr ? &to : NULL, in.to_server);
        else if (in.kind == CV_KIND_PRESENCE && to_attr)
            cv__presence_server(r->srv, r->self, r->sender, r->st, &to);
        break;
    case CV_RULE_BROADCAST: presence_broadcast(r); break;
    case CV_RULE_OFFLINE:
        if (to_attr) {
            cv__offline_store(r->srv, r->sender, r->st, &to);
        } else {
            cv_jid_t own = {r->sender->jid.local, r->sender->jid.domain, NULL, NULL};
            cv__offline_store(r->srv, r->sender, r->st, &own);
        }
        break;
    case CV_RULE_REMOTE: route_remote(r, &to); break;
    default:
        ntargets = pick(rule.action, &res, to.resource, targets);
        if (rule.action != CV_RULE_TO_RESOURCE &&
            atomic_load_explicit(&r->sender->has_blocklist, memory_order_relaxed))
            ntargets = drop_blocked_resources(r, targets, ntargets);
        deliver_all(r, targets, ntargets);
        if (in.kind == CV_KIND_PRESENCE && to_attr)
            cv__presence_directed(r->srv, r->self, r->sender, r->st, &to);
        break;
    }
out:
    resources_release(&res);
}

/* Stamps the sender's full JID and routes st (then frees it). self is NULL off the
   workers (the offload pool). */
/* Internal work queued on a session's actor, in a namespace no client stanza can carry
   (cv__c2s_bound_stanza lets only jabber:client message, presence and iq through). */
#define CV_NS_INTERNAL "urn:corvid:internal"
#define CV_OFFLINE_RECHECK "offline-recheck"

#define CV_STREAM_END "stream-end"

static int is_internal(const cv_xml_node_t *st, const char *name)
{
    return !strcmp(st->ns, CV_NS_INTERNAL) && !strcmp(st->name, name);
}

static int is_offline_recheck(const cv_xml_node_t *st)
{
    return is_internal(st, CV_OFFLINE_RECHECK);
}

#define CV_PRESENCE_REFRESH "presence-refresh"

void cv__route_presence_refresh(cv_c2s_t *s)
{
    cv_stanza_t *st = NULL;
    if (cv_stanza_new(&st, CV_PRESENCE_REFRESH, CV_NS_INTERNAL) < 0)
        return;
    /* From any thread, as an external send (counted like a stanza). */
    atomic_fetch_add(&s->pending, 1);
    cv_sched_send(s->srv->sched, CV_SCHED_EXTERNAL, &s->actor, cv_stanza_node(st));
}

int cv__route_stream_end(cv_c2s_t *s)
{
    cv_stanza_t *st = NULL;
    int rc = cv_stanza_new(&st, CV_STREAM_END, CV_NS_INTERNAL);
    if (rc == 0)
        cv__route_enqueue(s, st);
    return rc;
}

void cv__route_offline_recheck(cv_c2s_t *s)
{
    cv_stanza_t *st = NULL;
    /* One queued at a time: a batch put back message by message asks once per message. */
    if (atomic_fetch_or(&s->offline_flags, CV__OFFLINE_RECHECK_QUEUED) & CV__OFFLINE_RECHECK_QUEUED)
        return;
    if (cv_stanza_new(&st, CV_OFFLINE_RECHECK, CV_NS_INTERNAL) < 0) {
        /* Out of memory: asked again later. */
        atomic_fetch_and(&s->offline_flags, (uint8_t)~CV__OFFLINE_RECHECK_QUEUED);
        cv__offline_retry_later(NULL, s);
        return;
    }
    /* Counted like a stanza (route_stanza's pending_done takes it off); from any thread,
       so as an external send. */
    atomic_fetch_add(&s->pending, 1);
    cv_sched_send(s->srv->sched, CV_SCHED_EXTERNAL, &s->actor, cv_stanza_node(st));
}

static void route_stanza(cv_c2s_t *s, cv_worker_t *self, cv_stanza_t *st)
{
    cv_xml_node_t *root = cv_stanza_root(st);
    route_t r = {s->srv, self, s, root, NULL};

    if (is_internal(root, CV_STREAM_END)) {
        /* Every stanza the client sent before its closing tag was routed, and what
           answers them was posted to the session's ring before this close request
           (FIFO inbox): the answers leave before our closing tag (RFC 6120 §4.4). */
        cv__c2s_close_async(s, self, CV_SE_NONE);
        cv_stanza_free(st);
        pending_done(s, self);
        return;
    }
    if (is_internal(root, CV_PRESENCE_REFRESH)) {
        cv__presence_refresh(s->srv, self, s);
        cv_stanza_free(st);
        pending_done(s, self);
        return;
    }
    if (is_offline_recheck(root)) {
        (void)atomic_fetch_and(&s->offline_flags, (uint8_t)~CV__OFFLINE_RECHECK_QUEUED);
        cv_debug("offline recheck for %s", s->full);
        /* Only a session that collected once collects again; one whose initial presence
           is still to come collects then. One that can no longer collect (closing, gone
           unavailable, negative priority) passes the request on to another resource, and
           so does one with a batch on its way (its client may have stopped reading; its
           drain collects the rest for it anyway). */
        if (!cv__c2s_is_available(s) || priority_of(s) < 0 || atomic_load(&s->offline_paced))
            cv__offline_recheck(s->srv, s->user, s->host, s);
        else if (s->initial_sent)
            cv__offline_deliver(s->srv, self, s);
        cv_stanza_free(st);
        pending_done(s, self);
        return;
    }
    /* A collection that failed is tried again at the client's next stanza (a ping will
       do) or by its timer, whichever comes first; relaxed: a stale 0 only leaves it for
       the stanza after or the timer. */
    if (atomic_load_explicit(&s->offline_flags, memory_order_relaxed) & CV__OFFLINE_RETRY) {
        atomic_fetch_and(&s->offline_flags, (uint8_t)~CV__OFFLINE_RETRY);
        cv__route_offline_recheck(s);
    }
    /* RFC 6120 §8.1.2.1: the server stamps the sender's full JID, whatever it claimed. */
    if (cv_stanza_set_attr(st, root, "from", s->full) == 0) {
        r.type = cv_xml_attr(root, "type");
        if (!r.type)
            r.type = "";
        route(&r);
    }
    cv_stanza_free(st);
    pending_done(s, self);
}

/*
 * Whether routing st may wait for a write to the store (a group commit, hence an fsync):
 * the stanzas whose handlers write per-user data or accounts. Reads never wait (LMDB
 * snapshots), and the writes made for every stanza (last activity) are asynchronous.
 * Erring towards "yes" only costs a trip through the offload pool.
 */
static int writes_store(cv_c2s_t *s, const cv_xml_node_t *st)
{
    static const char *const set_ns[] = {"jabber:iq:roster", "urn:xmpp:blocking",
                                         "jabber:iq:private", "vcard-temp", CV_NS_REGISTER};
    const char *type = cv_xml_attr(st, "type");
    size_t n = 0;

    if (is_offline_recheck(st))
        return 1; /* collecting deletes what it delivered */
    if (!strcmp(st->name, "presence")) {
        if (type)
            return !strcmp(type, "subscribe") || !strcmp(type, "subscribed") ||
                   !strcmp(type, "unsubscribe") || !strcmp(type, "unsubscribed");
        /* Initial presence delivers, then deletes, the stored offline messages, unless
           its priority is negative (it collects nothing then). */
        return !s->initial_sent && !cv_xml_attr(st, "to") && presence_priority(st) >= 0 &&
               cv_store_offline_count(s->srv->store, s->host, s->user, &n) == 0 && n > 0;
    }
    if (strcmp(st->name, "iq") != 0 || !type || strcmp(type, "set") != 0)
        return 0;
    const cv_xml_node_t *payload = cv_xml_first_element(st);
    for (size_t i = 0; payload && i < sizeof set_ns / sizeof set_ns[0]; i++)
        if (!strcmp(payload->ns, set_ns[i]))
            return 1;
    return 0;
}

/* One stanza's trip through the store_jobs pool, and what its session's actor queued
   meanwhile (linked through the stanzas' own mailbox nodes). */
typedef struct cv__store_trip_s {
    cv_offload_job_t job;
    cv_mpsc_node_t resume; /* sent to the actor once the job is done */
    cv_c2s_t *s;
    cv_stanza_t *stanza; /* routed by the job */
    cv_stanza_t *parked_head, *parked_tail;
} store_trip_t;

static void store_job_run(cv_offload_job_t *j)
{
    store_trip_t *trip = (store_trip_t *)j;
    cv_stanza_t *st = trip->stanza;

    trip->stanza = NULL;
    route_stanza(trip->s, NULL, st);
}

/* Wakes the parked actor; its scheduling takes a reference (actor_retain) before the
   job's own goes. */
static void store_job_done(cv_offload_job_t *j)
{
    store_trip_t *trip = (store_trip_t *)j;
    cv_c2s_t *s = trip->s;

    cv_sched_send(s->srv->sched, CV_SCHED_EXTERNAL, &s->actor, &trip->resume);
    cv__c2s_release(s);
}

static void park(store_trip_t *trip, cv_stanza_t *st)
{
    cv_mpsc_node_t *n = cv_stanza_node(st);

    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    if (trip->parked_tail)
        atomic_store_explicit(&cv_stanza_node(trip->parked_tail)->next, n, memory_order_relaxed);
    else
        trip->parked_head = st;
    trip->parked_tail = st;
}

/* The first of list, which moves on to the next. */
static cv_stanza_t *unpark(cv_stanza_t **list)
{
    cv_stanza_t *st = *list;

    if (st) {
        cv_mpsc_node_t *next =
            atomic_load_explicit(&cv_stanza_node(st)->next, memory_order_relaxed);
        *list = next ? cv_stanza_of_node(next) : NULL;
    }
    return st;
}

/* Routes st here, or hands it to the store_jobs pool and parks the actor. */
static void handle_stanza(cv_c2s_t *s, cv_worker_t *self, cv_stanza_t *st)
{
    store_trip_t *trip;

    if (s->trip) {
        park(s->trip, st);
        return;
    }
    /* Without memory for the trip the stanza is routed here: slower, still correct. */
    if (!writes_store(s, cv_stanza_root(st)) || !(trip = calloc(1, sizeof *trip))) {
        route_stanza(s, self, st);
        return;
    }
    trip->s = s;
    trip->stanza = st;
    trip->job.run = store_job_run;
    trip->job.done = store_job_done;
    s->trip = trip;
    cv__c2s_hold(s); /* the job's, released by store_job_done */
    if (s->srv->store_jobs) {
        cv_offload_submit(s->srv->store_jobs, &trip->job);
    } else {
        store_job_run(&trip->job);
        store_job_done(&trip->job);
    }
}

void cv__route_actor(cv_actor_t *a, cv_mpsc_node_t *msg, unsigned self)
{
    cv_c2s_t *s = cv__c2s_of_actor(a);
    cv_worker_t *w = cv_net_worker(s->srv->net, self);
    cv_stanza_t *list, *st;

    if (!s->trip || msg != &s->trip->resume) {
        handle_stanza(s, w, cv_stanza_of_node(msg));
        return;
    }
    /* The store job is done: what queued behind it runs now, in order; one that parks
       the actor again takes the rest with it, still in order. */
    list = s->trip->parked_head;
    free(s->trip);
    s->trip = NULL;
    while ((st = unpark(&list)) != NULL)
        handle_stanza(s, w, st);
}

void cv__route_actor_retain(cv_actor_t *a)
{
    cv__c2s_hold(cv__c2s_of_actor(a));
}

void cv__route_actor_release(cv_actor_t *a)
{
    cv__c2s_release(cv__c2s_of_actor(a));
}
