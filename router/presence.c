/*
 * Presence (RFC 6121 §4) and subscriptions (§3) for local accounts.
 *
 * A session's available presence is serialized once and kept (last_presence) so probes
 * and contacts coming online are answered without asking the session. Fan-out to the
 * contacts of a roster runs in the sender's actor, on whichever worker runs it; each
 * recipient's copy goes through its own ring (deliver.c). Contacts on other domains are
 * skipped until federation exists.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "corvid/clock.h"
#include "corvid/log.h"
#include "corvid/subfsm.h"
#include "roster_int.h"

#define CV_NS_ROSTER "jabber:iq:roster"

/* ---- sessions of an account ---- */

typedef struct sessions_s {
    cv_c2s_t *s[CV_MAX_RESOURCES];
    cv_payload_t *presence[CV_MAX_RESOURCES]; /* their last available presence (held), or NULL */
    size_t n;
    const cv_c2s_t *skip; /* leave this session out */
} sessions_t;

static void collect_available(cv_sess_entry_t *e, void *arg)
{
    sessions_t *a = arg;
    cv_c2s_t *s = cv__c2s_of_entry(e);
    if (a->n == CV_MAX_RESOURCES || s == a->skip || !cv__c2s_is_available(s))
        return;
    cv__c2s_hold(s);
    a->presence[a->n] = s->last_presence;
    if (s->last_presence)
        cv__payload_hold(s->last_presence);
    a->s[a->n++] = s;
}

static void sessions_release(sessions_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        cv__payload_release(a->presence[i]);
        cv__c2s_release(a->s[i]);
    }
    a->n = 0;
}

/* The available sessions of a local bare JID (given as parts). */
static void available_of(cv_server_t *srv, const char *user, const char *host, sessions_t *out,
                         const cv_c2s_t *skip)
{
    cv_jid_t bare = {(char *)user, (char *)host, NULL, NULL};
    out->n = 0;
    out->skip = skip;
    cv_sessions_visit_bare(srv->sessions, &bare, collect_available, out);
}

static int is_local(cv_server_t *srv, const cv_jid_t *j)
{
    return j->local && !j->resource && cv_config_host(srv->config, j->domain) != NULL;
}

/* ---- last_presence, under the shard lock ---- */

typedef struct swap_s {
    cv_c2s_t *s;
    cv_payload_t *put;
    cv_payload_t *old;
    int found;
} swap_t;

static void swap_visit(cv_sess_entry_t *e, void *arg)
{
    swap_t *w = arg;
    if (e != &w->s->entry)
        return;
    w->found = 1;
    w->old = w->s->last_presence;
    w->s->last_presence = w->put;
}

static void set_last_presence(cv_server_t *srv, cv_c2s_t *s, cv_payload_t *p)
{
    swap_t w = {s, p, NULL, 0};
    cv_jid_t bare = {s->jid.local, s->jid.domain, NULL, NULL};
    if (p)
        cv__payload_hold(p);
    cv_sessions_visit_bare(srv->sessions, &bare, swap_visit, &w);
    if (!w.found) {
        /* Out of the table (closing): no reader can reach the field any more. */
        w.old = s->last_presence;
        s->last_presence = p;
    }
    cv__payload_release(w.old);
}

/* ---- stanzas from the server on an account's behalf ---- */

/* A <presence/> of type (NULL: available) from `from` to `to`, sent to target. */
static void send_presence_to(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *target,
                             const char *from, const char *to, const char *type, const char *status)
{
    cv_stanza_t *st = NULL;
    if (cv_stanza_new(&st, "presence", CV_NS_CLIENT) < 0)
        return;
    cv_xml_node_t *root = cv_stanza_root(st);
    int rc = cv_stanza_set_attr(st, root, "from", from);
    if (rc == 0 && to)
        rc = cv_stanza_set_attr(st, root, "to", to);
    if (rc == 0 && type)
        rc = cv_stanza_set_attr(st, root, "type", type);
    if (rc == 0 && status && *status) {
        cv_xml_node_t *t = cv_stanza_add_child(st, root, "status", CV_NS_CLIENT);
        rc = t ? cv_stanza_add_text(st, t, status, strlen(status)) : CV_ENOMEM;
    }
    if (rc == 0)
        (void)cv__deliver(srv, self, target, root);
    cv_stanza_free(st);
}

/* Whether the account whose sessions are in a blocks who (XEP-0191): only asked of the
   store when one of them says the account has a blocklist. */
/* A <presence/> of type from `from` to `to` for each available session of user@host. */
static void to_available(cv_server_t *srv, cv_worker_t *self, const char *user, const char *host,
                         const char *from, const char *to, const char *type, const char *status)
{
    sessions_t a;
    available_of(srv, user, host, &a, NULL);
    for (size_t i = 0; i < a.n; i++)
        send_presence_to(srv, self, a.s[i], from, to, type, status);
    sessions_release(&a);
}

