/*
 * Routing of stanzas from bound client sessions (RFC 6120 §8.1, §10; RFC 6121 §8).
 *
 * Every stanza a bound client sends goes to its session's actor (cv__route_enqueue, on the
 * ring), and the actor — on whichever worker runs it — stamps the sender's full JID as
 * 'from', decides where the stanza goes, and hands it to the recipients' rings
 * (deliver.c). Replies and errors to the sender take the same path back, so the sender's
 * stanzas are handled in order and its replies arrive in order.
 */
#include <string.h>

#include "corvid/log.h"
#include "c2s_int.h"

/* What one routing decision works with. */
typedef struct route_s {
    cv_server_t *srv;
    cv_worker_t *self; /* the worker running the actor */
    cv_c2s_t *sender;
    cv_xml_node_t *st; /* the stanza (from stamped) */
    const char *type;  /* its 'type', or "" */
} route_t;

void cv__route_enqueue(cv_c2s_t *s, cv_stanza_t *st)
{
    /* The message holds a reference on the session until the actor handled it. */
    cv__c2s_hold(s);
    cv_sched_send(s->srv->sched, cv_net_worker_index(s->worker), &s->actor, cv_stanza_node(st));
}

static int is_type(const route_t *r, const char *t)
{
    return strcmp(r->type, t) == 0;
}

/* Builds the error reply to r->st (RFC 6120 §8.3) and routes it back to the sender. */
static void bounce(route_t *r, cv_stanza_err_t cond, const char *text)
{
    cv_stanza_t *e = NULL;
    cv_xml_node_t *root, *err, *c;
    const char *id = cv_xml_attr(r->st, "id");
    const char *to = cv_xml_attr(r->st, "to");

    /* Never an error in reply to an error: two servers could loop forever. */
    if (is_type(r, "error"))
        return;
    if (cv_stanza_new(&e, r->st->name, CV_NS_CLIENT) < 0)
        return;
    root = cv_stanza_root(e);
    if (cv_stanza_set_attr(e, root, "type", "error") < 0 ||
        (id && cv_stanza_set_attr(e, root, "id", id) < 0) ||
        (to && cv_stanza_set_attr(e, root, "from", to) < 0) ||
        cv_stanza_set_attr(e, root, "to", cv_xml_attr(r->st, "from")) < 0)
        goto out;
    err = cv_stanza_add_child(e, root, "error", CV_NS_CLIENT);
    c = err ? cv_stanza_add_child(e, err, cv_stanza_err_name(cond), CV_NS_STANZAS_ERR) : NULL;
    if (!c || cv_stanza_set_attr(e, err, "type", cv_stanza_err_type(cond)) < 0)
        goto out;
    if (text) {
        cv_xml_node_t *t = cv_stanza_add_child(e, err, "text", CV_NS_STANZAS_ERR);
        if (!t || cv_stanza_add_text(e, t, text, strlen(text)) < 0)
            goto out;
    }
    (void)cv__deliver(r->srv, r->self, r->sender, root);
out:
    cv_stanza_free(e);
}

/* Resources of one account, collected under the shard lock with a reference each. */
#define ROUTE_MAX_RESOURCES 64
typedef struct resources_s {
    const char *resource; /* match only this resource; NULL: all */
    cv_c2s_t *found[ROUTE_MAX_RESOURCES];
    size_t n;
} resources_t;

static void collect(cv_sess_entry_t *e, void *arg)
{
    resources_t *res = arg;
    cv_c2s_t *s = cv__c2s_of_entry(e);
    if (res->n == ROUTE_MAX_RESOURCES)
        return;
    if (res->resource && strcmp(s->jid.resource, res->resource) != 0)
        return;
    cv__c2s_hold(s);
    res->found[res->n++] = s;
}

static void resources_release(resources_t *res)
{
    for (size_t i = 0; i < res->n; i++)
        cv__c2s_release(res->found[i]);
    res->n = 0;
}

