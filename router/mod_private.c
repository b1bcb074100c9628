/*
 * Private XML storage (XEP-0049): an account keeps elements of its own namespaces on the
 * server, one stored element per (name, namespace). Only the account itself reaches its
 * data: requests to other addressees are not served here (service-unavailable, which
 * XEP-0049 §2.3 allows).
 *
 * Also here: cv__mod_reply_xml, which sends a result around XML text the server
 * serialized earlier (stored private elements and vCards), shared with mod_vcard.c.
 */
#include <string.h>

#include "corvid/iq.h"
#include "corvid/log.h"
#include "corvid/server.h"
#include "corvid/store.h"
#include "corvid/xml_stream.h"

#define NS_PRIVATE "jabber:iq:private"

/* Serialized bytes one stored element may take. Bookmarks (XEP-0048) of a few hundred
   rooms fit; the store's own bound (CV_STORE_BLOB_MAX) is far larger. */
#define PRIVATE_ELEMENT_MAX (64u * 1024u)
/* Elements one get or set may name: each costs a store transaction. */
#define PRIVATE_ELEMENTS_MAX 16u

int cv__mod_reply_xml(cv_iq_t *q, const char *wrap, const char *wrap_ns, const char *xml,
                      size_t len, const char *expect_name, const char *expect_ns);

typedef struct reparse_s {
    cv_stanza_t *st;
} reparse_t;

static int reparse_stanza(void *ctx, cv_stanza_t *st)
{
    reparse_t *p = ctx;
    p->st = st;
    return 1; /* pause: exactly one stanza is expected */
}

/* Opens <iq ...> with the attributes of the reply r. */
static int open_iq_text(cv_stanza_t *r, cv_buf_t *out)
{
    const cv_xml_node_t *root = cv_stanza_root(r);
    int rc = cv_buf_append_str(out, "<iq");
    for (uint32_t i = 0; rc == 0 && i < root->nattrs; i++) {
        const cv_xml_attr_t *a = &root->attrs[i];
        rc = cv_buf_printf(out, " %s='", a->name);
        if (rc == 0)
            rc = cv_xml_escape_append(out, a->value, strlen(a->value));
        if (rc == 0)
            rc = cv_buf_append_str(out, "'");
    }
    return rc == 0 ? cv_buf_append_str(out, ">") : rc;
}

/*
 * The stanza builders copy names, attributes and text but cannot graft a foreign tree
 * (prefixed attributes of other namespaces have no builder), so the reply is written as
 * text around the stored bytes and parsed once with the stream parser, under the
 * configured depth limit. Stored bytes are Corvid's own serialization, yet a damaged
 * database must not produce a malformed reply either: anything other than exactly one
 * well-formed <iq/> whose payload is the expected element is refused.
 */
