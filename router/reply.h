/*
 * router/reply.h — building answers to stanzas: the reply skeleton (RFC 6120 §8.2.3) and
 * error replies (§8.3), shared by the stream layer, the router and every module.
 * Pure builders: any thread may call them on trees it owns.
 */
#ifndef CORVID_REPLY_H
#define CORVID_REPLY_H

#include "corvid/stanza.h"
#include "corvid/xmpp.h"

/* A reply to req: same element name and id, the given type, 'from' = req's 'to' and
   'to' = req's 'from' (each only when present). *out is the caller's. */
int cv__reply_new(const cv_xml_node_t *req, const char *type, cv_stanza_t **out);
/* A copy of what a reply to the request req needs (its name, id, type, 'from' and 'to';
   no children), to answer after the parser's tree is gone. *out is the caller's. */
int cv__reply_request_copy(const cv_xml_node_t *req, cv_stanza_t **out);
/* An error reply to req with cond (and its default type), an optional <text/>, and an
   optional application-specific condition element app_name in app_ns. */
int cv__reply_error(const cv_xml_node_t *req, cv_stanza_err_t cond, const char *text,
                    const char *app_name, const char *app_ns, cv_stanza_t **out);
/* Appends the text of the first child name/ns of n to out ("" when the child is empty).
   Returns 0, CV_ENOTFOUND (no such child) or CV_ENOMEM. */
int cv__child_text(const cv_xml_node_t *n, const char *name, const char *ns, cv_buf_t *out);

#endif
