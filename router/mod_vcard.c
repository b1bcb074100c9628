/*
 * vcard-temp (XEP-0054): an account publishes its own vCard and anybody may read it. The
 * vCard is kept as the serialized <vCard/> element and sent back as it was stored.
 *
 * Answers: a get of one's own vCard that was never published is an empty <vCard/>
 * (§3.1); a get of another account's vCard that does not exist is service-unavailable,
 * the answer a missing account gets too, so nobody can harvest account names (§3.3). The
 * server has no vCard of its own and answers an empty one, which lets it advertise the
 * feature where clients look for it (§4). A set is only for one's own vCard (§3.2:
 * forbidden otherwise); publishing an empty vCard removes the stored one.
 */
#include <string.h>

#include "corvid/iq.h"
#include "corvid/log.h"
#include "corvid/server.h"
#include "corvid/store.h"

#define NS_VCARD "vcard-temp"

/* Serialized bytes of one vCard. A vCard with an embedded photo (XEP-0153) of a few tens
   of kilobytes fits; anything larger belongs in PEP avatars (XEP-0084). */
#define VCARD_MAX (64u * 1024u)

/* Defined in mod_private.c: sends a result around previously serialized XML. */
int cv__mod_reply_xml(cv_iq_t *q, const char *wrap, const char *wrap_ns, const char *xml,
                      size_t len, const char *expect_name, const char *expect_ns);

static int empty_vcard(cv_iq_t *q)
{
    cv_stanza_t *r = NULL;
    int rc = cv_iq_reply(q, "result", &r);
    if (rc < 0)
        return rc;
    if (!cv_stanza_add_child(r, cv_stanza_root(r), "vCard", NS_VCARD)) {
        cv_stanza_free(r);
        return CV_ENOMEM;
    }
    return cv_iq_send(q, r);
}

static int store_failed(cv_iq_t *q, const char *user, const char *host, int rc)
{
    if (rc == CV_AGAIN || rc == CV_ELIMIT || rc == CV_ENOMEM)
        return cv_iq_error(q, CV_STE_RESOURCE_CONSTRAINT, NULL);
    cv_warn("vCard of %s@%s: %s", user, host, cv_strerror(rc));
    return cv_iq_error(q, CV_STE_INTERNAL_SERVER_ERROR, NULL);
}

static int vcard_get(cv_iq_t *q)
{
    cv_buf_t blob = CV_BUF_INIT;
    const char *user = q->to ? q->to->local : q->user;
    const char *host = q->to ? q->to->domain : q->host;
    int rc;
    if (q->to_server)
        return empty_vcard(q);
    rc = cv_store_vcard_get(q->srv->store, host, user, &blob);
    if (rc == CV_ENOTFOUND)
        rc = q->to ? cv_iq_error(q, CV_STE_SERVICE_UNAVAILABLE, NULL) : empty_vcard(q);
    else if (rc < 0)
        rc = store_failed(q, user, host, rc);
    else
        rc = cv__mod_reply_xml(q, NULL, NULL, blob.data, blob.len, "vCard", NS_VCARD);
    cv_buf_free(&blob);
    return rc;
}

/* Whether v has no content at all: no element and no text other than whitespace. */
static int vcard_empty(const cv_xml_node_t *v)
{
    for (const cv_xml_node_t *c = v->children; c; c = c->next) {
        if (c->name)
            return 0;
        if (strspn(c->text, " \t\r\n") != c->text_len)
            return 0;
    }
    return 1;
}

static int vcard_set(cv_iq_t *q)
{
    cv_buf_t blob = CV_BUF_INIT;
    int rc;
    if (q->to_server || q->to)
        return cv_iq_error(q, CV_STE_FORBIDDEN, "only your own vCard can be changed");
    if (!vcard_empty(q->payload)) {
        rc = cv_xml_serialize(q->payload, NULL, &blob);
        if (rc < 0)
            goto out;
        if (blob.len > VCARD_MAX) {
            rc = cv_iq_error(q, CV_STE_NOT_ACCEPTABLE, "vCard too large");
            goto out;
        }
    }
    rc = cv_store_vcard_set(q->srv->store, q->host, q->user, blob.data, blob.len);
    rc = rc < 0 ? store_failed(q, q->user, q->host, rc) : cv_iq_result(q);
out:
    cv_buf_free(&blob);
    return rc;
}

int cv_mod_vcard_iq(cv_iq_t *q)
{
    return q->is_set ? vcard_set(q) : vcard_get(q);
}
