/*
 * IQ dispatch by payload namespace, the table of server modules, and the reply helpers
 * modules use. Modules live one per XEP family in router/mod_*.c.
 */
#include <string.h>

#include "corvid/iq.h"
#include "c2s_int.h"
#include "reply.h"

static int h_ping(cv_iq_t *q)
{
    /* XEP-0199 §4.2: a ping is a get; answer with an empty result. */
    return q->is_set ? cv_iq_error(q, CV_STE_BAD_REQUEST, NULL) : cv_iq_result(q);
}

static int h_session(cv_iq_t *q)
{
    /* RFC 3921 §3 session establishment, kept as a no-op for old clients. */
    return q->is_set ? cv_iq_result(q) : cv_iq_error(q, CV_STE_BAD_REQUEST, NULL);
}

static int h_bind(cv_iq_t *q)
{
    return cv_iq_error(q, CV_STE_NOT_ALLOWED, "already bound");
}

static int h_register(cv_iq_t *q)
{
    return cv__c2s_register(q->sender, q->iq, q->payload);
}

#define SERVER_OR_SELF (CV_IQ_TO_SERVER | CV_IQ_TO_SELF)

/* Handlers other modules define. */
int cv_mod_disco_info(cv_iq_t *q);
int cv_mod_disco_items(cv_iq_t *q);
int cv_mod_version_iq(cv_iq_t *q);
int cv_mod_time_iq(cv_iq_t *q);
int cv_mod_last_iq(cv_iq_t *q);
int cv_mod_vcard_iq(cv_iq_t *q);
int cv_mod_private_iq(cv_iq_t *q);
int cv_mod_roster(cv_iq_t *q);
int cv_mod_blocking(cv_iq_t *q);

const cv_iq_module_t cv_iq_modules[] = {
    {"ping", CV_NS_PING, SERVER_OR_SELF, h_ping, CV_NS_PING},
    {"session", CV_NS_SESSION, SERVER_OR_SELF, h_session, NULL},
    {"bind", CV_NS_BIND, SERVER_OR_SELF, h_bind, NULL},
    {"query", CV_NS_REGISTER, SERVER_OR_SELF, h_register, CV_NS_REGISTER},
    {"query", "jabber:iq:roster", CV_IQ_TO_SELF, cv_mod_roster, "jabber:iq:roster"},
    {NULL, "urn:xmpp:blocking", CV_IQ_TO_SELF | CV_IQ_ADVERTISED_BY_SERVER, cv_mod_blocking,
     "urn:xmpp:blocking"},
    {"query", CV_NS_DISCO_INFO, SERVER_OR_SELF | CV_IQ_TO_ACCOUNT, cv_mod_disco_info,
     CV_NS_DISCO_INFO},
    {"query", CV_NS_DISCO_ITEMS, SERVER_OR_SELF | CV_IQ_TO_ACCOUNT, cv_mod_disco_items,
     CV_NS_DISCO_ITEMS},
    {"query", "jabber:iq:version", CV_IQ_TO_SERVER, cv_mod_version_iq, "jabber:iq:version"},
    {"time", "urn:xmpp:time", CV_IQ_TO_SERVER, cv_mod_time_iq, "urn:xmpp:time"},
    {"query", "jabber:iq:last", SERVER_OR_SELF | CV_IQ_TO_ACCOUNT, cv_mod_last_iq,
     "jabber:iq:last"},
    {"vCard", "vcard-temp", SERVER_OR_SELF | CV_IQ_TO_ACCOUNT, cv_mod_vcard_iq, "vcard-temp"},
    {"query", "jabber:iq:private", CV_IQ_TO_SELF, cv_mod_private_iq, "jabber:iq:private"},
};
const size_t cv_iq_nmodules = sizeof cv_iq_modules / sizeof cv_iq_modules[0];

static unsigned target_of(const cv_iq_t *q)
{
    if (q->to_server)
        return CV_IQ_TO_SERVER;
    return q->to ? CV_IQ_TO_ACCOUNT : CV_IQ_TO_SELF;
}

int cv_iq_dispatch(cv_iq_t *q)
{
    unsigned target = target_of(q);
    for (size_t i = 0; i < cv_iq_nmodules; i++) {
        const cv_iq_module_t *m = &cv_iq_modules[i];
        if (strcmp(m->ns, q->payload->ns) != 0)
            continue;
        if (m->name && strcmp(m->name, q->payload->name) != 0)
            continue;
        if (!(m->targets & target))
            break;
        return m->handler(q);
    }
    /* RFC 6120 §8.4: nobody here serves that namespace for that addressee. */
    return cv_iq_error(q, CV_STE_SERVICE_UNAVAILABLE, NULL);
}

int cv_iq_reply(cv_iq_t *q, const char *type, cv_stanza_t **out)
{
    return cv__reply_new(q->iq, type, out);
}

int cv_iq_send_to_sender(cv_iq_t *q, const cv_xml_node_t *node)
{
    return cv__deliver(q->srv, q->self, q->sender, node);
}

int cv_iq_send(cv_iq_t *q, cv_stanza_t *reply)
{
    int rc = cv_iq_send_to_sender(q, cv_stanza_root(reply));
    cv_stanza_free(reply);
    return rc;
}

int cv_iq_result(cv_iq_t *q)
{
    cv_stanza_t *r = NULL;
    int rc = cv_iq_reply(q, "result", &r);
    return rc < 0 ? rc : cv_iq_send(q, r);
}

int cv_iq_error(cv_iq_t *q, cv_stanza_err_t cond, const char *text)
{
    cv_stanza_t *r = NULL;
    int rc = cv__reply_error(q->iq, cond, text, NULL, NULL, &r);
    return rc < 0 ? rc : cv_iq_send(q, r);
}
