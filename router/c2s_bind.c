/*
 * Resource binding (RFC 6120 §7), and the hand-off of a bound session's stanzas to its
 * actor (route.c), which answers what is addressed to the server.
 */
#include <string.h>
#include <sys/random.h>

#include "corvid/log.h"
#include "roster_int.h"

/* A server-generated resource: "corvid-" and 16 hex digits (64 random bits). */
static int generate_resource(char *out, size_t cap)
{
    uint8_t rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return CV_EINVAL;
    int n = snprintf(out, cap, "corvid-");
    for (size_t i = 0; i < sizeof rnd && (size_t)n + 2 < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "%02x", rnd[i]);
    return 0;
}

/* Prepares s->to_attr from s->full. Returns 0 or CV_ENOMEM. */
static int make_to_attr(cv_c2s_t *s)
{
    cv_buf_t b = CV_BUF_INIT;
    int rc = cv_buf_append_str(&b, " to='");

    if (rc == 0)
        rc = cv_xml_escape_append(&b, s->full, strlen(s->full));
    if (rc == 0)
        rc = cv_buf_append_str(&b, "'");
    if (rc < 0) {
        cv_buf_free(&b);
        return rc;
    }
    s->to_attr = b.data; /* takes the buffer's memory */
    return 0;
}

int cv__c2s_bind_resource(cv_c2s_t *s, const char *resource, cv_stanza_err_t *err)
{
    char generated[32];
    int rc;

    *err = CV_STE_INTERNAL_SERVER_ERROR;
    if (!resource) {
        rc = generate_resource(generated, sizeof generated);
        if (rc < 0)
            return rc;
        resource = generated;
    }
    rc = cv_jid_from_parts(&s->jid, s->user, s->host, resource);
    if (rc == CV_EINVAL)
        *err = CV_STE_BAD_REQUEST;
    if (rc < 0)
        return rc;
    cv_buf_t full = CV_BUF_INIT;
    rc = cv_jid_format_full(&s->jid, &full);
    if (rc < 0) {
        cv_jid_free(&s->jid);
        return rc;
    }
    s->full = full.data; /* takes the buffer's memory */
    rc = make_to_attr(s);
    if (rc == 0)
        rc = cv__c2s_sessions_bind(s);
    if (rc < 0) {
        free(s->full);
        s->full = NULL;
        free(s->to_attr);
        s->to_attr = NULL;
        cv_jid_free(&s->jid);
        *err = rc == CV_EEXIST      ? CV_STE_CONFLICT
               : rc == CV_ENOTFOUND ? CV_STE_NOT_AUTHORIZED /* cancelled meanwhile */
                                    : CV_STE_RESOURCE_CONSTRAINT;
        return rc;
    }
    s->phase = CV_C2S_BOUND;
    atomic_store_explicit(&s->has_blocklist, cv__blocking_load(s->srv, s->host, s->user),
                          memory_order_relaxed);
    s->routed = 1;
    /* Negotiation is over: the deadline no longer applies. */
    cv_net_conn_set_deadline(s->conn, 0);
    return 0;
}

/* Another <resource/> of the bind namespace after el, or NULL. */
static const cv_xml_node_t *next_resource(const cv_xml_node_t *el)
{
    for (const cv_xml_node_t *n = cv_xml_next_element(el); n; n = cv_xml_next_element(n))
        if (!strcmp(n->name, "resource") && !strcmp(n->ns, CV_NS_BIND))
            return n;
    return NULL;
}

int cv__c2s_bind(cv_c2s_t *s, const cv_xml_node_t *iq, const cv_xml_node_t *bind)
{
    const char *type = cv_xml_attr(iq, "type");
    const cv_xml_node_t *res_el = cv_xml_child(bind, "resource", CV_NS_BIND);
    cv_buf_t text = CV_BUF_INIT, full = CV_BUF_INIT;
    char res[CV_JID_PART_MAX + 1];
    cv_stanza_err_t err = CV_STE_BAD_REQUEST;
    cv_stanza_t *r = NULL;
    int rc = 0;

    if (!type || strcmp(type, "set") != 0 || strcmp(bind->name, "bind") != 0)
        goto error;
    /* RFC 6120 §7 (and its schema): at most one <resource/>, holding text only. */
    if (res_el && (cv_xml_first_element(res_el) || next_resource(res_el)))
        goto error;
    if (res_el) {
        rc = cv_xml_text(res_el, &text);
        if (rc < 0)
            goto error;
    }
    /* An empty or absent resource asks the server to choose one (RFC 6120 §7.6). */
    if (text.len > 0 && cv_jid_prep_resource(text.data, res, sizeof res) < 0)
        goto error;
    rc = cv__c2s_bind_resource(s, text.len > 0 ? res : NULL, &err);
    if (rc == CV_ENOTFOUND) {
        /* The account was cancelled while this client logged in (XEP-0077 §3.2). */
        cv__c2s_stream_error(s, CV_SE_NOT_AUTHORIZED, "the account no longer exists");
        rc = -1;
        goto out;
    }
    if (rc < 0)
        goto error;
    rc = cv_jid_format_full(&s->jid, &full);
    if (rc == 0)
        rc = cv__c2s_reply_new(s, iq, "result", &r);
    if (rc == 0) {
        cv_xml_node_t *b = cv_stanza_add_child(r, cv_stanza_root(r), "bind", CV_NS_BIND);
        cv_xml_node_t *j = b ? cv_stanza_add_child(r, b, "jid", CV_NS_BIND) : NULL;
        rc = j ? cv_stanza_add_text(r, j, full.data, full.len) : CV_ENOMEM;
    }
    if (rc == 0)
        rc = cv__c2s_send_stanza(s, cv_stanza_root(r));
    if (rc == 0)
        cv_info("c2s %s: bound %s", cv_net_conn_peer(s->conn), full.data);
    goto out;
error:
    rc = cv__c2s_stanza_error(s, iq, err, NULL);
out:
    cv_stanza_free(r);
    cv_buf_free(&text);
    cv_buf_free(&full);
    return rc < 0 ? -1 : 0;
}

int cv__c2s_bound_stanza(cv_c2s_t *s, cv_stanza_t *st)
{
    cv_xml_node_t *el = cv_stanza_root(st);
    if (strcmp(el->ns, CV_NS_CLIENT) != 0 ||
        (strcmp(el->name, "iq") && strcmp(el->name, "message") && strcmp(el->name, "presence"))) {
        cv_stanza_free(st);
        cv__c2s_stream_error(s, CV_SE_UNSUPPORTED_STANZA_TYPE, NULL);
        return -1;
    }
    cv__route_enqueue(s, st);
    return 0;
}
