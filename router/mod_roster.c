/*
 * Rosters (RFC 6121 §2) with versioning (XEP-0237): get, set, remove, and roster pushes
 * to every resource of the account that asked for its roster.
 *
 * Items live in the store (corvid/store.h). A change of one account's roster is a
 * read-modify-write: roster sets of the account's own resources and subscription
 * handling for it by other accounts' actors can meet, so each account's roster is
 * changed under one of CV_ROSTER_STRIPES striped locks (cv__roster_lock). They guard
 * roster changes only, never a stanza's path.
 */
#include <pthread.h>
#include <string.h>

#include "corvid/iq.h"
#include "corvid/log.h"
#include "roster_int.h"

#define CV_NS_ROSTER "jabber:iq:roster"
#define CV_ROSTER_STRIPES 256

/* The locks: one module-owned table, initialized statically so no set-up order matters. */
static struct {
    pthread_mutex_t stripes[CV_ROSTER_STRIPES];
} roster_locks = {{[0 ... CV_ROSTER_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER}};

static pthread_mutex_t *stripe(const char *host, const char *user)
{
    uint64_t h = cv_hash_text(cv_hash_text(CV_HASH_SEED, user), host);
    return &roster_locks.stripes[h % CV_ROSTER_STRIPES];
}

void cv__roster_lock(const char *host, const char *user)
{
    pthread_mutex_lock(stripe(host, user));
}

void cv__roster_unlock(const char *host, const char *user)
{
    pthread_mutex_unlock(stripe(host, user));
}

static const char *sub_name(cv_store_sub_t s)
{
    static const char *const names[] = {"none", "to", "from", "both"};
    return (unsigned)s < 4 ? names[s] : "none";
}

int cv__roster_item_xml(cv_stanza_t *r, cv_xml_node_t *query, const cv_store_roster_item_t *it,
                        int removed)
{
    cv_xml_node_t *el = cv_stanza_add_child(r, query, "item", CV_NS_ROSTER);
    if (!el || cv_stanza_set_attr(r, el, "jid", it->contact) < 0)
        return CV_ENOMEM;
    if (removed)
        return cv_stanza_set_attr(r, el, "subscription", "remove");
    if (cv_stanza_set_attr(r, el, "subscription", sub_name(it->sub)) < 0 ||
        (it->name && *it->name && cv_stanza_set_attr(r, el, "name", it->name) < 0) ||
        (it->ask && cv_stanza_set_attr(r, el, "ask", "subscribe") < 0) ||
        (it->approved && cv_stanza_set_attr(r, el, "approved", "true") < 0))
        return CV_ENOMEM;
    for (size_t i = 0; i < it->ngroups; i++) {
        cv_xml_node_t *g = cv_stanza_add_child(r, el, "group", CV_NS_ROSTER);
        if (!g || cv_stanza_add_text(r, g, it->groups[i], strlen(it->groups[i])) < 0)
            return CV_ENOMEM;
    }
    return 0;
}

/* Roster pushes go to the resources that asked for the roster (RFC 6121 §2.1.6). */
static int asked_for_roster(const cv_c2s_t *s)
{
    return atomic_load_explicit(&((cv_c2s_t *)s)->roster_requested, memory_order_relaxed);
}

int cv__roster_push(cv_server_t *srv, cv_worker_t *from, const char *host, const char *user,
                    const cv_store_roster_item_t *item, int removed, uint64_t ver)
{
    cv_stanza_t *r = NULL;
    char verbuf[24];
    int rc = cv_stanza_new(&r, "iq", CV_NS_CLIENT);
    cv_xml_node_t *root = rc == 0 ? cv_stanza_root(r) : NULL;
    cv_xml_node_t *q = root ? cv_stanza_add_child(r, root, "query", CV_NS_ROSTER) : NULL;

    snprintf(verbuf, sizeof verbuf, "%llu", (unsigned long long)ver);
    if (!q || cv_stanza_set_attr(r, root, "type", "set") < 0 ||
        cv_stanza_set_attr(r, root, "id", "push") < 0 ||
        cv_stanza_set_attr(r, q, "ver", verbuf) < 0 || cv__roster_item_xml(r, q, item, removed) < 0)
        rc = CV_ENOMEM;
    else
        cv__push_to_account(srv, from, user, host, asked_for_roster, r);
    cv_stanza_free(r);
    return rc;
}

/* XEP-0237 §4: the version a roster result carries. */
static int set_ver(cv_stanza_t *r, cv_xml_node_t *q, uint64_t ver)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)ver);
    return cv_stanza_set_attr(r, q, "ver", buf);
}

