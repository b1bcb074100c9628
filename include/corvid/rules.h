/*
 * corvid/rules.h — the delivery rules of RFC 6121 §8.5 and RFC 6120 §10 as one pure
 * decision: given what kind of stanza goes where, and what the server knows about the
 * recipient, what to do with it. No sockets, no tables, no state: the router gathers the
 * facts, asks, and carries the answer out, so the rules are tested on their own
 * (tests/unit/test_rules.c).
 *
 * Owns nothing; any thread may call.
 */
#ifndef CORVID_RULES_H
#define CORVID_RULES_H

#include "corvid/xmpp.h"

typedef enum cv_kind_e { CV_KIND_MESSAGE, CV_KIND_PRESENCE, CV_KIND_IQ } cv_kind_t;

/* The stanza's 'type', reduced to what the rules distinguish. */
typedef enum cv_rtype_e {
    CV_RT_NONE = 0, /* absent: "normal" for messages, available for presence */
    CV_RT_NORMAL,
    CV_RT_CHAT,
    CV_RT_GROUPCHAT,
    CV_RT_HEADLINE,
    CV_RT_ERROR,
    CV_RT_GET,
    CV_RT_SET,
    CV_RT_RESULT,
    CV_RT_UNAVAILABLE,
    CV_RT_SUBSCRIPTION, /* subscribe, subscribed, unsubscribe, unsubscribed */
    CV_RT_PROBE,
    CV_RT_OTHER, /* anything else: invalid for the kind */
} cv_rtype_t;

cv_rtype_t cv_rules_type(cv_kind_t kind, const char *type);

/* Where the stanza is addressed, and what the router found there. */
typedef struct cv_rules_in_s {
    cv_kind_t kind;
    cv_rtype_t type;
    unsigned to_absent : 1;      /* no 'to' */
    unsigned to_remote : 1;      /* a domain this server does not serve */
    unsigned to_server : 1;      /* a served domain itself (no localpart) */
    unsigned to_own_bare : 1;    /* the sender's own bare JID */
    unsigned to_full : 1;        /* the 'to' has a resource */
    unsigned account_exists : 1; /* the localpart is an account here */
    unsigned resource_bound : 1; /* to_full: that resource has a session */
    unsigned available : 1;      /* some resource of the account is available */
    unsigned nonnegative : 1;    /* some available resource has priority >= 0 */
} cv_rules_in_t;

typedef enum cv_rule_action_e {
    CV_RULE_DROP = 0,       /* silently ignore */
    CV_RULE_BOUNCE,         /* error back to the sender with `error` */
    CV_RULE_SERVER,         /* the server handles it (itself, or for the account) */
    CV_RULE_BROADCAST,      /* the sender's own presence: track it (and fan it out) */
    CV_RULE_TO_RESOURCE,    /* deliver to the one bound resource named by 'to' */
    CV_RULE_TO_HIGHEST,     /* deliver to the available resources of highest priority >= 0 */
    CV_RULE_TO_NONNEGATIVE, /* deliver to every available resource with priority >= 0 */
    CV_RULE_TO_AVAILABLE,   /* deliver to every available resource */
    CV_RULE_OFFLINE,        /* store for later delivery (XEP-0160) */
    CV_RULE_REMOTE,         /* another domain: the route table (federation) */
} cv_rule_action_t;

typedef struct cv_rule_s {
    cv_rule_action_t action;
    cv_stanza_err_t error; /* for CV_RULE_BOUNCE */
} cv_rule_t;

/* The decision. offline_enabled: whether offline storage may be chosen (otherwise such
   messages bounce with service-unavailable rather than vanish). */
cv_rule_t cv_rules_decide(const cv_rules_in_t *in, int offline_enabled);

const char *cv_rules_action_name(cv_rule_action_t a);

#endif
