/*
 * Delivery: a stanza is serialized once into a payload (one allocation: header and bytes
 * together), and a small task per recipient carries it to the recipient's ring, where it
 * is appended to the connection's output queue and leaves with that loop turn's send.
 * The first recipient's task is embedded in the payload, so a stanza with one recipient
 * (the common case) costs one allocation from parse to send besides its own tree.
 *
 * Everything goes through the recipient ring's inbox, even from that ring itself: the
 * inbox is FIFO, so stanzas to one session are written in the order they were routed
 * (RFC 6120 §10.1), whichever worker routed them.
 */
#include <stddef.h>
#include <string.h>

#include "roster_int.h"

typedef struct delivery_s {
    cv_net_task_t task;
    cv_payload_t *payload;
    cv_c2s_t *target;
    int embedded; /* the payload's own first task, freed with the payload */
} delivery_t;

struct cv_payload_s {
    /* One per delivery in flight plus one for the creator until cv__payload_release. */
    atomic_uint refs;
    /* The embedded delivery was taken. Several actors may deliver one payload at once (a
       session's last presence answers many probes): the exchange lets exactly one take
       it; relaxed is enough because the taker's writes reach the ring through
       cv_net_post's release. */
    atomic_int first_used;
    /* What happens when no recipient could take it because they went away on the way
       (each checked only when one did): a chat/normal message is stored for the account
       (RFC 6121 §8.5.3.2.1); an iq get/set is answered service-unavailable; a message
       collected from offline storage goes back there, under its old number. */
    uint8_t offline_ok;
    uint8_t answer_if_gone;
    uint8_t restore;
    uint64_t stored_seq, stored_stamp; /* where a collected message goes back (restore) */
    cv_offline_flight_t *flight;       /* a collected message's hold on its batch, or NULL */
    /* Some recipient queued the bytes. Written by recipient rings, read by the last
       release, which the acq_rel on refs orders after every delivery. */
    atomic_int delivered;
    /* One recipient that was gone (held), for the last release to act for: NULL if none.
       All recipients of a payload with a fallback are sessions of one account. */
    _Atomic(cv_c2s_t *) gone;
    delivery_t first;
    /* The stanza has no 'to': each recipient's full JID goes in at data[to_at] (right
       after the element name; RFC 6120 §8.1.1.1 wants a stanza with one recipient to
       name it). 0: it has one, the bytes go out as they are. */
    size_t to_at;
    size_t len;
    char data[];
};

/* Where an attribute can go in data, the serialized element `name`: right after "<name".
   0 if the bytes do not start that way (then nothing is inserted). */
static size_t to_offset(const char *data, size_t len, const char *name)
{
    size_t n = strlen(name);

    if (len < n + 2 || data[0] != '<' || memcmp(data + 1, name, n) != 0)
        return 0;
    return strchr(" />", data[n + 1]) && data[n + 1] ? n + 1 : 0;
}

int cv__payload_new(const cv_xml_node_t *node, cv_payload_t **out)
{
    cv_buf_t b = CV_BUF_INIT;
    size_t hdr = offsetof(cv_payload_t, data);
    /* Serialize behind room for the header, then take the buffer as the payload. */
    int rc = cv_buf_reserve(&b, hdr + 512); /* most stanzas fit: one allocation */
    if (rc == 0) {
        b.len = hdr;
        rc = cv_xml_serialize(node, CV_NS_CLIENT, &b);
    }
    if (rc < 0) {
        cv_buf_free(&b);
        return rc;
    }
    cv_payload_t *p = (cv_payload_t *)b.data;
    atomic_init(&p->refs, 1);
    atomic_init(&p->first_used, 0);
    atomic_init(&p->delivered, 0);
    atomic_init(&p->gone, NULL);
    p->offline_ok = 0;
    p->answer_if_gone = 0;
    p->restore = 0;
    p->flight = NULL;
    p->len = b.len - hdr;
    p->to_at = cv_xml_attr(node, "to") ? 0 : to_offset(p->data, p->len, node->name);
    *out = p;
    return 0;
}

int cv__payload_from_bytes(const void *data, size_t len, cv_payload_t **out)
{
    cv_payload_t *p = malloc(offsetof(cv_payload_t, data) + len + 1);
    if (!p)
        return CV_ENOMEM;
    atomic_init(&p->refs, 1);
    atomic_init(&p->first_used, 0);
    atomic_init(&p->delivered, 0);
    atomic_init(&p->gone, NULL);
    p->offline_ok = 0;
    p->answer_if_gone = 0;
    p->restore = 0;
    p->flight = NULL;
    p->to_at = 0;
    memcpy(p->data, data, len);
    p->data[len] = '\0';
    p->len = len;
    *out = p;
    return 0;
}