typedef struct get_ctx_s {
    cv_stanza_t *r;
    cv_xml_node_t *q;
} get_ctx_t;

static int add_item(void *arg, const cv_store_roster_item_t *it)
{
    get_ctx_t *g = arg;
    /* A record kept only for an unanswered request from a stranger is not a roster
       item (RFC 6121 §3.1.3). */
    if (!it->in_roster)
        return 0;
    return cv__roster_item_xml(g->r, g->q, it, 0) < 0 ? CV_ENOMEM : 0;
}

static int roster_get(cv_iq_t *q)
{
    const char *want = cv_xml_attr(q->payload, "ver");
    cv_stanza_t *r = NULL;
    uint64_t ver = 0;
    int rc;

    atomic_store_explicit(&q->sender->roster_requested, 1, memory_order_relaxed);
    rc = cv_iq_reply(q, "result", &r);
    if (rc < 0)
        return rc;
    get_ctx_t g = {r, cv_stanza_add_child(r, cv_stanza_root(r), "query", CV_NS_ROSTER)};
    if (!g.q) {
        rc = CV_ENOMEM;
        goto out;
    }
    rc = cv_store_roster_get(q->srv->store, q->host, q->user, add_item, &g, &ver);
    if (rc < 0)
        goto out;
    if (want && strtoull(want, NULL, 10) == ver && *want) {
        /* XEP-0237 §2.4: the client's copy is current: an empty result, pushes follow. */
        cv_stanza_free(r);
        r = NULL;
        return cv_iq_result(q);
    }
    rc = set_ver(r, g.q, ver);
    if (rc == 0)
        return cv_iq_send(q, r), 0;
out:
    cv_stanza_free(r);
    return rc < 0 ? cv_iq_error(q, CV_STE_INTERNAL_SERVER_ERROR, NULL) : 0;
}

/* Checks one <item/> of a roster set (RFC 6121 §2.3.3, §2.1.2.x). Fills groups; on a
   refusal sets *err to the stanza error and *why to its text. */
static int parse_set_item(const cv_xml_node_t *el, cv_jid_t *jid, const char **groups,
                          size_t *ngroups, cv_buf_t *texts, cv_stanza_err_t *err, const char **why)
{
    const char *j = cv_xml_attr(el, "jid");
    size_t n = 0;
    *err = CV_STE_BAD_REQUEST;
    *why = "bad item";
    if (!j || cv_jid_parse(jid, j, strlen(j)) < 0 || jid->resource) {
        if (!jid->domain)
            *err = CV_STE_JID_MALFORMED;
        return CV_EINVAL;
    }
    *err = CV_STE_NOT_ACCEPTABLE; /* §2.3.3: names and groups past the limits, empty groups */
    const char *name = cv_xml_attr(el, "name");
    if (name && strlen(name) > CV_STORE_ROSTER_TEXT_MAX) {
        *why = "name too long";
        return CV_ELIMIT;
    }
    for (cv_xml_node_t *g = cv_xml_first_element(el); g; g = cv_xml_next_element(g)) {
        if (strcmp(g->name, "group") || strcmp(g->ns, CV_NS_ROSTER))
            continue;
        if (n == CV_STORE_ROSTER_GROUPS_MAX) {
            *why = "too many groups";
            return CV_ELIMIT;
        }
        cv_buf_t *t = &texts[n];
        if (cv_xml_text(g, t) < 0)
            return CV_ENOMEM;
        if (!t->data || t->len == 0) {
            *why = "empty group name"; /* §2.1.2.5 */
            return CV_EINVAL;
        }
        if (t->len > CV_STORE_ROSTER_TEXT_MAX) {
            *why = "group name too long";
            return CV_ELIMIT;
        }
        for (size_t k = 0; k < n; k++)
            if (!strcmp(groups[k], t->data)) {
                *err = CV_STE_BAD_REQUEST;
                *why = "duplicate group"; /* §2.3.3 */
                return CV_EINVAL;
            }
        groups[n++] = t->data;
    }
    *ngroups = n;
    return 0;
}

