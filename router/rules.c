/*
 * RFC 6121 §8.5 (local domain) and RFC 6120 §10.4–§10.5, section by section. Each branch
 * names the section it implements.
 */
#include <string.h>

#include "corvid/rules.h"

cv_rtype_t cv_rules_type(cv_kind_t kind, const char *type)
{
    static const struct {
        cv_kind_t kind;
        const char *name;
        cv_rtype_t t;
    } names[] = {
        {CV_KIND_MESSAGE, "normal", CV_RT_NORMAL},
        {CV_KIND_MESSAGE, "chat", CV_RT_CHAT},
        {CV_KIND_MESSAGE, "groupchat", CV_RT_GROUPCHAT},
        {CV_KIND_MESSAGE, "headline", CV_RT_HEADLINE},
        {CV_KIND_MESSAGE, "error", CV_RT_ERROR},
        {CV_KIND_IQ, "get", CV_RT_GET},
        {CV_KIND_IQ, "set", CV_RT_SET},
        {CV_KIND_IQ, "result", CV_RT_RESULT},
        {CV_KIND_IQ, "error", CV_RT_ERROR},
        {CV_KIND_PRESENCE, "unavailable", CV_RT_UNAVAILABLE},
        {CV_KIND_PRESENCE, "subscribe", CV_RT_SUBSCRIPTION},
        {CV_KIND_PRESENCE, "subscribed", CV_RT_SUBSCRIPTION},
        {CV_KIND_PRESENCE, "unsubscribe", CV_RT_SUBSCRIPTION},
        {CV_KIND_PRESENCE, "unsubscribed", CV_RT_SUBSCRIPTION},
        {CV_KIND_PRESENCE, "probe", CV_RT_PROBE},
        {CV_KIND_PRESENCE, "error", CV_RT_ERROR},
    };
    if (!type || !*type)
        return CV_RT_NONE;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].kind == kind && strcmp(names[i].name, type) == 0)
            return names[i].t;
    return CV_RT_OTHER;
}

static cv_rule_t rule(cv_rule_action_t a)
{
    cv_rule_t r = {a, CV_STE_UNDEFINED_CONDITION};
    return r;
}

static cv_rule_t bounce(cv_stanza_err_t e)
{
    cv_rule_t r = {CV_RULE_BOUNCE, e};
    return r;
}

/* Errors and IQ results nobody asked for are never answered (RFC 6120 §8.3.1). */
static int is_answer(cv_rtype_t t)
{
    return t == CV_RT_ERROR || t == CV_RT_RESULT;
}

/* §8.5.2: a message to the bare JID of an existing account. */
static cv_rule_t message_bare(const cv_rules_in_t *in, int offline_enabled)
{
    switch (in->type) {
    case CV_RT_NONE:
    case CV_RT_NORMAL:
    case CV_RT_CHAT:
        if (in->nonnegative)
            return rule(CV_RULE_TO_HIGHEST);           /* §8.5.2.1.1 */
        return offline_enabled ? rule(CV_RULE_OFFLINE) /* §8.5.2.2.1 */
                               : bounce(CV_STE_SERVICE_UNAVAILABLE);
    case CV_RT_HEADLINE: return rule(in->nonnegative ? CV_RULE_TO_NONNEGATIVE : CV_RULE_DROP);
    case CV_RT_GROUPCHAT: return bounce(CV_STE_SERVICE_UNAVAILABLE); /* §8.5.2.1.1, §8.5.2.2.1 */
    case CV_RT_ERROR: return rule(CV_RULE_DROP);
    default: return bounce(CV_STE_BAD_REQUEST);
    }
}

/* §8.5.2.1.2, §8.5.2.2.2, §4.6: presence to the bare JID of an existing account. */
static cv_rule_t presence_bare(const cv_rules_in_t *in)
{
    switch (in->type) {
    case CV_RT_SUBSCRIPTION:
    case CV_RT_PROBE: return rule(CV_RULE_SERVER); /* RFC 6121 §3 and §4.3: the server acts */
    case CV_RT_NONE:
    case CV_RT_UNAVAILABLE: return rule(in->available ? CV_RULE_TO_AVAILABLE : CV_RULE_DROP);
    default: return rule(CV_RULE_DROP);
    }
}