static int blocked_by(cv_server_t *srv, const sessions_t *a, const char *user, const char *host,
                      const cv_jid_t *who)
{
    for (size_t i = 0; i < a->n; i++)
        if (atomic_load_explicit(&a->s[i]->has_blocklist, memory_order_relaxed))
            return cv__blocking_blocks(srv, host, user, who);
    return 0;
}

/* Delivers p (presence from `from`) to every available session of user@host (but skip),
   unless that account blocks `from`. With sender (the user broadcasting, when she has a
   blocklist), also leaves out each resource whose full JID she blocks: a full-JID item
   names that resource only (XEP-0191), bare and domain items were checked for the whole
   contact before. */
static void to_account(cv_server_t *srv, cv_worker_t *self, cv_payload_t *p, const char *user,
                       const char *host, const cv_c2s_t *skip, const cv_jid_t *from,
                       const cv_c2s_t *sender)
{
    sessions_t a;
    available_of(srv, user, host, &a, skip);
    if (!from || !blocked_by(srv, &a, user, host, from))
        for (size_t i = 0; i < a.n; i++)
            if (!sender || !cv__blocking_blocks(srv, sender->host, sender->user, &a.s[i]->jid))
                (void)cv__payload_deliver(p, self, a.s[i]);
    sessions_release(&a);
}

static void refresh_successor(cv_server_t *srv, cv_c2s_t *old);

/* ---- the unavailable of directed presence ---- */

/* Whether the unavailable for directed-presence entry d reaches it anyway: d's account is
   a subscriber (the roster fan-out sent it to all its resources), or d is a full JID
   whose bare JID got directed presence too (that entry covers every resource). */
static int directed_covered(cv_server_t *srv, const cv_c2s_t *s, const cv_jid_t *d)
{
    cv_store_roster_item_t *it = NULL;
    cv_buf_t bare = CV_BUF_INIT;
    int covered = 0;

    if (cv_jid_format_bare(d, &bare) < 0)
        return 0;
    if (cv_store_roster_get_item(srv->store, s->host, s->user, bare.data, &it) == 0)
        covered = it->in_roster && (it->sub == CV_STORE_SUB_FROM || it->sub == CV_STORE_SUB_BOTH);
    for (size_t i = 0; !covered && d->resource && i < s->ndirected; i++)
        covered = !strcmp(s->directed[i], bare.data);
    free(it);
    cv_buf_free(&bare);
    return covered;
}

/* Delivers p (presence from `from`) to the directed-presence entry d: the one resource it
   names, or every available one of a bare JID, unless d's account blocks `from`. */
static void to_directed(cv_server_t *srv, cv_worker_t *self, cv_payload_t *p, const cv_jid_t *d,
                        const cv_jid_t *from)
{
    cv_c2s_t *target;
    if (!d->resource) {
        to_account(srv, self, p, d->local, d->domain, NULL, from, NULL);
        return;
    }
    target = cv__c2s_find(srv, d->local, d->domain, cv__c2s_has_resource, d->resource);
    if (!target)
        return;
    if (!atomic_load_explicit(&target->has_blocklist, memory_order_relaxed) ||
        !cv__blocking_blocks(srv, d->domain, d->local, from))
        (void)cv__payload_deliver(p, self, target);
    cv__c2s_release(target);
}

/* ---- broadcast ---- */

typedef struct fanout_s {
    cv_server_t *srv;
    cv_worker_t *self;
    cv_c2s_t *s;
    cv_payload_t *p; /* what to send to contacts with from/both (NULL: nothing) */
    int probe;       /* also send the contacts' presence (to/both) to s */
    size_t contacts; /* contacts reached, for the log */
} fanout_t;

