/*
 * Software version (XEP-0092) of the server itself: name and version, never the operating
 * system. XEP-0092 §2 makes <os/> optional, and naming the kernel and distribution tells
 * an attacker which exploits to try; there is no configuration option to publish it.
 */
#include <string.h>

#include "corvid/iq.h"

#ifndef CORVID_VERSION
#error "CORVID_VERSION must be defined by the build (cmake/server.cmake)"
#endif

#define NS_VERSION "jabber:iq:version"

static int add_text_child(cv_stanza_t *r, cv_xml_node_t *parent, const char *name, const char *text)
{
    cv_xml_node_t *el = cv_stanza_add_child(r, parent, name, NULL);
    return el ? cv_stanza_add_text(r, el, text, strlen(text)) : CV_ENOMEM;
}

int cv_mod_version_iq(cv_iq_t *q)
{
    cv_stanza_t *r = NULL;
    int rc;

    /* XEP-0092 defines only get; there is nothing to set. */
    if (q->is_set)
        return cv_iq_error(q, CV_STE_BAD_REQUEST, NULL);
    rc = cv_iq_reply(q, "result", &r);
    if (rc < 0)
        return rc;
    cv_xml_node_t *query = cv_stanza_add_child(r, cv_stanza_root(r), "query", NS_VERSION);
    rc = query ? add_text_child(r, query, "name", "Corvid") : CV_ENOMEM;
    if (rc == 0)
        rc = add_text_child(r, query, "version", CORVID_VERSION);
    if (rc < 0) {
        cv_stanza_free(r);
        return rc;
    }
    return cv_iq_send(q, r);
}
