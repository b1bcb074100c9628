/*
 * Blocking command (XEP-0191): the blocklist IQs, the pushes to the account's resources,
 * and the checks the router makes so that blocked entities neither reach the user nor get
 * reached by the user.
 *
 * Every session keeps has_blocklist, so a stanza between accounts without blocklists (the
 * common case) costs no store lookup; the flag is set for all of an account's sessions
 * whenever the blocklist changes, and read at bind.
 */
#include <string.h>

#include "corvid/iq.h"
#include "corvid/log.h"
#include "reply.h"
#include "roster_int.h"

#define CV_NS_BLOCKING "urn:xmpp:blocking"
#define CV_NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define CV_BLOCKLIST_MAX 1000

static int any_item(void *ctx, const char *jid)
{
    CV_UNUSED(ctx);
    CV_UNUSED(jid);
    return 1; /* stop at the first */
}

int cv__blocking_load(cv_server_t *srv, const char *host, const char *user)
{
    return cv_store_block_list(srv->store, host, user, any_item, NULL) == 1;
}

typedef struct flag_s {
    int value;
} flag_t;

static void set_flag(cv_sess_entry_t *e, void *arg)
{
    flag_t *f = arg;
    atomic_store_explicit(&cv__c2s_of_entry(e)->has_blocklist, f->value, memory_order_relaxed);
}

static void refresh_flags(cv_iq_t *q)
{
    cv_jid_t bare = {(char *)q->user, (char *)q->host, NULL, NULL};
    flag_t f = {cv__blocking_load(q->srv, q->host, q->user)};
    cv_sessions_visit_bare(q->srv->sessions, &bare, set_flag, &f);
}

/* XEP-0191 §3.4 (matching as in XEP-0016 §2.1): full JID, bare JID, or domain. Never the
   user's own account: "an implementation MUST NOT block communications from one of a
   user's resources to another" (XEP-0191 §5). */
int cv__blocking_blocks(cv_server_t *srv, const char *host, const char *user, const cv_jid_t *who)
{
    cv_buf_t b = CV_BUF_INIT;
    int hit = 0;
    if (who->local && !strcmp(who->local, user) && !strcmp(who->domain, host))
        return 0;
    if (who->resource && cv_jid_format_full(who, &b) == 0)
        hit = cv_store_block_contains(srv->store, host, user, b.data) == 0;
    cv_buf_clear(&b);
    if (!hit && who->local && cv_jid_format_bare(who, &b) == 0)
        hit = cv_store_block_contains(srv->store, host, user, b.data) == 0;
    if (!hit)
        hit = cv_store_block_contains(srv->store, host, user, who->domain) == 0;
    cv_buf_free(&b);
    return hit;
}

void cv__blocking_refuse(cv_server_t *srv, cv_worker_t *from, cv_c2s_t *sender,
                         const cv_xml_node_t *st)
{
    /* XEP-0191 §3.5: the user tried to reach someone it blocks: not-acceptable, with the
       application-specific <blocked/> so the client can tell why. */
    cv_stanza_t *e = NULL;
    const char *type = cv_xml_attr(st, "type");
    if (type && !strcmp(type, "error"))
        return;
    if (cv__reply_error(st, CV_STE_NOT_ACCEPTABLE, NULL, "blocked", CV_NS_BLOCKING_ERRORS, &e) == 0)
        (void)cv__deliver(srv, from, sender, cv_stanza_root(e));
    cv_stanza_free(e);
}

typedef struct list_ctx_s {
    cv_stanza_t *r;
    cv_xml_node_t *parent;
} list_ctx_t;

static int list_item(void *ctx, const char *jid)
{
    list_ctx_t *l = ctx;
    cv_xml_node_t *it = cv_stanza_add_child(l->r, l->parent, "item", CV_NS_BLOCKING);
    return it && cv_stanza_set_attr(l->r, it, "jid", jid) == 0 ? 0 : CV_ENOMEM;
}