static int fanout_item(void *arg, const cv_store_roster_item_t *it)
{
    fanout_t *f = arg;
    cv_jid_t c = CV_JID_INIT;
    if (!it->in_roster || cv_jid_parse(&c, it->contact, strlen(it->contact)) < 0)
        return 0;
    if (!is_local(f->srv, &c))
        goto out;
    /* A user subscribed to herself: her own resources get her presence anyway (RFC 6121
       §4.2.2), once. */
    if (!strcmp(c.local, f->s->user) && !strcmp(c.domain, f->s->host))
        goto out;
    /* XEP-0191 §3.3: no presence to or from a blocked contact (the contact's side is
       checked where its sessions are collected). */
    if (atomic_load(&f->s->has_blocklist) &&
        cv__blocking_blocks(f->srv, f->s->host, f->s->user, &c))
        goto out;
    if (f->p && (it->sub == CV_STORE_SUB_FROM || it->sub == CV_STORE_SUB_BOTH)) {
        to_account(f->srv, f->self, f->p, c.local, c.domain, NULL, &f->s->jid,
                   atomic_load_explicit(&f->s->has_blocklist, memory_order_relaxed) ? f->s : NULL);
        f->contacts++;
    }
    if (f->probe && (it->sub == CV_STORE_SUB_TO || it->sub == CV_STORE_SUB_BOTH)) {
        /* RFC 6121 §4.2.2 / §4.3.2: the server answers the probe for local contacts. */
        sessions_t a;
        available_of(f->srv, c.local, c.domain, &a, NULL);
        if (!blocked_by(f->srv, &a, c.local, c.domain, &f->s->jid))
            for (size_t i = 0; i < a.n; i++)
                if (a.presence[i])
                    (void)cv__payload_deliver(a.presence[i], f->self, f->s);
        sessions_release(&a);
    }
out:
    cv_jid_free(&c);
    return 0;
}

/* Pending subscription requests, delivered when the user comes online (RFC 6121 §3.1.3). */
static int pending_item(void *arg, const cv_store_roster_item_t *it)
{
    fanout_t *f = arg;
    cv_buf_t me = CV_BUF_INIT;
    if (it->pending_in && cv_jid_format_bare(&f->s->jid, &me) == 0)
        send_presence_to(f->srv, f->self, f->s, it->contact, me.data, "subscribe",
                         it->pending_status);
    cv_buf_free(&me);
    return 0;
}

static void last_saved(void *ctx, int rc, uint64_t value)
{
    CV_UNUSED(ctx);
    CV_UNUSED(value);
    if (rc < 0)
        cv_warn("last activity not recorded: %s", cv_strerror(rc));
}

void cv__presence_broadcast(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s, cv_xml_node_t *st)
{
    const char *type = cv_xml_attr(st, "type");
    int available = !type;
    cv_payload_t *p = NULL;
    int first = available && !s->initial_sent;
    uint64_t started = cv_clock_us();

    if (!available && (!type || strcmp(type, "unavailable") != 0))
        return; /* error presence without 'to': nothing to do */
    if (!available && !s->initial_sent && s->ndirected == 0)
        return; /* never available: nobody has its presence to withdraw */
    if (cv__payload_new(st, &p) < 0)
        return;
    set_last_presence(srv, s, available ? p : NULL);
    fanout_t f = {srv, self, s, p, first, 0};
    (void)cv_store_roster_get(srv->store, s->host, s->user, fanout_item, &f, NULL);
    /* RFC 6121 §4.2.2: the user's own available resources get it too (the sender
       included), and a new resource gets theirs. */
    to_account(srv, self, p, s->user, s->host, available ? NULL : s, NULL, NULL);
    if (first) {
        sessions_t a;
        available_of(srv, s->user, s->host, &a, s);
        for (size_t i = 0; i < a.n; i++)
            if (a.presence[i])
                (void)cv__payload_deliver(a.presence[i], self, s);
        sessions_release(&a);
        s->initial_sent = 1;
        (void)cv_store_roster_get(srv->store, s->host, s->user, pending_item, &f, NULL);
        /* Not for a negative-priority resource (RFC 6121 §8.5.2.1.1): it collects when it
           raises its priority (router/route.c). */
        cv__offline_deliver(srv, self, s);
    }
    if (!available) {
        /* §4.6.3: those that got directed presence learn it is gone too. */
        for (size_t i = 0; i < s->ndirected; i++) {
            cv_jid_t d = CV_JID_INIT;
            if (cv_jid_parse(&d, s->directed[i], strlen(s->directed[i])) == 0 && d.local &&
                cv_config_host(srv->config, d.domain) && !directed_covered(srv, s, &d))
                to_directed(srv, self, p, &d, &s->jid);
            cv_jid_free(&d);
        }
        for (size_t i = 0; i < s->ndirected; i++)
            free(s->directed[i]);
        s->ndirected = 0;
        /* XEP-0012: when the account was last seen, with the status it left with. Only a
           session that had been available counts, and the write does not wait. */
        if (s->initial_sent) {
            const cv_xml_node_t *stel = cv_xml_child(st, "status", CV_NS_CLIENT);
            cv_buf_t status = CV_BUF_INIT;
            if (stel)
                (void)cv_xml_text(stel, &status);
            if (cv_store_last_set_async(srv->store, s->host, s->user, (uint64_t)time(NULL),
                                        status.data ? status.data : "", last_saved, NULL) < 0)
                cv_debug("last activity of %s@%s not recorded", s->user, s->host);
            cv_buf_free(&status);
        }
        s->initial_sent = 0;
    }
    cv_debug("presence of %s@%s/%s to %zu contacts in %llu us", s->user, s->host, s->jid.resource,
             f.contacts, (unsigned long long)(cv_clock_us() - started));
    cv__payload_release(p);
    /* close_cond is written before the close is posted, which comes before this stanza
       (the ring's close, then the unavailable queued to this actor). */
    if (!available && s->close_cond == CV_SE_CONFLICT)
        refresh_successor(srv, s);
}