static cv_rule_t local_account(const cv_rules_in_t *in, int offline_enabled)
{
    if (!in->account_exists) {
        /* §8.5.1: no such user. A subscription stanza is still the sender's server's to
           act on (§3.1.2: the user's roster records the request; §3.1.3: the missing
           contact's side answers "unsubscribed"). */
        if (in->kind == CV_KIND_PRESENCE && in->type == CV_RT_SUBSCRIPTION)
            return rule(CV_RULE_SERVER);
        if (in->kind == CV_KIND_PRESENCE || is_answer(in->type) || in->type == CV_RT_HEADLINE)
            return rule(CV_RULE_DROP);
        return bounce(CV_STE_SERVICE_UNAVAILABLE);
    }
    if (in->to_full && in->resource_bound) {
        /* §8.5.3.1: the resource is there. Subscription presence goes to the bare JID
           (§3.1.3: the server handles it for the account). */
        if (in->kind == CV_KIND_PRESENCE &&
            (in->type == CV_RT_SUBSCRIPTION || in->type == CV_RT_PROBE))
            return rule(CV_RULE_SERVER);
        return rule(CV_RULE_TO_RESOURCE);
    }
    if (in->to_full) {
        /* §8.5.3.2: no such resource. */
        switch (in->kind) {
        case CV_KIND_MESSAGE:
            if (in->type == CV_RT_GROUPCHAT)
                return bounce(CV_STE_SERVICE_UNAVAILABLE);
            if (in->type == CV_RT_HEADLINE || in->type == CV_RT_ERROR)
                return rule(CV_RULE_DROP);
            return message_bare(in, offline_enabled); /* §8.5.3.2.1: as if to the bare JID */
        case CV_KIND_PRESENCE:
            if (in->type == CV_RT_SUBSCRIPTION || in->type == CV_RT_PROBE)
                return rule(CV_RULE_SERVER);
            return rule(CV_RULE_DROP);
        case CV_KIND_IQ:
            return is_answer(in->type) ? rule(CV_RULE_DROP) : bounce(CV_STE_SERVICE_UNAVAILABLE);
        }
    }
    switch (in->kind) {
    case CV_KIND_MESSAGE: return message_bare(in, offline_enabled);
    case CV_KIND_PRESENCE: return presence_bare(in);
    case CV_KIND_IQ:
        /* §8.5.2.1.3: the server answers an IQ to a bare JID for the account. */
        return is_answer(in->type) ? rule(CV_RULE_DROP) : rule(CV_RULE_SERVER);
    }
    return rule(CV_RULE_DROP);
}

cv_rule_t cv_rules_decide(const cv_rules_in_t *in, int offline_enabled)
{
    if (in->type == CV_RT_OTHER)
        return in->kind == CV_KIND_PRESENCE ? rule(CV_RULE_DROP) : bounce(CV_STE_BAD_REQUEST);
    if (in->kind == CV_KIND_IQ && in->type == CV_RT_NONE)
        return bounce(CV_STE_BAD_REQUEST); /* RFC 6120 §8.2.3: type is required */
    if (in->to_absent) {
        /* RFC 6120 §10.3: handled for the sender's own account. */
        if (in->kind == CV_KIND_PRESENCE)
            return in->type == CV_RT_NONE || in->type == CV_RT_UNAVAILABLE
                       ? rule(CV_RULE_BROADCAST)
                       : rule(in->type == CV_RT_ERROR ? CV_RULE_DROP : CV_RULE_SERVER);
        if (in->kind == CV_KIND_IQ)
            return is_answer(in->type) ? rule(CV_RULE_DROP) : rule(CV_RULE_SERVER);
        return message_bare(in, offline_enabled); /* a message to oneself */
    }
    if (in->to_remote)
        return rule(CV_RULE_REMOTE); /* RFC 6120 §10.4 */
    if (in->to_server) {
        /* RFC 6120 §10.5.1: addressed to the server itself. */
        if (in->kind == CV_KIND_IQ)
            return is_answer(in->type) ? rule(CV_RULE_DROP) : rule(CV_RULE_SERVER);
        if (in->kind == CV_KIND_MESSAGE && in->type != CV_RT_ERROR && in->type != CV_RT_HEADLINE)
            return bounce(CV_STE_SERVICE_UNAVAILABLE);
        return rule(CV_RULE_DROP);
    }
    if (in->to_own_bare && in->kind == CV_KIND_IQ)
        return is_answer(in->type) ? rule(CV_RULE_DROP) : rule(CV_RULE_SERVER);
    return local_account(in, offline_enabled);
}

const char *cv_rules_action_name(cv_rule_action_t a)
{
    static const char *const names[] = {
        [CV_RULE_DROP] = "drop",
        [CV_RULE_BOUNCE] = "bounce",
        [CV_RULE_SERVER] = "server",
        [CV_RULE_BROADCAST] = "broadcast",
        [CV_RULE_TO_RESOURCE] = "to-resource",
        [CV_RULE_TO_HIGHEST] = "to-highest",
        [CV_RULE_TO_NONNEGATIVE] = "to-nonnegative",
        [CV_RULE_TO_AVAILABLE] = "to-available",
        [CV_RULE_OFFLINE] = "offline",
        [CV_RULE_REMOTE] = "remote",
    };
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "?";
}