static int blocklist_get(cv_iq_t *q)
{
    cv_stanza_t *r = NULL;
    int rc = cv_iq_reply(q, "result", &r);
    if (rc < 0)
        return rc;
    atomic_store_explicit(&q->sender->blocklist_requested, 1, memory_order_relaxed);
    list_ctx_t l = {r, cv_stanza_add_child(r, cv_stanza_root(r), "blocklist", CV_NS_BLOCKING)};
    rc = l.parent ? cv_store_block_list(q->srv->store, q->host, q->user, list_item, &l) : CV_ENOMEM;
    if (rc < 0) {
        cv_stanza_free(r);
        return cv_iq_error(q, CV_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    return cv_iq_send(q, r);
}

/* Pushes <block/> or <unblock/> with the request's items to the resources that asked
   for the blocklist (XEP-0191 §3.3, §3.4). */
static int asked_for_blocklist(const cv_c2s_t *s)
{
    return atomic_load_explicit(&((cv_c2s_t *)s)->blocklist_requested, memory_order_relaxed);
}

/* The push carries the items as stored (normalized JIDs), not as the request spelled
   them; an unblock-all carries none. */
static void push(cv_iq_t *q, const char *verb, char *const *items, size_t n_items)
{
    cv_stanza_t *st = NULL;
    if (cv_stanza_new(&st, "iq", CV_NS_CLIENT) < 0)
        return;
    cv_xml_node_t *root = cv_stanza_root(st);
    cv_xml_node_t *dst = cv_stanza_add_child(st, root, verb, CV_NS_BLOCKING);
    int rc = dst && cv_stanza_set_attr(st, root, "type", "set") == 0 &&
                     cv_stanza_set_attr(st, root, "id", "block-push") == 0
                 ? 0
                 : CV_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n_items; i++) {
        cv_xml_node_t *n = cv_stanza_add_child(st, dst, "item", CV_NS_BLOCKING);
        if (!n || cv_stanza_set_attr(st, n, "jid", items[i]) < 0)
            rc = CV_ENOMEM;
    }
    if (rc == 0)
        cv__push_to_account(q->srv, q->self, q->user, q->host, asked_for_blocklist, st);
    cv_stanza_free(st);
}

/* Collects the normalized JIDs of the request's items. Returns 0 or -CV_E* with *err the
   stanza error. */
static int parse_items(const cv_xml_node_t *payload, cv_strlist_t *out, cv_stanza_err_t *err)
{
    for (cv_xml_node_t *it = cv_xml_first_element(payload); it; it = cv_xml_next_element(it)) {
        const char *jid = cv_xml_attr(it, "jid");
        cv_jid_t j = CV_JID_INIT;
        cv_buf_t b = CV_BUF_INIT;
        int rc;
        if (strcmp(it->name, "item") != 0)
            continue;
        *err = CV_STE_JID_MALFORMED;
        rc = jid ? cv_jid_parse(&j, jid, strlen(jid)) : CV_EINVAL;
        if (rc == 0)
            rc = cv_jid_format_full(&j, &b);
        if (rc == 0) {
            rc = cv_strlist_add(out, b.data);
            if (rc < 0)
                *err = CV_STE_INTERNAL_SERVER_ERROR;
        }
        cv_jid_free(&j);
        cv_buf_free(&b);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Copies each item of the blocklist walk into a cv_strlist_t. */
static int collect_item(void *ctx, const char *jid)
{
    return cv_strlist_add(ctx, jid);
}

static int blocklist_set(cv_iq_t *q)
{
    cv_strlist_t items = {NULL, 0, 0}, all = {NULL, 0, 0};
    int block = !strcmp(q->payload->name, "block");
    size_t changed = 0;
    cv_stanza_err_t err = CV_STE_BAD_REQUEST;
    int rc;

    if (!block && strcmp(q->payload->name, "unblock") != 0)
        return cv_iq_error(q, CV_STE_BAD_REQUEST, NULL);
    rc = parse_items(q->payload, &items, &err);
    if (rc < 0)
        goto error;
    if (block && items.n == 0) {
        err = CV_STE_BAD_REQUEST; /* XEP-0191 §3.3: a block needs at least one item */
        rc = CV_EINVAL;
        goto error;
    }
    if (!block && items.n == 0) {
        /* Unblock all: what was blocked is needed for the presence it lets through. */
        rc = cv_store_block_list(q->srv->store, q->host, q->user, collect_item, &all);
        if (rc < 0) {
            err = CV_STE_INTERNAL_SERVER_ERROR;
            goto error;
        }
    }
    if (block)
        rc = cv_store_block_add(q->srv->store, q->host, q->user, (const char *const *)items.v,
                                items.n, CV_BLOCKLIST_MAX, &changed);
    else if (items.n > 0)
        rc = cv_store_block_remove(q->srv->store, q->host, q->user, (const char *const *)items.v,
                                   items.n, &changed);
    else
        rc = cv_store_block_clear(q->srv->store, q->host, q->user, &changed); /* §3.4: all */
    if (rc < 0) {
        err = rc == CV_ELIMIT ? CV_STE_RESOURCE_CONSTRAINT : CV_STE_INTERNAL_SERVER_ERROR;
        goto error;
    }
    refresh_flags(q);
    rc = cv_iq_result(q);
    push(q, block ? "block" : "unblock", items.v, items.n);
    /* §3.3 / §3.4: presence withdrawn from the blocked, given back to the unblocked (all of
       them for an unblock-all). */
    const cv_strlist_t *covered = items.n > 0 ? &items : &all;
    if (covered->n > 0)
        cv__presence_blocklist_changed(q->srv, q->self, q->host, q->user,
                                       (const char *const *)covered->v, covered->n, block);
    cv_strlist_free(&items);
    cv_strlist_free(&all);
    return rc;
error:
    cv_strlist_free(&items);
    cv_strlist_free(&all);
    return cv_iq_error(q, err, NULL);
}

int cv_mod_blocking(cv_iq_t *q)
{
    if (!q->is_set)
        return strcmp(q->payload->name, "blocklist") ? cv_iq_error(q, CV_STE_BAD_REQUEST, NULL)
                                                     : blocklist_get(q);
    return blocklist_set(q);
}