/* ---- directed presence ---- */

void cv__presence_directed(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s, cv_xml_node_t *st,
                           const cv_jid_t *to)
{
    const char *type = cv_xml_attr(st, "type");
    cv_buf_t bare = CV_BUF_INIT;
    CV_UNUSED(srv);
    CV_UNUSED(self);
    if (type && strcmp(type, "unavailable") != 0)
        return;
    if (cv_jid_format_full(to, &bare) < 0)
        return;
    size_t i;
    for (i = 0; i < s->ndirected; i++)
        if (!strcmp(s->directed[i], bare.data))
            break;
    if (type) {
        if (i < s->ndirected) {
            free(s->directed[i]);
            s->directed[i] = s->directed[--s->ndirected];
        }
    } else if (i == s->ndirected && s->initial_sent) {
        /* Remembered so that it gets our unavailable presence later (§4.6.3). */
        char **grown = realloc(s->directed, (s->ndirected + 1) * sizeof *grown);
        if (grown) {
            s->directed = grown;
            s->directed[s->ndirected] = strdup(bare.data);
            if (s->directed[s->ndirected])
                s->ndirected++;
        }
    }
    cv_buf_free(&bare);
}

/* ---- subscriptions ---- */

static cv_sub_state_t state_of(const cv_store_roster_item_t *it)
{
    cv_sub_state_t st = CV_SUB_STATE_ABSENT;
    if (!it)
        return st;
    st.sub = (cv_sub_t)it->sub;
    st.pending_out = it->ask;
    st.pending_in = it->pending_in;
    st.preapproved = it->approved;
    st.in_roster = it->in_roster;
    return st;
}

/* Applies a subscription transition to user@host's item for contact; stores it and
   pushes it. Returns the result; *status keeps a request's status text. */
typedef struct roster_counts_s {
    size_t visible, hidden;
} roster_counts_t;

static int count_item(void *ctx, const cv_store_roster_item_t *item)
{
    roster_counts_t *c = ctx;
    if (item->in_roster)
        c->visible++;
    else
        c->hidden++;
    return 0;
}

int cv__roster_counts(cv_server_t *srv, const char *host, const char *user, size_t *visible,
                      size_t *hidden)
{
    roster_counts_t c = {0, 0};
    int rc = cv_store_roster_get(srv->store, host, user, count_item, &c, NULL);
    *visible = c.visible;
    *hidden = c.hidden;
    return rc;
}

/* Whether the change r would add a record to user@host's roster that is over
   limits.max_roster_items (RFC 6121 §2.3.3 applies that limit to roster sets; a
   subscription must not get round it). Items the user sees and requests kept from
   strangers (not in the roster, RFC 6121 A.1) are bounded apart: strangers' requests
   cannot take the user's room. Under the roster lock. */
static int roster_full_for(cv_server_t *srv, const char *user, const char *host,
                           const cv_store_roster_item_t *old, const cv_sub_result_t *r)
{
    size_t visible = 0, hidden = 0;
    if (old || !r->changed || cv_sub_state_is_absent(r->next))
        return 0;
    if (cv__roster_counts(srv, host, user, &visible, &hidden) < 0)
        return 0;
    return (r->next.in_roster ? visible : hidden) >= srv->config->max_roster_items;
}

/* Applies a subscription stanza to user@host's record for contact (stored, pushed). When
   it would add a record to a full roster, nothing changes, the result asks for nothing
   and *full (if given) is set. */
