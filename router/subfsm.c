/*
 * RFC 6121 subscription state machine. The tables of Appendix A are expressed here as
 * operations on the TO/FROM bits and the pending flags; tests/unit/test_subfsm.c holds
 * the tables themselves, row by row, and checks this code against them.
 */
#include <string.h>

#include "corvid/subfsm.h"

#define SUB_TO ((unsigned)CV_SUB_TO)
#define SUB_FROM ((unsigned)CV_SUB_FROM)

_Static_assert(CV_SUB_BOTH == (CV_SUB_TO | CV_SUB_FROM), "cv_sub_t values are bit sets");

static const char *const sub_names[] = {"none", "to", "from", "both"};
static const char *const type_names[] = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"};

_Static_assert(CV_ARRAY_LEN(sub_names) == 4, "one name per cv_sub_t value");
_Static_assert(CV_PRES_UNSUBSCRIBED + 1 == CV_ARRAY_LEN(type_names),
               "one name per cv_sub_type_t value");

cv_sub_state_t cv_sub_state_normalize(cv_sub_state_t s)
{
    cv_sub_state_t n;
    unsigned sub = (unsigned)s.sub & (SUB_TO | SUB_FROM);

    n.sub = (cv_sub_t)sub;
    n.pending_out = s.pending_out != 0 && !(sub & SUB_TO);
    n.pending_in = s.pending_in != 0 && !(sub & SUB_FROM);
    /* When a request is pending and a pre-approval is also recorded, the record is
       inconsistent; dropping the pre-approval leaves the user to answer explicitly rather
       than granting presence on a flag that may be stale. */
    n.preapproved = s.preapproved != 0 && !(sub & SUB_FROM) && !n.pending_in;
    /* Anything but a bare inbound request means the user has the item; keeping the data
       is safer than dropping a subscription because a flag was lost. */
    n.in_roster = s.in_roster != 0 || sub != 0 || n.pending_out || n.preapproved;
    return n;
}

int cv_sub_state_is_absent(cv_sub_state_t s)
{
    cv_sub_state_t n = cv_sub_state_normalize(s);
    return !n.in_roster && !n.pending_in;
}

/* The part of a state a client sees (roster items: subscription, ask, approved). */
static int visible_differs(cv_sub_state_t a, cv_sub_state_t b)
{
    return a.sub != b.sub || a.pending_out != b.pending_out || a.preapproved != b.preapproved ||
           a.in_roster != b.in_roster;
}

static cv_sub_result_t finish(cv_sub_state_t cur, cv_sub_result_t r)
{
    r.changed = visible_differs(cur, r.next) || cur.pending_in != r.next.pending_in;
    /* A record outside the roster holds only pending_in (see normalize), so a visible
       difference always concerns a roster item before or after the change. */
    r.push = visible_differs(cur, r.next);
    return r;
}

cv_sub_result_t cv_sub_outbound(cv_sub_state_t cur_raw, cv_sub_type_t type)
{
    cv_sub_state_t cur = cv_sub_state_normalize(cur_raw);
    cv_sub_result_t r = {.next = cur};
    unsigned sub = (unsigned)cur.sub;

    switch (type) {
    case CV_PRES_SUBSCRIBE:
        /* A.2.1: always routed. Asking again while subscribed lets the contact's server
           answer with its own state (A.3.1), which repairs rosters that drifted apart. */
        r.deliver = 1;
        r.next.in_roster = 1;
        if (!(sub & SUB_TO))
            r.next.pending_out = 1;
        break;
    case CV_PRES_UNSUBSCRIBE:
        /* A.2.2: always routed; ends both the subscription and the pending request. */
        r.deliver = 1;
        r.next.sub = (cv_sub_t)(sub & ~SUB_TO);
        r.next.pending_out = 0;
        break;
    case CV_PRES_SUBSCRIBED:
        if (sub & SUB_FROM)
            break; /* A.2.3: already granted; routing it again would only echo. */
        if (cur.pending_in) {
            /* A.2.3 / §3.1.5: approval of the pending request. The contact becomes a
               roster item now if it was not one (A.1, "None + Pending In"). */
            r.next.sub = (cv_sub_t)(sub | SUB_FROM);
            r.next.pending_in = 0;
            r.next.in_roster = 1;
            r.deliver = 1;
            r.send_presence = 1;
        } else {
            /* §3.4: nothing to approve yet, so this is a pre-approval; it creates the
               item if needed and is never routed. */
            r.next.preapproved = 1;
            r.next.in_roster = 1;
        }
        break;
    case CV_PRES_UNSUBSCRIBED:
        if (sub & SUB_FROM) {
            /* A.2.4 / §3.2.2: cancel the contact's subscription. */
            r.next.sub = (cv_sub_t)(sub & ~SUB_FROM);
            r.deliver = 1;
            r.send_unavailable = 1;
        } else if (cur.pending_in) {
            /* A.2.4: deny the pending request. */
            r.next.pending_in = 0;
            r.deliver = 1;
        } else {
            /* A.2.4: nothing to cancel for the contact, so the stanza is not routed;
               §3.4: it withdraws a pre-approval if there is one. */
            r.next.preapproved = 0;
        }
        break;
    default: break; /* not a subscription type: next == cur, so nothing happens */
    }
    return finish(cur, r);
}

