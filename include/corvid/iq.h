/*
 * corvid/iq.h — IQ handlers by namespace: what a server module sees of a request and how
 * it answers.
 *
 * A module (router/mod_<xep>.c) declares its handlers in the table of router/iq.c: the
 * payload element and namespace it serves, to whom (the server, the sender's own account,
 * another local account) and the disco#info feature it stands for. The same table feeds
 * service discovery, so nothing is advertised that has no handler.
 *
 * Threads: handlers run on the worker that runs the sender's actor (any worker). They may
 * read the store (LMDB reads never block) and build replies; they never touch a
 * connection: replies go to the sender through cv_iq_send and friends, which route them
 * through the sender's ring.
 */
#ifndef CORVID_IQ_H
#define CORVID_IQ_H

#include "corvid/jid.h"
#include "corvid/stanza.h"
#include "corvid/xmpp.h"

struct cv_server_s;
struct cv_worker_s;
struct cv_c2s_s;

typedef struct cv_iq_s {
    struct cv_server_s *srv;
    struct cv_worker_s *self; /* the worker running the handler */
    struct cv_c2s_s *sender;  /* opaque: the requesting session */
    const cv_jid_t *from;     /* the sender's full JID */
    const cv_jid_t *to;       /* the addressee: NULL for the sender's own account or the
                                 server itself (see to_server) */
    int to_server;            /* addressed to the server's domain */
    const char *user;         /* the sender's localpart */
    const char *host;         /* the sender's domain */
    cv_xml_node_t *iq;        /* the request: from is stamped */
    cv_xml_node_t *payload;   /* its one child element */
    int is_set;               /* type='set' (else 'get') */
} cv_iq_t;

/* Which addressees a handler serves. */
enum {
    CV_IQ_TO_SERVER = 1,  /* to='domain' */
    CV_IQ_TO_SELF = 2,    /* no 'to', or the sender's own bare JID */
    CV_IQ_TO_ACCOUNT = 4, /* another local account's bare JID (answered on its behalf) */
    /* Not an addressee: the server's disco#info lists the feature too, for a protocol a
       client uses on its own account but discovers on its server (XEP-0191 §2). */
    CV_IQ_ADVERTISED_BY_SERVER = 8,
};

typedef int (*cv_iq_handler_t)(cv_iq_t *q);

typedef struct cv_iq_module_s {
    const char *name; /* payload element; NULL matches any element of ns */
    const char *ns;
    unsigned targets; /* CV_IQ_TO_* bits */
    cv_iq_handler_t handler;
    const char *feature; /* disco#info feature var it implements, or NULL */
} cv_iq_module_t;

/* The handler table (router/iq.c) and its size. */
extern const cv_iq_module_t cv_iq_modules[];
extern const size_t cv_iq_nmodules;

/* Dispatches q to its handler; answers service-unavailable when none serves it (RFC 6120
   §8.4). Returns 0 or -CV_E*. */
int cv_iq_dispatch(cv_iq_t *q);

/* Starts the reply to q: <iq type='result'/> (or 'error') with id, from = the request's
   'to', to = the sender. The caller adds children, then cv_iq_send. */
int cv_iq_reply(cv_iq_t *q, const char *type, cv_stanza_t **out);
/* Sends a reply built with cv_iq_reply to the sender and frees it. */
int cv_iq_send(cv_iq_t *q, cv_stanza_t *reply);
/* Sends an empty result. */
int cv_iq_result(cv_iq_t *q);
/* Sends an error reply with the condition's default type (RFC 6120 §8.3). */
int cv_iq_error(cv_iq_t *q, cv_stanza_err_t cond, const char *text);
/* Sends any stanza to the sender (e.g. a roster push to this resource). */
int cv_iq_send_to_sender(cv_iq_t *q, const cv_xml_node_t *node);

#endif
