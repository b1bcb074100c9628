/* The delivery rules against RFC 6121 §8.5 and RFC 6120 §10, one row per case. */
#include <stdio.h>
#include <string.h>

#include "corvid/rules.h"

typedef struct row_s {
    const char *what;
    cv_kind_t kind;
    const char *type;
    const char *facts; /* letters: a=to absent, r=remote, s=server, o=own bare, f=full,
                          e=account exists, b=resource bound, v=available, n=nonnegative */
    int offline;
    cv_rule_action_t action;
    cv_stanza_err_t error; /* checked for bounces */
} row_t;

#define M CV_KIND_MESSAGE
#define P CV_KIND_PRESENCE
#define Q CV_KIND_IQ
#define SU CV_STE_SERVICE_UNAVAILABLE

static const row_t rows[] = {
    /* §8.5.1 no such user */
    {"chat to unknown user", M, "chat", "", 0, CV_RULE_BOUNCE, SU},
    {"normal to unknown user", M, NULL, "", 0, CV_RULE_BOUNCE, SU},
    {"groupchat to unknown user", M, "groupchat", "", 0, CV_RULE_BOUNCE, SU},
    {"headline to unknown user", M, "headline", "", 0, CV_RULE_DROP, 0},
    {"error to unknown user", M, "error", "", 0, CV_RULE_DROP, 0},
    {"presence to unknown user", P, NULL, "", 0, CV_RULE_DROP, 0},
    {"subscribe to unknown user", P, "subscribe", "", 0, CV_RULE_SERVER, 0},
    {"probe to unknown user", P, "probe", "", 0, CV_RULE_DROP, 0},
    {"iq get to unknown user", Q, "get", "", 0, CV_RULE_BOUNCE, SU},
    {"iq result to unknown user", Q, "result", "", 0, CV_RULE_DROP, 0},
    {"iq to unknown full JID", Q, "set", "f", 0, CV_RULE_BOUNCE, SU},
    /* §8.5.2.1 bare JID, available resources */
    {"chat to bare, nonneg available", M, "chat", "evn", 0, CV_RULE_TO_HIGHEST, 0},
    {"normal to bare, nonneg available", M, "normal", "evn", 0, CV_RULE_TO_HIGHEST, 0},
    {"untyped to bare, nonneg available", M, NULL, "evn", 0, CV_RULE_TO_HIGHEST, 0},
    {"headline to bare, nonneg", M, "headline", "evn", 0, CV_RULE_TO_NONNEGATIVE, 0},
    {"groupchat to bare", M, "groupchat", "evn", 0, CV_RULE_BOUNCE, SU},
    {"error to bare", M, "error", "evn", 0, CV_RULE_DROP, 0},
    /* §8.5.2.2 bare JID, no available resource with priority >= 0 */
    {"chat to bare, only negative", M, "chat", "ev", 0, CV_RULE_BOUNCE, SU},
    {"chat to bare, offline on", M, "chat", "e", 1, CV_RULE_OFFLINE, 0},
    {"chat to bare, negative, offline on", M, "chat", "ev", 1, CV_RULE_OFFLINE, 0},
    {"normal to bare, offline on", M, NULL, "e", 1, CV_RULE_OFFLINE, 0},
    {"groupchat to bare, offline on", M, "groupchat", "e", 1, CV_RULE_BOUNCE, SU},
    {"headline to bare, none", M, "headline", "e", 1, CV_RULE_DROP, 0},
    {"headline to bare, only negative", M, "headline", "ev", 0, CV_RULE_DROP, 0},
    /* presence and iq to a bare JID */
    {"presence to bare, available", P, NULL, "ev", 0, CV_RULE_TO_AVAILABLE, 0},
    {"unavailable to bare, available", P, "unavailable", "ev", 0, CV_RULE_TO_AVAILABLE, 0},
    {"presence to bare, none available", P, NULL, "e", 0, CV_RULE_DROP, 0},
    {"subscribe to bare", P, "subscribe", "e", 0, CV_RULE_SERVER, 0},
    {"unsubscribed to bare", P, "unsubscribed", "ev", 0, CV_RULE_SERVER, 0},
    {"probe to bare", P, "probe", "e", 0, CV_RULE_SERVER, 0},
    {"iq get to bare", Q, "get", "evn", 0, CV_RULE_SERVER, 0},
    {"iq error to bare", Q, "error", "e", 0, CV_RULE_DROP, 0},
    /* §8.5.3.1 full JID, resource bound */
    {"chat to bound resource", M, "chat", "efbvn", 0, CV_RULE_TO_RESOURCE, 0},
    {"groupchat to bound resource", M, "groupchat", "efb", 0, CV_RULE_TO_RESOURCE, 0},
    {"headline to bound resource", M, "headline", "efb", 0, CV_RULE_TO_RESOURCE, 0},
    {"iq to bound resource", Q, "get", "efb", 0, CV_RULE_TO_RESOURCE, 0},
    {"iq result to bound resource", Q, "result", "efb", 0, CV_RULE_TO_RESOURCE, 0},
    {"presence to bound resource", P, NULL, "efb", 0, CV_RULE_TO_RESOURCE, 0},
    {"subscribe to full JID", P, "subscribe", "efb", 0, CV_RULE_SERVER, 0},
    /* §8.5.3.2 full JID, no such resource */
    {"chat to missing resource, other available", M, "chat", "efvn", 0, CV_RULE_TO_HIGHEST, 0},
    {"chat to missing resource, none", M, "chat", "ef", 0, CV_RULE_BOUNCE, SU},
    {"chat to missing resource, offline on", M, "chat", "ef", 1, CV_RULE_OFFLINE, 0},
    {"groupchat to missing resource", M, "groupchat", "efvn", 0, CV_RULE_BOUNCE, SU},
    {"headline to missing resource", M, "headline", "efvn", 0, CV_RULE_DROP, 0},
    {"iq to missing resource", Q, "get", "efvn", 0, CV_RULE_BOUNCE, SU},
    {"iq result to missing resource", Q, "result", "efvn", 0, CV_RULE_DROP, 0},
    {"presence to missing resource", P, NULL, "efvn", 0, CV_RULE_DROP, 0},
    {"subscribed to missing resource", P, "subscribed", "ef", 0, CV_RULE_SERVER, 0},
    /* RFC 6120 §10.3 no 'to' */
    {"initial presence", P, NULL, "a", 0, CV_RULE_BROADCAST, 0},
    {"unavailable presence", P, "unavailable", "a", 0, CV_RULE_BROADCAST, 0},
    {"iq without to", Q, "get", "a", 0, CV_RULE_SERVER, 0},
    {"iq result without to", Q, "result", "a", 0, CV_RULE_DROP, 0},
    {"message without to, self available", M, "chat", "aevn", 0, CV_RULE_TO_HIGHEST, 0},
    /* own bare JID, server, remote */
    {"iq to own bare JID", Q, "get", "oevn", 0, CV_RULE_SERVER, 0},
    {"iq get to server", Q, "get", "s", 0, CV_RULE_SERVER, 0},
    {"iq result to server", Q, "result", "s", 0, CV_RULE_DROP, 0},
    {"chat to server", M, "chat", "s", 0, CV_RULE_BOUNCE, SU},
    {"error message to server", M, "error", "s", 0, CV_RULE_DROP, 0},
    {"presence to server", P, NULL, "s", 0, CV_RULE_DROP, 0},
    {"message to remote domain", M, "chat", "r", 0, CV_RULE_REMOTE, 0},
    {"iq to remote domain", Q, "get", "r", 0, CV_RULE_REMOTE, 0},
    /* invalid types */
    {"message of unknown type", M, "shout", "evn", 0, CV_RULE_BOUNCE, CV_STE_BAD_REQUEST},
    {"iq of unknown type", Q, "fetch", "evn", 0, CV_RULE_BOUNCE, CV_STE_BAD_REQUEST},
    /* RFC 6120 §8.2.3: an iq's type is required, whatever it is addressed to */
    {"iq without type to server", Q, NULL, "s", 0, CV_RULE_BOUNCE, CV_STE_BAD_REQUEST},
    {"iq without type to a resource", Q, NULL, "efbvn", 0, CV_RULE_BOUNCE, CV_STE_BAD_REQUEST},
    {"iq without type to bare", Q, NULL, "evn", 0, CV_RULE_BOUNCE, CV_STE_BAD_REQUEST},
    {"presence of unknown type", P, "invisible", "ev", 0, CV_RULE_DROP, 0},
};