/* Sends r->st to every session in targets[0..n). */
static void deliver_all(route_t *r, cv_c2s_t **targets, size_t n)
{
    cv_payload_t *p = NULL;
    if (n == 0 || cv__payload_new(r->st, &p) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        (void)cv__payload_deliver(p, r->self, targets[i]);
    cv__payload_release(p);
}

/* RFC 6121 §8.5.2.1.1: the available resources of highest non-negative priority. */
static size_t pick_highest(resources_t *res, cv_c2s_t **out)
{
    int best = -1;
    size_t n = 0;
    for (size_t i = 0; i < res->n; i++) {
        cv_c2s_t *s = res->found[i];
        if (!atomic_load_explicit(&s->available, memory_order_relaxed))
            continue;
        int prio = atomic_load_explicit(&s->priority, memory_order_relaxed);
        if (prio < 0 || prio < best)
            continue;
        if (prio > best) {
            best = prio;
            n = 0;
        }
        out[n++] = s;
    }
    return n;
}

/* RFC 6121 §8.5.2.1.1 (headline) and §4.3: every available non-negative resource. */
static size_t pick_available(resources_t *res, cv_c2s_t **out, int nonnegative)
{
    size_t n = 0;
    for (size_t i = 0; i < res->n; i++) {
        cv_c2s_t *s = res->found[i];
        if (!atomic_load_explicit(&s->available, memory_order_relaxed))
            continue;
        if (nonnegative && atomic_load_explicit(&s->priority, memory_order_relaxed) < 0)
            continue;
        out[n++] = s;
    }
    return n;
}

static int account_exists(route_t *r, const cv_jid_t *to)
{
    return cv_store_account_exists(r->srv->store, to->domain, to->local) == 0;
}

/* A message to a local bare JID (RFC 6121 §8.5.2), or to a full JID whose resource is
   not there and that is handled like one (§8.5.3.2.1). */
static void message_to_bare(route_t *r, const cv_jid_t *to)
{
    resources_t res = {NULL, {NULL}, 0};
    cv_c2s_t *targets[ROUTE_MAX_RESOURCES];
    size_t n = 0;

    cv_sessions_visit_bare(r->srv->sessions, to, collect, &res);
    if (is_type(r, "headline"))
        n = pick_available(&res, targets, 1);
    else if (!is_type(r, "groupchat") && !is_type(r, "error"))
        n = pick_highest(&res, targets);
    if (n > 0) {
        deliver_all(r, targets, n);
    } else if (is_type(r, "headline") || is_type(r, "error")) {
        /* §8.5.2.2.1: headline and error messages nobody can take are dropped silently. */
    } else if (!account_exists(r, to)) {
        bounce(r, CV_STE_SERVICE_UNAVAILABLE, NULL);
    } else {
        /* Offline storage (XEP-0160) is not there yet: tell the sender rather than lose
           the message silently. */
        bounce(r, CV_STE_SERVICE_UNAVAILABLE, "the recipient is offline");
    }
    resources_release(&res);
}

static void message_to_full(route_t *r, const cv_jid_t *to)
{
    resources_t res = {to->resource, {NULL}, 0};
    cv_sessions_visit_bare(r->srv->sessions, to, collect, &res);
    if (res.n > 0) {
        deliver_all(r, res.found, 1);
        resources_release(&res);
        return;
    }
    /* §8.5.3.2.1: no such resource. */
    if (is_type(r, "groupchat"))
        bounce(r, CV_STE_SERVICE_UNAVAILABLE, NULL);
    else if (!is_type(r, "headline") && !is_type(r, "error"))
        message_to_bare(r, to);
}

/* IQs a bound client addresses to the server or to its own bare JID. */
static void server_iq(route_t *r)
{
    cv_c2s_t *s = r->sender;
    cv_xml_node_t *q = cv_xml_first_element(r->st);

    if (!cv_xml_attr(r->st, "id") || !*r->type)
        return bounce(r, CV_STE_BAD_REQUEST, "an iq needs type and id");
    if (is_type(r, "result") || is_type(r, "error"))
        return; /* answers to nothing we asked: dropped (RFC 6120 §8.2.3) */
    if (!is_type(r, "get") && !is_type(r, "set"))
        return bounce(r, CV_STE_BAD_REQUEST, "unknown iq type");
    if (!q)
        return bounce(r, CV_STE_BAD_REQUEST, "an iq needs one child");
    if ((!strcmp(q->ns, CV_NS_PING) && !strcmp(q->name, "ping") && is_type(r, "get")) ||
        (!strcmp(q->ns, CV_NS_SESSION) && !strcmp(q->name, "session") && is_type(r, "set"))) {
        (void)cv__c2s_iq_result(s, r->st);
        return;
    }
    if (!strcmp(q->ns, CV_NS_REGISTER)) {
        (void)cv__c2s_register(s, r->st, q);
        return;
    }
    if (!strcmp(q->ns, CV_NS_BIND))
        return bounce(r, CV_STE_NOT_ALLOWED, "already bound");
    bounce(r, CV_STE_SERVICE_UNAVAILABLE, NULL);
}

/* An IQ to another entity: full JIDs are routed, bare JIDs answered for the account. */
static void iq_to_user(route_t *r, const cv_jid_t *to)
{
    if (to->resource) {
        resources_t res = {to->resource, {NULL}, 0};
        cv_sessions_visit_bare(r->srv->sessions, to, collect, &res);
        if (res.n > 0)
            deliver_all(r, res.found, 1);
        else if (!is_type(r, "result") && !is_type(r, "error"))
            bounce(r, CV_STE_SERVICE_UNAVAILABLE, NULL); /* RFC 6121 §8.5.3.2.3 */
        resources_release(&res);
        return;
    }
    /* RFC 6121 §8.5.2.1.3: the server answers for the account; it knows no namespace of
       another user's yet (vCard and the like come with the IM core). */
    if (!is_type(r, "result") && !is_type(r, "error"))
        bounce(r, CV_STE_SERVICE_UNAVAILABLE, NULL);
}

/* Directed presence to a local user: every available resource of the bare JID, or the
   one full JID (RFC 6121 §4.6). Subscriptions come with rosters. */
static void presence_to_user(route_t *r, const cv_jid_t *to)
{
    resources_t res = {to->resource, {NULL}, 0};
    cv_c2s_t *targets[ROUTE_MAX_RESOURCES];
    size_t n;
    cv_sessions_visit_bare(r->srv->sessions, to, collect, &res);
    if (to->resource) {
        n = res.n;
        memcpy(targets, res.found, n * sizeof targets[0]);
    } else {
        n = pick_available(&res, targets, 0);
    }
    deliver_all(r, targets, n);
    resources_release(&res);
}

/* Presence without 'to': the client's own availability (RFC 6121 §4.2, §4.4, §4.5). */
static void presence_broadcast(route_t *r)
{
    cv_c2s_t *s = r->sender;
    if (!*r->type) {
        const cv_xml_node_t *p = cv_xml_child(r->st, "priority", CV_NS_CLIENT);
        int prio = 0;
        cv_buf_t text = CV_BUF_INIT;
        if (p && cv_xml_text(p, &text) == 0 && text.data) {
            char *end = NULL;
            long v = strtol(text.data, &end, 10);
            if (end != text.data && *end == '\0' && v >= -128 && v <= 127)
                prio = (int)v;
        }
        cv_buf_free(&text);
        atomic_store_explicit(&s->priority, prio, memory_order_relaxed);
        atomic_store_explicit(&s->available, 1, memory_order_relaxed);
    } else if (is_type(r, "unavailable")) {
        atomic_store_explicit(&s->available, 0, memory_order_relaxed);
    }
}

static void route_local(route_t *r, const cv_jid_t *to)
{
    const char *name = r->st->name;
    if (!to->local) {
        /* Addressed to the server itself. */
        if (!strcmp(name, "iq"))
            server_iq(r);
        else if (!strcmp(name, "message") && !is_type(r, "error") && !is_type(r, "headline"))
            bounce(r, CV_STE_SERVICE_UNAVAILABLE, NULL);
        return;
    }
    if (!strcmp(name, "message")) {
        if (to->resource)
            message_to_full(r, to);
        else
            message_to_bare(r, to);
    } else if (!strcmp(name, "iq")) {
        if (!to->resource && r->sender->user && !strcmp(to->local, r->sender->user))
            server_iq(r); /* to the sender's own bare JID: the server answers (§10.3.3) */
        else
            iq_to_user(r, to);
    } else {
        presence_to_user(r, to);
    }
}

static void route(route_t *r)
{
    const char *to_attr = cv_xml_attr(r->st, "to");
    cv_jid_t to = CV_JID_INIT;

    if (!to_attr) {
        /* RFC 6120 §10.3: no 'to' means the sender's own account, handled by the server. */
        if (!strcmp(r->st->name, "presence"))
            presence_broadcast(r);
        else if (!strcmp(r->st->name, "iq"))
            server_iq(r);
        else {
            /* A message to oneself: the sender's bare JID (a view, nothing to free). */
            cv_jid_t own = {r->sender->jid.local, r->sender->jid.domain, NULL, NULL};
            route_local(r, &own);
        }
        return;
    }
    if (cv_jid_parse(&to, to_attr, strlen(to_attr)) < 0) {
        bounce(r, CV_STE_JID_MALFORMED, NULL);
        return;
    }
    if (cv_config_host(r->srv->config, to.domain)) {
        route_local(r, &to);
    } else {
        /* Federation is not there yet: RFC 6120 §10.4.3. */
        bounce(r, CV_STE_REMOTE_SERVER_NOT_FOUND, NULL);
    }
    cv_jid_free(&to);
}

void cv__route_actor(cv_actor_t *a, cv_mpsc_node_t *msg, unsigned self)
{
    cv_c2s_t *s = cv__c2s_of_actor(a);
    cv_stanza_t *st = cv_stanza_of_node(msg);
    cv_xml_node_t *root = cv_stanza_root(st);
    cv_buf_t from = CV_BUF_INIT;
    route_t r = {s->srv, cv_net_worker(s->srv->net, self), s, root, NULL};

    /* RFC 6120 §8.1.2.1: the server stamps the sender's full JID, whatever it claimed. */
    if (cv_jid_format_full(&s->jid, &from) == 0 &&
        cv_stanza_set_attr(st, root, "from", from.data) == 0) {
        r.type = cv_xml_attr(root, "type");
        if (!r.type)
            r.type = "";
        route(&r);
    }
    cv_buf_free(&from);
    cv_stanza_free(st);
    cv__c2s_release(s);
}