static cv_sub_result_t apply(cv_server_t *srv, cv_worker_t *self, const char *user,
                             const char *host, const char *contact, cv_sub_type_t type, int inbound,
                             const char *status, int *full)
{
    cv_store_roster_item_t *old = NULL;
    cv_sub_result_t r;
    uint64_t ver = 0;
    int rc;

    cv__roster_lock(host, user);
    rc = cv_store_roster_get_item(srv->store, host, user, contact, &old);
    r = inbound ? cv_sub_inbound(state_of(rc == 0 ? old : NULL), type)
                : cv_sub_outbound(state_of(rc == 0 ? old : NULL), type);
    if (roster_full_for(srv, user, host, old, &r)) {
        cv__roster_unlock(host, user);
        /* Debug only: strangers can send requests to a full roster as fast as they like. */
        cv_debug("subscription %s %s for %s@%s refused: the roster is full",
                 inbound ? "from" : "to", contact, user, host);
        if (full)
            *full = 1;
        memset(&r, 0, sizeof r);
        return r;
    }
    cv_store_roster_item_t it;
    memset(&it, 0, sizeof it);
    if (old)
        it = *old;
    it.contact = contact;
    it.sub = (cv_store_sub_t)r.next.sub;
    it.ask = r.next.pending_out;
    it.pending_in = r.next.pending_in;
    it.approved = r.next.preapproved;
    it.in_roster = r.next.in_roster;
    if (r.next.pending_in && inbound && type == CV_PRES_SUBSCRIBE)
        it.pending_status = status;
    else if (!r.next.pending_in)
        it.pending_status = NULL;
    if (r.changed) {
        if (cv_sub_state_is_absent(r.next))
            rc = cv_store_roster_remove(srv->store, host, user, contact, &ver);
        else
            rc = cv_store_roster_put(srv->store, host, user, &it, &ver);
        if (rc < 0 && rc != CV_ENOTFOUND)
            cv_warn("subscription change for %s@%s: %s", user, host, cv_strerror(rc));
    }
    cv__roster_unlock(host, user);
    if (r.push && it.in_roster)
        (void)cv__roster_push(srv, self, host, user, &it, 0, ver);
    free(old);
    return r;
}

static void send_own_presence_to(cv_server_t *srv, cv_worker_t *self, const char *user,
                                 const char *host, const cv_jid_t *to, int unavailable,
                                 const char *only_resource);

/* Sends the presence of user@host's available resources (or unavailable) to to_bare. */
static void send_own_presence(cv_server_t *srv, cv_worker_t *self, const char *user,
                              const char *host, const cv_jid_t *to, int unavailable)
{
    send_own_presence_to(srv, self, user, host, to, unavailable, NULL);
}

/* The same, to the one resource of to_bare named only_resource when it is not NULL. */
static void send_own_presence_to(cv_server_t *srv, cv_worker_t *self, const char *user,
                                 const char *host, const cv_jid_t *to, int unavailable,
                                 const char *only_resource)
{
    sessions_t mine;
    sessions_t theirs;
    /* To herself: her resources have each other's presence already, and an unavailable
       would wrongly say those still online went away. */
    if (!is_local(srv, to) || (!strcmp(to->local, user) && !strcmp(to->domain, host)))
        return;
    available_of(srv, user, host, &mine, NULL);
    available_of(srv, to->local, to->domain, &theirs, NULL);
    for (size_t i = 0; i < mine.n; i++) {
        cv_buf_t from = CV_BUF_INIT;
        if (cv_jid_format_full(&mine.s[i]->jid, &from) < 0) {
            cv_buf_free(&from);
            continue;
        }
        for (size_t k = 0; k < theirs.n; k++) {
            if (only_resource && strcmp(theirs.s[k]->jid.resource, only_resource) != 0)
                continue;
            if (unavailable)
                send_presence_to(srv, self, theirs.s[k], from.data, NULL, "unavailable", NULL);
            else if (mine.presence[i])
                (void)cv__payload_deliver(mine.presence[i], self, theirs.s[k]);
        }
        cv_buf_free(&from);
    }
    sessions_release(&mine);
    sessions_release(&theirs);
}

/*
 * Both sides of a subscription between two local accounts change in one step: a
 * subscription stanza updates the sender's record, then the contact's, each under its
 * roster lock. Two such steps between the same two accounts (crossing requests from
 * both, or a roster removal beside a request) must not interleave, or the two records
 * can end disagreeing (one says 'from' while the other says 'none') in a way two servers
 * exchanging these stanzas in order never would. So each step holds the lock of the
 * pair, one of these stripes chosen by both bare JIDs whichever sends; it is taken
 * before any roster lock, and never two at once.
 */
#define CV_PAIR_STRIPES 256

