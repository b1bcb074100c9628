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

#include "c2s_int.h"

typedef struct delivery_s {
    cv_net_task_t task;
    cv_payload_t *payload;
    cv_c2s_t *target;
    int embedded; /* the payload's own first task, freed with the payload */
} delivery_t;

struct cv_payload_s {
    /* One per delivery in flight plus one for the creator until cv__payload_release. */
    atomic_uint refs;
    atomic_int first_used; /* the embedded delivery was taken */
    delivery_t first;
    size_t len;
    char data[];
};

int cv__payload_new(const cv_xml_node_t *node, cv_payload_t **out)
{
    cv_buf_t b = CV_BUF_INIT;
    size_t hdr = offsetof(cv_payload_t, data);
    /* Serialize behind room for the header, then take the buffer as the payload. */
    int rc = cv_buf_reserve(&b, hdr + 256);
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
    p->len = b.len - hdr;
    *out = p;
    return 0;
}

void cv__payload_release(cv_payload_t *p)
{
    /* acq_rel: the last holder frees memory the others may have just read. */
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

/* Runs on the target's ring. */
static void delivery_run(cv_net_task_t *t, cv_worker_t *w)
{
    delivery_t *d = (delivery_t *)((char *)t - offsetof(delivery_t, task));
    cv_c2s_t *target = d->target;
    cv_payload_t *p = d->payload;
    CV_UNUSED(w);
    /* A session that closed meanwhile is treated as gone: the stanza is dropped here
       (the router already decided; RFC 6121 §8.5.3.2 for a vanished resource). */
    if (target->conn && target->phase == CV_C2S_BOUND)
        (void)cv__c2s_write(target, p->data, p->len);
    cv__c2s_release(target);
    if (!d->embedded)
        free(d);
    cv__payload_release(p);
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