void cv__payload_hold(cv_payload_t *p)
{
    /* relaxed: the caller already holds a reference. */
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

static void undeliverable(cv_payload_t *p, cv_c2s_t *gone);

void cv__payload_release(cv_payload_t *p)
{
    /* acq_rel: the last holder frees memory the others may have just read, and sees what
       every delivery recorded. */
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    cv_c2s_t *gone = atomic_load_explicit(&p->gone, memory_order_relaxed);
    if (gone) {
        if (!atomic_load_explicit(&p->delivered, memory_order_relaxed))
            undeliverable(p, gone); /* a restore takes over p->flight */
        cv__c2s_release(gone);
    }
    if (p->flight)
        cv__offline_flight_settle(p->flight, 0);
    free(p);
}

/* Appends p to target's output, naming target in a stanza that had no 'to'. */
static int write_payload(cv_c2s_t *target, const cv_payload_t *p)
{
    if (!p->to_at || !target->to_attr)
        return cv__c2s_write(target, p->data, p->len);
    cv_net_piece_t pieces[3] = {{p->data, p->to_at},
                                {target->to_attr, strlen(target->to_attr)},
                                {p->data + p->to_at, p->len - p->to_at}};
    return cv__c2s_write_pieces(target, pieces, 3);
}

/* ---- stanzas whose recipient went away on the way ---- */

typedef struct one_stanza_s {
    cv_stanza_t *st;
} one_stanza_t;

static int take_stanza(void *ctx, cv_stanza_t *st)
{
    one_stanza_t *one = ctx;
    if (one->st) {
        cv_stanza_free(st);
        return -1;
    }
    one->st = st;
    return 0;
}

/* Parses bytes our own serializer wrote (one stanza, jabber:client as the default
   namespace) back into a tree. They passed the configured limits once; the serializer may
   have repeated a prefix declaration on each element, hence the room. */
static int stanza_from_bytes(const cv_config_t *cfg, const char *data, size_t len,
                             cv_stanza_t **out)
{
    static const char header[] =
        "<stream:stream xmlns='" CV_NS_CLIENT "' xmlns:stream='" CV_NS_STREAM "'>";
    one_stanza_t one = {NULL};
    cv_xml_stream_cb_t cb = {.ctx = &one, .on_stanza = take_stanza};
    cv_xml_limits_t lim = {.max_stanza_bytes = len + 1,
                           .max_depth = cfg->max_depth + 1,
                           .max_attrs = 2 * cfg->max_attributes + 8};
    cv_xml_stream_t *xs = NULL;
    int rc = cv_xml_stream_create(&xs, &lim, &cb);
    if (rc == 0)
        rc = cv_xml_stream_feed(xs, header, sizeof header - 1, NULL);
    if (rc == 0)
        rc = cv_xml_stream_feed(xs, data, len, NULL);
    cv_xml_stream_destroy(xs);
    if (rc == 0 && !one.st)
        rc = CV_EPROTO;
    if (rc < 0) {
        cv_stanza_free(one.st);
        return rc;
    }
    *out = one.st;
    return 0;
}

int cv__bounce_bytes(cv_server_t *srv, const char *data, size_t len, cv_stanza_err_t cond)
{
    cv_stanza_t *st = NULL;
    cv_jid_t from = CV_JID_INIT;
    cv_c2s_t *sender = NULL;
    int rc = stanza_from_bytes(srv->config, data, len, &st);
    if (rc < 0)
        goto out;
    const char *from_attr = cv_xml_attr(cv_stanza_root(st), "from");
    rc = from_attr ? cv_jid_parse(&from, from_attr, strlen(from_attr)) : CV_EINVAL;
    if (rc < 0 || !from.local || !from.resource) {
        rc = rc < 0 ? rc : CV_EINVAL;
        goto out;
    }
    sender = cv__c2s_find(srv, from.local, from.domain, cv__c2s_has_resource, from.resource);
    if (!sender) {
        rc = CV_ENOTFOUND; /* the sender is gone too: nobody to tell */
        goto out;
    }
    cv__route_bounce(srv, NULL, sender, cv_stanza_root(st), cond, NULL);
    cv_debug("%s: its recipient went away on the way; answered %s", from_attr,
             cv_stanza_err_name(cond));
    cv__c2s_release(sender);
out:
    cv_jid_free(&from);
    cv_stanza_free(st);
    return rc;
}

/* Every recipient was gone by the time its ring ran the delivery (the last release found
   nothing delivered). Thread: any. */
static void undeliverable(cv_payload_t *p, cv_c2s_t *gone)
{
    if (p->restore) {
        cv__offline_restore(gone->srv, gone->host, gone->user, p->stored_seq, p->stored_stamp,
                            p->data, p->len, p->flight);
        p->flight = NULL;
    } else if (p->offline_ok)
        cv__offline_store_bytes(gone->srv, gone->host, gone->user, p->data, p->len);
    else if (p->answer_if_gone)
        (void)cv__bounce_bytes(gone->srv, p->data, p->len, CV_STE_SERVICE_UNAVAILABLE);
}

/* Runs on the target's ring. */
static void delivery_run(cv_net_task_t *t, cv_worker_t *w)
{
    delivery_t *d = (delivery_t *)((char *)t - offsetof(delivery_t, task));
    cv_c2s_t *target = d->target;
    cv_payload_t *p = d->payload;
    CV_UNUSED(w);
    /* A session that closed after the router chose it (or whose output queue overflowed
       just now) is treated as gone (RFC 6121 §8.5.3.2). When no recipient took the stanza,
       the payload's last release stores it offline or answers it (undeliverable). */
    if (target->conn && target->phase == CV_C2S_BOUND && write_payload(target, p) == 0) {
        atomic_store_explicit(&p->delivered, 1, memory_order_relaxed);
    } else if ((p->offline_ok || p->answer_if_gone || p->restore) && target->routed) {
        cv_c2s_t *none = NULL;
        cv__c2s_hold(target);
        if (!atomic_compare_exchange_strong(&p->gone, &none, target))
            cv__c2s_release(target); /* another gone recipient of the account speaks for it */
    }
    cv__c2s_release(target);
    if (!d->embedded)
        free(d);
    cv__payload_release(p);
}

void cv__payload_set_offline_ok(cv_payload_t *p)
{
    p->offline_ok = 1;
}

void cv__payload_set_answer_if_gone(cv_payload_t *p)
{
    p->answer_if_gone = 1;
}

void cv__payload_set_restore(cv_payload_t *p, uint64_t seq, uint64_t stamp,
                             cv_offline_flight_t *flight)
{
    p->restore = 1;
    p->flight = flight;
    p->stored_seq = seq;
    p->stored_stamp = stamp;
}

int cv__payload_deliver(cv_payload_t *p, cv_worker_t *from, cv_c2s_t *target)
{
    delivery_t *d;
    if (atomic_exchange_explicit(&p->first_used, 1, memory_order_relaxed) == 0) {
        d = &p->first;
        d->embedded = 1;
    } else {
        d = malloc(sizeof *d);
        if (!d)
            return CV_ENOMEM;
        d->embedded = 0;
    }
    d->payload = p;
    d->target = target;
    d->task.run = delivery_run;
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    cv__c2s_hold(target);
    cv_net_post(from, target->worker, &d->task);
    return 0;
}

int cv__deliver(cv_server_t *srv, cv_worker_t *from, cv_c2s_t *target, const cv_xml_node_t *node)
{
    cv_payload_t *p = NULL;
    CV_UNUSED(srv);
    int rc = cv__payload_new(node, &p);
    if (rc < 0)
        return rc;
    rc = cv__payload_deliver(p, from, target);
    cv__payload_release(p);
    return rc;
}

typedef struct wanted_s {
    int (*want)(const cv_c2s_t *s);
    cv_c2s_t *found[CV_MAX_RESOURCES];
    size_t n;
} wanted_t;

static void collect_wanted(cv_sess_entry_t *e, void *arg)
{
    wanted_t *w = arg;
    cv_c2s_t *s = cv__c2s_of_entry(e);
    if (w->n < CV_MAX_RESOURCES && w->want(s)) {
        cv__c2s_hold(s);
        w->found[w->n++] = s;
    }
}

void cv__push_to_account(cv_server_t *srv, cv_worker_t *from, const char *user, const char *host,
                         int (*want)(const cv_c2s_t *s), cv_stanza_t *st)
{
    cv_jid_t bare = {(char *)user, (char *)host, NULL, NULL};
    wanted_t w = {want, {NULL}, 0};
    cv_xml_node_t *root = cv_stanza_root(st);
    cv_sessions_visit_bare(srv->sessions, &bare, collect_wanted, &w);
    for (size_t i = 0; i < w.n; i++) {
        /* A push names its resource in 'to', so the stanza is serialized per target. */
        if (cv_stanza_set_attr(st, root, "to", w.found[i]->full) == 0)
            (void)cv__deliver(srv, from, w.found[i], root);
        cv__c2s_release(w.found[i]);
    }
}