static cv_rules_in_t facts(const row_t *row)
{
    cv_rules_in_t in;
    memset(&in, 0, sizeof in);
    in.kind = row->kind;
    in.type = cv_rules_type(row->kind, row->type);
    for (const char *p = row->facts; *p; p++) {
        switch (*p) {
        case 'a': in.to_absent = 1; break;
        case 'r': in.to_remote = 1; break;
        case 's': in.to_server = 1; break;
        case 'o': in.to_own_bare = 1; break;
        case 'f': in.to_full = 1; break;
        case 'e': in.account_exists = 1; break;
        case 'b': in.resource_bound = 1; break;
        case 'v': in.available = 1; break;
        case 'n': in.nonnegative = 1; break;
        }
    }
    return in;
}

int main(void)
{
    int failures = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cv_rules_in_t in = facts(&rows[i]);
        cv_rule_t r = cv_rules_decide(&in, rows[i].offline);
        if (r.action != rows[i].action ||
            (r.action == CV_RULE_BOUNCE && r.error != rows[i].error)) {
            printf("FAIL %s: got %s (%s), expected %s (%s)\n", rows[i].what,
                   cv_rules_action_name(r.action), cv_stanza_err_name(r.error),
                   cv_rules_action_name(rows[i].action), cv_stanza_err_name(rows[i].error));
            failures++;
        }
    }
    if (cv_rules_type(CV_KIND_MESSAGE, "get") != CV_RT_OTHER ||
        cv_rules_type(CV_KIND_IQ, "get") != CV_RT_GET ||
        cv_rules_type(CV_KIND_PRESENCE, NULL) != CV_RT_NONE) {
        printf("FAIL type mapping\n");
        failures++;
    }
    printf("%zu rows, %d failed\n", sizeof rows / sizeof rows[0], failures);
    return failures != 0;
}