int cv__mod_reply_xml(cv_iq_t *q, const char *wrap, const char *wrap_ns, const char *xml,
                      size_t len, const char *expect_name, const char *expect_ns)
{
    static const char header[] =
        "<stream:stream xmlns='" CV_NS_CLIENT "' xmlns:stream='" CV_NS_STREAM "'>";
    const cv_config_t *cfg = q->srv->config;
    cv_buf_t text = CV_BUF_INIT;
    cv_stanza_t *r = NULL;
    cv_xml_stream_t *s = NULL;
    reparse_t p = {NULL};
    size_t used = 0;
    int bad = 0;
    int rc = cv_iq_reply(q, "result", &r);
    if (rc < 0)
        goto out;
    rc = cv_buf_append(&text, header, sizeof header - 1);
    if (rc == 0)
        rc = open_iq_text(r, &text);
    if (rc == 0 && wrap)
        rc = cv_buf_printf(&text, "<%s xmlns='%s'>", wrap, wrap_ns);
    if (rc == 0)
        rc = cv_buf_append(&text, xml, len);
    if (rc == 0 && wrap)
        rc = cv_buf_printf(&text, "</%s>", wrap);
    if (rc == 0)
        rc = cv_buf_append_str(&text, "</iq>");
    if (rc < 0)
        goto out;

    /* The serializer declares a prefix on every element that uses it, so an element may
       carry up to twice the attributes (plus one xmlns) it arrived with. */
    cv_xml_limits_t lim = {text.len + 1, cfg->max_depth, 2 * cfg->max_attributes + 1};
    cv_xml_stream_cb_t cb = {.ctx = &p, .on_stanza = reparse_stanza};
    rc = cv_xml_stream_create(&s, &lim, &cb);
    if (rc < 0)
        goto out;
    rc = cv_xml_stream_feed(s, text.data, text.len, &used);
    if (rc == CV_ENOMEM)
        goto out;
    if (rc < 0 || !p.st || used != text.len) {
        bad = 1;
        goto out;
    }
    const cv_xml_node_t *body = cv_xml_first_element(cv_stanza_root(p.st));
    if (body && wrap)
        body = cv_xml_first_element(body);
    if (expect_name &&
        (!body || strcmp(body->name, expect_name) != 0 || strcmp(body->ns, expect_ns) != 0)) {
        bad = 1;
        goto out;
    }
    rc = cv_iq_send(q, p.st);
    p.st = NULL;
out:
    if (bad) {
        cv_warn("stored XML in a reply to %s@%s does not parse back; answering with an error",
                q->user, q->host);
        rc = cv_iq_error(q, CV_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    cv_stanza_free(p.st);
    cv_xml_stream_destroy(s);
    cv_stanza_free(r);
    cv_buf_free(&text);
    return rc;
}

/* XEP-0049 §2.3 reserves the namespaces starting with "jabber:" or "http://jabber.org/",
   and vcard-temp; the XMPP core namespaces are refused as well, since no client keeps
   private data in them. An element must also have a namespace of its own (one without
   xmlns inherits jabber:iq:private). */
static int reserved_ns(const char *ns)
{
    static const char *const prefixes[] = {"jabber:", "http://jabber.org/",
                                           "urn:ietf:params:xml:ns:xmpp-", CV_NS_STREAM};
    if (!*ns || !strcmp(ns, "vcard-temp"))
        return 1;
    for (size_t i = 0; i < CV_ARRAY_LEN(prefixes); i++)
        if (!strncmp(ns, prefixes[i], strlen(prefixes[i])))
            return 1;
    return 0;
}

/* Checks the elements of the query; returns their number, or 0 after answering with an
   error. */
static size_t check_elements(cv_iq_t *q, int *rc)
{
    size_t n = 0;
    *rc = 0;
    for (cv_xml_node_t *e = cv_xml_first_element(q->payload); e; e = cv_xml_next_element(e)) {
        const char *why = NULL;
        if (reserved_ns(e->ns))
            why = "reserved namespace";
        else if (strlen(q->host) + strlen(q->user) + strlen(e->name) + strlen(e->ns) + 2 >
                 CV_STORE_LMDB_KEY_MAX)
            why = "namespace too long";
        else if (++n > PRIVATE_ELEMENTS_MAX)
            why = "too many elements";
        if (why) {
            *rc = cv_iq_error(q, CV_STE_NOT_ACCEPTABLE, why);
            return 0;
        }
    }
    /* §2.4: a query without a child element is not acceptable. */
    if (n == 0)
        *rc = cv_iq_error(q, CV_STE_NOT_ACCEPTABLE, "no element to store or retrieve");
    return n;
}

/* The answer to a store failure: busy or full is a resource constraint, the rest is ours. */
static int store_failed(cv_iq_t *q, int rc)
{
    if (rc == CV_AGAIN || rc == CV_ELIMIT || rc == CV_ENOMEM)
        return cv_iq_error(q, CV_STE_RESOURCE_CONSTRAINT, NULL);
    cv_warn("private XML of %s@%s: %s", q->user, q->host, cv_strerror(rc));
    return cv_iq_error(q, CV_STE_INTERNAL_SERVER_ERROR, NULL);
}

static int private_get(cv_iq_t *q)
{
    cv_buf_t out = CV_BUF_INIT;
    int rc = 0;
    if (check_elements(q, &rc) == 0)
        goto out;
    for (cv_xml_node_t *e = cv_xml_first_element(q->payload); e; e = cv_xml_next_element(e)) {
        rc = cv_store_private_get(q->srv->store, q->host, q->user, e->name, e->ns, &out);
        /* Nothing stored: the request's element comes back as it was (§2.3 example). */
        if (rc == CV_ENOTFOUND)
            rc = cv_xml_serialize(e, NULL, &out);
        if (rc < 0) {
            rc = store_failed(q, rc);
            goto out;
        }
    }
    rc = cv__mod_reply_xml(q, "query", NS_PRIVATE, out.data, out.len, NULL, NULL);
out:
    cv_buf_free(&out);
    return rc;
}

static int private_set(cv_iq_t *q)
{
    cv_buf_t out = CV_BUF_INIT;
    size_t end[PRIVATE_ELEMENTS_MAX];
    size_t n = 0;
    int rc = 0;
    if (check_elements(q, &rc) == 0)
        goto out;
    /* Everything is serialized and checked before the first write, so a refusal leaves
       the stored data as it was. */
    for (cv_xml_node_t *e = cv_xml_first_element(q->payload); e; e = cv_xml_next_element(e)) {
        size_t start = out.len;
        rc = cv_xml_serialize(e, NULL, &out);
        if (rc < 0)
            goto out;
        if (out.len - start > PRIVATE_ELEMENT_MAX) {
            rc = cv_iq_error(q, CV_STE_NOT_ACCEPTABLE, "element too large");
            goto out;
        }
        end[n++] = out.len;
    }
    /* One transaction per element: the store has no multi-element write. Elements of one
       set are independent data of the client, so a failure midway loses nothing stored
       before. */
    n = 0;
    size_t start = 0;
    for (cv_xml_node_t *e = cv_xml_first_element(q->payload); e; e = cv_xml_next_element(e)) {
        rc = cv_store_private_set(q->srv->store, q->host, q->user, e->name, e->ns, out.data + start,
                                  end[n] - start);
        if (rc < 0) {
            rc = store_failed(q, rc);
            goto out;
        }
        start = end[n++];
    }
    rc = cv_iq_result(q);
out:
    cv_buf_free(&out);
    return rc;
}

int cv_mod_private_iq(cv_iq_t *q)
{
    return q->is_set ? private_set(q) : private_get(q);
}