static struct {
    pthread_mutex_t stripes[CV_PAIR_STRIPES];
} pair_locks = {{[0 ... CV_PAIR_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER}};

static pthread_mutex_t *pair_lock(const char *a_bare, const char *b_bare)
{
    return &pair_locks
                .stripes[(cv_hash_text(CV_HASH_SEED, a_bare) ^ cv_hash_text(CV_HASH_SEED, b_bare)) %
                         CV_PAIR_STRIPES];
}

static int subscription_locked(cv_server_t *srv, cv_worker_t *self, const char *user,
                               const char *host, const char *user_bare, const cv_jid_t *contact,
                               const char *contact_bare, cv_sub_type_t type, const char *status,
                               int depth);

/* The subscription stanza `type` from user@host (bare JID user_bare) to the local contact.
   Returns CV_ELIMIT, having done nothing, when it would add a contact to user's full
   roster; 0 otherwise. */
static int subscription(cv_server_t *srv, cv_worker_t *self, const char *user, const char *host,
                        const char *user_bare, const cv_jid_t *contact, const char *contact_bare,
                        cv_sub_type_t type, const char *status, int depth)
{
    pthread_mutex_t *lock = pair_lock(user_bare, contact_bare);
    pthread_mutex_lock(lock);
    int rc = subscription_locked(srv, self, user, host, user_bare, contact, contact_bare, type,
                                 status, depth);
    pthread_mutex_unlock(lock);
    return rc;
}

/* subscription() with the pair's lock held. */
static int subscription_locked(cv_server_t *srv, cv_worker_t *self, const char *user,
                               const char *host, const char *user_bare, const cv_jid_t *contact,
                               const char *contact_bare, cv_sub_type_t type, const char *status,
                               int depth)
{
    int full = 0;
    cv_sub_result_t out = apply(srv, self, user, host, contact_bare, type, 0, NULL, &full);
    if (full)
        return CV_ELIMIT;
    if (out.send_unavailable)
        send_own_presence(srv, self, user, host, contact, 1);
    if (!out.deliver)
        goto presence;
    if (!is_local(srv, contact))
        goto presence; /* no federation yet */
    if (cv_store_account_exists(srv->store, contact->domain, contact->local) != 0) {
        /* RFC 6121 §3.1.3: no such contact: its server refuses the request, as if the
           contact had answered "unsubscribed" (the user's pending request is cleared). */
        if (type == CV_PRES_SUBSCRIBE && depth == 0) {
            cv_sub_result_t back =
                apply(srv, self, user, host, contact_bare, CV_PRES_UNSUBSCRIBED, 1, NULL, NULL);
            if (back.deliver)
                to_available(srv, self, user, host, contact_bare, user_bare, "unsubscribed", NULL);
        }
        goto presence;
    }
    cv_sub_result_t in =
        apply(srv, self, contact->local, contact->domain, user_bare, type, 1, status, NULL);
    if (in.deliver) {
        static const char *const names[] = {"subscribe", "subscribed", "unsubscribe",
                                            "unsubscribed"};
        to_available(srv, self, contact->local, contact->domain, user_bare, contact_bare,
                     names[type], status);
    }
    if (in.send_unavailable)
        send_own_presence(srv, self, contact->local, contact->domain,
                          &(cv_jid_t){(char *)user, (char *)host, NULL, NULL}, 1);
    if (in.auto_reply_subscribed && depth == 0) {
        /* §3.1.3 / §3.4: the contact's server answers "subscribed" on its behalf. */
        cv_jid_t me = {(char *)user, (char *)host, NULL, NULL};
        cv_sub_result_t back =
            apply(srv, self, user, host, contact_bare, CV_PRES_SUBSCRIBED, 1, NULL, NULL);
        if (back.deliver)
            to_available(srv, self, user, host, contact_bare, user_bare, "subscribed", NULL);
        if (in.send_presence)
            send_own_presence(srv, self, contact->local, contact->domain, &me, 0);
    }
presence:
    if (out.send_presence)
        send_own_presence(srv, self, user, host, contact, 0);
    return 0;
}

static void answer_probe(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s, const cv_jid_t *to,
                         const char *to_bare)
{
    cv_store_roster_item_t *it = NULL;
    cv_buf_t me = CV_BUF_INIT;
    if (cv_jid_format_bare(&s->jid, &me) < 0)
        goto out;
    /* §4.3.2: only a subscriber (the contact's item for the prober has from/both). */
    if (cv_store_roster_get_item(srv->store, to->domain, to->local, me.data, &it) < 0 ||
        (it->sub != CV_STORE_SUB_FROM && it->sub != CV_STORE_SUB_BOTH))
        goto out;
    sessions_t a;
    available_of(srv, to->local, to->domain, &a, NULL);
    for (size_t i = 0; i < a.n; i++)
        if (a.presence[i])
            (void)cv__payload_deliver(a.presence[i], self, s);
    if (a.n == 0)
        send_presence_to(srv, self, s, to_bare, NULL, "unavailable", NULL);
    sessions_release(&a);
out:
    free(it);
    cv_buf_free(&me);
}

void cv__presence_server(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s, cv_xml_node_t *st,
                         const cv_jid_t *to)
{
    const char *type = cv_xml_attr(st, "type");
    cv_sub_type_t t;
    cv_buf_t user_bare = CV_BUF_INIT, contact_bare = CV_BUF_INIT, status = CV_BUF_INIT;
    cv_jid_t contact = {to->local, to->domain, NULL, NULL}; /* §3.1.1: the bare JID */

    if (!type || cv_jid_format_bare(&s->jid, &user_bare) < 0 ||
        cv_jid_format_bare(&contact, &contact_bare) < 0)
        goto out;
    if (!strcmp(type, "probe")) {
        answer_probe(srv, self, s, &contact, contact_bare.data);
        goto out;
    }
    if (cv_sub_type_parse(type, &t) < 0)
        goto out;
    const cv_xml_node_t *stel = cv_xml_child(st, "status", CV_NS_CLIENT);
    if (stel)
        (void)cv_xml_text(stel, &status);
    if (status.len > CV_STORE_ROSTER_TEXT_MAX)
        cv_buf_clear(&status);
    if (subscription(srv, self, s->user, s->host, user_bare.data, &contact, contact_bare.data, t,
                     status.len ? status.data : NULL, 0) == CV_ELIMIT)
        cv__route_bounce(srv, self, s, st, CV_STE_NOT_ALLOWED, "the roster is full");
out:
    cv_buf_free(&user_bare);
    cv_buf_free(&contact_bare);
    cv_buf_free(&status);
}

int cv__roster_remove_contact(cv_server_t *srv, cv_worker_t *from, cv_c2s_t *s,
                              const cv_jid_t *contact, const char *contact_bare)
{
    cv_store_roster_item_t *old = NULL;
    cv_buf_t me = CV_BUF_INIT;
    cv_jid_t c = {contact->local, contact->domain, NULL, NULL};
    uint64_t ver = 0;
    int rc = cv_jid_format_bare(&s->jid, &me);
    if (rc < 0)
        goto out;
    /* The read, both cancellations and the removal are one step of the pair: a request
       from the contact cannot land between them and be removed with the item. */
    pthread_mutex_t *pair = pair_lock(me.data, contact_bare);
    pthread_mutex_lock(pair);
    rc = cv_store_roster_get_item(srv->store, s->host, s->user, contact_bare, &old);
    if (rc < 0) {
        pthread_mutex_unlock(pair);
        goto out;
    }
    /* §2.5.2: cancel both directions first, so the contact's server learns it. */
    if (old->sub == CV_STORE_SUB_TO || old->sub == CV_STORE_SUB_BOTH || old->ask)
        subscription_locked(srv, from, s->user, s->host, me.data, &c, contact_bare,
                            CV_PRES_UNSUBSCRIBE, NULL, 0);
    if (old->sub == CV_STORE_SUB_FROM || old->sub == CV_STORE_SUB_BOTH || old->pending_in)
        subscription_locked(srv, from, s->user, s->host, me.data, &c, contact_bare,
                            CV_PRES_UNSUBSCRIBED, NULL, 0);
    cv__roster_lock(s->host, s->user);
    rc = cv_store_roster_remove(srv->store, s->host, s->user, contact_bare, &ver);
    cv__roster_unlock(s->host, s->user);
    pthread_mutex_unlock(pair);
    if (rc == CV_ENOTFOUND)
        rc = 0; /* the cancellations already emptied the record */
    if (rc == 0) {
        cv_store_roster_item_t gone;
        memset(&gone, 0, sizeof gone);
        gone.contact = contact_bare;
        if (ver == 0)
            (void)cv_store_roster_version(srv->store, s->host, s->user, &ver);
        (void)cv__roster_push(srv, from, s->host, s->user, &gone, 1, ver);
    }
out:
    free(old);
    cv_buf_free(&me);
    return rc;
}

/* ---- a blocklist changed ---- */

/* Copies each contact of the roster walk that may get the user's presence (from/both)
   into a cv_strlist_t. */
static int note_watcher(void *ctx, const cv_store_roster_item_t *item)
{
    if (!item->in_roster || (item->sub != CV_STORE_SUB_FROM && item->sub != CV_STORE_SUB_BOTH))
        return 0;
    return cv_strlist_add(ctx, item->contact);
}

/* Whether blocklist item (a full JID, a bare JID or a domain) covers contact; *resource is
   the one resource it names, or NULL for all. */
static int item_covers(const cv_jid_t *item, const cv_jid_t *contact, const char **resource)
{
    *resource = item->resource;
    if (strcmp(item->domain, contact->domain) != 0)
        return 0;
    return !item->local || strcmp(item->local, contact->local) == 0;
}

void cv__presence_blocklist_changed(cv_server_t *srv, cv_worker_t *self, const char *host,
                                    const char *user, const char *const *items, size_t n,
                                    int blocked)
{
    cv_strlist_t l = {NULL, 0, 0};
    if (cv_store_roster_get(srv->store, host, user, note_watcher, &l, NULL) < 0)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        cv_jid_t c = CV_JID_INIT;
        if (cv_jid_parse(&c, l.v[i], strlen(l.v[i])) < 0)
            continue;
        for (size_t k = 0; k < n; k++) {
            cv_jid_t it = CV_JID_INIT;
            const char *resource = NULL;
            int hit = cv_jid_parse(&it, items[k], strlen(items[k])) == 0 &&
                      item_covers(&it, &c, &resource);
            if (hit)
                send_own_presence_to(srv, self, user, host, &c, blocked, resource);
            cv_jid_free(&it);
            if (hit)
                break;
        }
        cv_jid_free(&c);
    }
out:
    cv_strlist_free(&l);
}

