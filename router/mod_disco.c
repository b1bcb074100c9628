/*
 * Service discovery (XEP-0030) for the server and for accounts. The features listed are
 * exactly those of the IQ handler table (router/iq.c) for that kind of addressee, so the
 * server never advertises something it does not do.
 */
#include <string.h>

#include "corvid/iq.h"
#include "corvid/server.h"
#include "corvid/store.h"

static int add_identity(cv_stanza_t *r, cv_xml_node_t *q, const char *category, const char *type,
                        const char *name)
{
    cv_xml_node_t *id = cv_stanza_add_child(r, q, "identity", CV_NS_DISCO_INFO);
    if (!id || cv_stanza_set_attr(r, id, "category", category) < 0 ||
        cv_stanza_set_attr(r, id, "type", type) < 0 ||
        (name && cv_stanza_set_attr(r, id, "name", name) < 0))
        return CV_ENOMEM;
    return 0;
}

static int add_feature(cv_stanza_t *r, cv_xml_node_t *q, const char *var)
{
    /* One feature may be served by several handlers: list it once. */
    for (cv_xml_node_t *f = cv_xml_first_element(q); f; f = cv_xml_next_element(f)) {
        const char *v = cv_xml_attr(f, "var");
        if (!strcmp(f->name, "feature") && v && !strcmp(v, var))
            return 0;
    }
    cv_xml_node_t *f = cv_stanza_add_child(r, q, "feature", CV_NS_DISCO_INFO);
    return f ? cv_stanza_set_attr(r, f, "var", var) : CV_ENOMEM;
}

/* The account asked about (a local account other than the sender's) must exist. */
static int account_missing(cv_iq_t *q)
{
    return q->to && cv_store_account_exists(q->srv->store, q->to->domain, q->to->local) != 0;
}

int cv_mod_disco_info(cv_iq_t *q)
{
    cv_stanza_t *r = NULL;
    unsigned want = q->to_server ? CV_IQ_TO_SERVER | CV_IQ_ADVERTISED_BY_SERVER
                    : q->to      ? CV_IQ_TO_ACCOUNT
                                 : CV_IQ_TO_SELF;
    int rc;

    if (q->is_set)
        return cv_iq_error(q, CV_STE_BAD_REQUEST, NULL);
    if (cv_xml_attr(q->payload, "node"))
        return cv_iq_error(q, CV_STE_ITEM_NOT_FOUND, NULL); /* no nodes are published */
    if (account_missing(q))
        return cv_iq_error(q, CV_STE_SERVICE_UNAVAILABLE, NULL);
    rc = cv_iq_reply(q, "result", &r);
    if (rc < 0)
        return rc;
    cv_xml_node_t *info = cv_stanza_add_child(r, cv_stanza_root(r), "query", CV_NS_DISCO_INFO);
    rc = info ? 0 : CV_ENOMEM;
    if (rc == 0)
        rc = q->to_server ? add_identity(r, info, "server", "im", "Corvid")
                          : add_identity(r, info, "account", "registered", NULL);
    for (size_t i = 0; rc == 0 && i < cv_iq_nmodules; i++) {
        const cv_iq_module_t *m = &cv_iq_modules[i];
        if (m->feature && (m->targets & want))
            rc = add_feature(r, info, m->feature);
    }
    if (rc < 0) {
        cv_stanza_free(r);
        return rc;
    }
    return cv_iq_send(q, r);
}

int cv_mod_disco_items(cv_iq_t *q)
{
    cv_stanza_t *r = NULL;
    int rc;
    if (q->is_set)
        return cv_iq_error(q, CV_STE_BAD_REQUEST, NULL);
    if (cv_xml_attr(q->payload, "node"))
        return cv_iq_error(q, CV_STE_ITEM_NOT_FOUND, NULL);
    if (account_missing(q))
        return cv_iq_error(q, CV_STE_SERVICE_UNAVAILABLE, NULL);
    /* No components or published nodes yet: an empty list is the true answer. */
    rc = cv_iq_reply(q, "result", &r);
    if (rc < 0)
        return rc;
    if (!cv_stanza_add_child(r, cv_stanza_root(r), "query", CV_NS_DISCO_ITEMS)) {
        cv_stanza_free(r);
        return CV_ENOMEM;
    }
    return cv_iq_send(q, r);
}