static int roster_set(cv_iq_t *q)
{
    cv_xml_node_t *el = cv_xml_first_element(q->payload);
    cv_jid_t jid = CV_JID_INIT;
    cv_buf_t texts[CV_STORE_ROSTER_GROUPS_MAX];
    const char *groups[CV_STORE_ROSTER_GROUPS_MAX];
    size_t ngroups = 0, count = 0;
    const char *why = NULL;
    cv_stanza_err_t err = CV_STE_BAD_REQUEST;
    cv_buf_t bare = CV_BUF_INIT;
    cv_store_roster_item_t *old = NULL;
    int rc, locked = 0;

    for (size_t i = 0; i < CV_STORE_ROSTER_GROUPS_MAX; i++)
        texts[i] = (cv_buf_t)CV_BUF_INIT;
    /* §2.3.3: exactly one item. */
    if (!el || strcmp(el->name, "item") || cv_xml_next_element(el)) {
        rc = cv_iq_error(q, CV_STE_BAD_REQUEST, "a roster set has exactly one item");
        goto out;
    }
    rc = parse_set_item(el, &jid, groups, &ngroups, texts, &err, &why);
    if (rc == CV_ENOMEM)
        err = CV_STE_INTERNAL_SERVER_ERROR;
    if (rc < 0) {
        rc = cv_iq_error(q, err,
                         err == CV_STE_BAD_REQUEST || err == CV_STE_NOT_ACCEPTABLE ? why : NULL);
        goto out;
    }
    rc = cv_jid_format_bare(&jid, &bare);
    if (rc < 0)
        goto out;
    const char *sub = cv_xml_attr(el, "subscription");
    cv__roster_lock(q->host, q->user);
    locked = 1;
    rc = cv_store_roster_get_item(q->srv->store, q->host, q->user, bare.data, &old);
    if (rc < 0 && rc != CV_ENOTFOUND)
        goto fail;
    if (sub && !strcmp(sub, "remove")) {
        cv__roster_unlock(q->host, q->user);
        locked = 0;
        if (!old || !old->in_roster) {
            rc = cv_iq_error(q, CV_STE_ITEM_NOT_FOUND, NULL); /* §2.5.3 */
            goto out;
        }
        rc = cv__roster_remove_contact(q->srv, q->self, q->sender, &jid, bare.data);
        rc = rc < 0 ? cv_iq_error(q, CV_STE_INTERNAL_SERVER_ERROR, NULL) : cv_iq_result(q);
        goto out;
    }
    if (!old || !old->in_roster) {
        size_t hidden = 0; /* strangers' requests do not take the user's room */
        rc = cv__roster_counts(q->srv, q->host, q->user, &count, &hidden);
        if (rc == 0 && count >= q->srv->config->max_roster_items) {
            cv__roster_unlock(q->host, q->user);
            locked = 0;
            rc = cv_iq_error(q, CV_STE_NOT_ALLOWED, "the roster is full"); /* §2.3.3 */
            goto out;
        }
    }
    /* The client sets name and groups only; subscription state stays the server's. */
    cv_store_roster_item_t it;
    memset(&it, 0, sizeof it);
    if (old)
        it = *old;
    it.contact = bare.data;
    it.name = cv_xml_attr(el, "name");
    it.groups = groups;
    it.ngroups = ngroups;
    it.in_roster = 1;
    uint64_t ver = 0;
    rc = cv_store_roster_put(q->srv->store, q->host, q->user, &it, &ver);
    cv__roster_unlock(q->host, q->user);
    locked = 0;
    if (rc < 0)
        goto fail;
    /* §2.3.2: result to the requester, then the push to every interested resource. */
    rc = cv_iq_result(q);
    (void)cv__roster_push(q->srv, q->self, q->host, q->user, &it, 0, ver);
    goto out;
fail:
    cv_warn("roster set for %s@%s: %s", q->user, q->host, cv_strerror(rc));
    rc = cv_iq_error(q, rc == CV_ELIMIT ? CV_STE_NOT_ACCEPTABLE : CV_STE_INTERNAL_SERVER_ERROR,
                     NULL);
out:
    if (locked)
        cv__roster_unlock(q->host, q->user);
    free(old);
    cv_jid_free(&jid);
    cv_buf_free(&bare);
    for (size_t i = 0; i < CV_STORE_ROSTER_GROUPS_MAX; i++)
        cv_buf_free(&texts[i]);
    return rc;
}

int cv_mod_roster(cv_iq_t *q)
{
    if (strcmp(q->payload->name, "query") != 0)
        return cv_iq_error(q, CV_STE_BAD_REQUEST, NULL);
    return q->is_set ? roster_set(q) : roster_get(q);
}