/* ---- an account cancelled ---- */

/* What a cancelled account owes one contact: the subscriptions to cancel. */
typedef struct owed_s {
    char *contact;
    uint8_t unsubscribe, unsubscribed;
} owed_t;

typedef struct owed_list_s {
    owed_t *v;
    size_t n, cap;
    int rc;
} owed_list_t;

static int note_owed(void *ctx, const cv_store_roster_item_t *item)
{
    owed_list_t *l = ctx;
    owed_t o = {NULL, item->sub == CV_STORE_SUB_TO || item->sub == CV_STORE_SUB_BOTH || item->ask,
                item->sub == CV_STORE_SUB_FROM || item->sub == CV_STORE_SUB_BOTH ||
                    item->pending_in};

    if (!o.unsubscribe && !o.unsubscribed)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        owed_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return CV_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    o.contact = strdup(item->contact);
    if (!o.contact)
        return CV_ENOMEM;
    l->v[l->n++] = o;
    return 0;
}

int cv__roster_cancel_all(cv_server_t *srv, cv_worker_t *from, cv_c2s_t *s)
{
    owed_list_t l = {NULL, 0, 0, 0};
    cv_buf_t me = CV_BUF_INIT;
    /* Copied out first: the walk holds a snapshot, and the cancellations write. */
    int rc = cv_store_roster_get(srv->store, s->host, s->user, note_owed, &l, NULL);

    if (rc == 0)
        rc = cv_jid_format_bare(&s->jid, &me);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        cv_jid_t c = CV_JID_INIT;
        if (cv_jid_parse(&c, l.v[i].contact, strlen(l.v[i].contact)) < 0)
            continue; /* stored by us, so well-formed; nothing to tell otherwise */
        if (l.v[i].unsubscribe)
            subscription(srv, from, s->user, s->host, me.data, &c, l.v[i].contact,
                         CV_PRES_UNSUBSCRIBE, NULL, 0);
        if (l.v[i].unsubscribed)
            subscription(srv, from, s->user, s->host, me.data, &c, l.v[i].contact,
                         CV_PRES_UNSUBSCRIBED, NULL, 0);
        cv_jid_free(&c);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].contact);
    free(l.v);
    cv_buf_free(&me);
    return rc;
}