cv_sub_result_t cv_sub_inbound(cv_sub_state_t cur_raw, cv_sub_type_t type)
{
    cv_sub_state_t cur = cv_sub_state_normalize(cur_raw);
    cv_sub_result_t r = {.next = cur};
    unsigned sub = (unsigned)cur.sub;

    switch (type) {
    case CV_PRES_SUBSCRIBE:
        if (sub & SUB_FROM) {
            /* A.3.1 / §3.1.3: already granted; the contact's roster has drifted, so
               answer for the user instead of asking again. Presence follows because the
               contact's server may have dropped it while it believed it had none. */
            r.auto_reply_subscribed = 1;
            r.send_presence = 1;
        } else if (cur.preapproved) {
            /* §3.4: the user approved in advance: grant without asking. */
            r.next.sub = (cv_sub_t)(sub | SUB_FROM);
            r.next.preapproved = 0;
            r.auto_reply_subscribed = 1;
            r.send_presence = 1;
        } else if (!cur.pending_in) {
            /* A.3.1: a new request. A repeated one is not delivered again: the pending
               request is redelivered when the user next becomes available. */
            r.next.pending_in = 1;
            r.deliver = 1;
        }
        break;
    case CV_PRES_UNSUBSCRIBE:
        if (sub & SUB_FROM) {
            /* A.3.2 / §3.3.3: the contact stops receiving the user's presence. */
            r.next.sub = (cv_sub_t)(sub & ~SUB_FROM);
            r.deliver = 1;
            r.send_unavailable = 1;
        } else if (cur.pending_in) {
            /* A.3.2: the contact withdraws its pending request. */
            r.next.pending_in = 0;
            r.deliver = 1;
        }
        break;
    case CV_PRES_SUBSCRIBED:
        /* A.3.3: only an approval the user asked for counts; anything else is ignored so
           that nobody can push themselves into a roster. */
        if (cur.pending_out) {
            r.next.sub = (cv_sub_t)(sub | SUB_TO);
            r.next.pending_out = 0;
            r.deliver = 1;
        }
        break;
    case CV_PRES_UNSUBSCRIBED:
        /* A.3.4: cancels the user's subscription or denies the user's request. */
        if ((sub & SUB_TO) || cur.pending_out) {
            r.next.sub = (cv_sub_t)(sub & ~SUB_TO);
            r.next.pending_out = 0;
            r.deliver = 1;
        }
        break;
    default: break; /* not a subscription type: next == cur, so nothing happens */
    }
    return finish(cur, r);
}

const char *cv_sub_name(cv_sub_t s)
{
    return sub_names[(unsigned)s & (SUB_TO | SUB_FROM)];
}

int cv_sub_parse(const char *s, cv_sub_t *out)
{
    if (s == NULL || out == NULL)
        return CV_EINVAL;
    for (unsigned i = 0; i < CV_ARRAY_LEN(sub_names); i++) {
        if (strcmp(s, sub_names[i]) == 0) {
            *out = (cv_sub_t)i;
            return 0;
        }
    }
    return CV_EINVAL;
}

const char *cv_sub_type_name(cv_sub_type_t t)
{
    if ((unsigned)t >= CV_ARRAY_LEN(type_names))
        return "?";
    return type_names[(unsigned)t];
}

int cv_sub_type_parse(const char *s, cv_sub_type_t *out)
{
    if (s == NULL || out == NULL)
        return CV_EINVAL;
    for (unsigned i = 0; i < CV_ARRAY_LEN(type_names); i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *out = (cv_sub_type_t)i;
            return 0;
        }
    }
    return CV_EINVAL;
}