/* ---- going away ---- */

/* A session bound to the same full JID as arg, other than arg itself. */
static int successor_of(const cv_c2s_t *s, const void *arg)
{
    const cv_c2s_t *old = arg;
    return s != old && s->jid.resource && old->jid.resource &&
           strcmp(s->jid.resource, old->jid.resource) == 0;
}

/* The unavailable presence of a session replaced by a new bind of its full JID
   (conflict) went out from its actor while the new session's actor may have broadcast the
   new available presence already: contacts would see the same full JID go away last and
   keep it offline. The new session sends its presence again, after this. */
static void refresh_successor(cv_server_t *srv, cv_c2s_t *old)
{
    cv_c2s_t *next = cv__c2s_find(srv, old->user, old->host, successor_of, old);
    if (next) {
        cv__route_presence_refresh(next);
        cv__c2s_release(next);
    }
}

void cv__presence_refresh(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s)
{
    /* The actor is the only writer of last_presence: read here without the shard lock. */
    cv_payload_t *p = s->last_presence;
    if (!p || !cv__c2s_is_available(s))
        return;
    cv__payload_hold(p);
    fanout_t f = {srv, self, s, p, 0, 0};
    (void)cv_store_roster_get(srv->store, s->host, s->user, fanout_item, &f, NULL);
    to_account(srv, self, p, s->user, s->host, s, NULL, NULL);
    cv__payload_release(p);
}

void cv__presence_free(cv_c2s_t *s)
{
    cv__payload_release(s->last_presence);
    s->last_presence = NULL;
    for (size_t i = 0; i < s->ndirected; i++)
        free(s->directed[i]);
    free(s->directed);
    s->directed = NULL;
    s->ndirected = 0;
}
