/*
 * The RFC 6121 Appendix A tables, transcribed row by row, checked against cv_sub_outbound
 * and cv_sub_inbound; then the §3 walk-throughs played between two servers' rosters; then
 * invariants over every raw input, including corrupt ones.
 */
#include <stdio.h>
#include <string.h>

#include "corvid/subfsm.h"
#include "check.h"

/* ---- states by their RFC 6121 A.1 names ---- */

struct named_state {
    const char *name;
    cv_sub_state_t st;
};

/* pending_out, pending_in, preapproved, in_roster */
static const struct named_state states[] = {
    {"None", {CV_SUB_NONE, 0, 0, 0, 1}},
    {"None + Pending Out", {CV_SUB_NONE, 1, 0, 0, 1}},
    {"None + Pending In", {CV_SUB_NONE, 0, 1, 0, 1}},
    {"None + Pending Out+In", {CV_SUB_NONE, 1, 1, 0, 1}},
    {"To", {CV_SUB_TO, 0, 0, 0, 1}},
    {"To + Pending In", {CV_SUB_TO, 0, 1, 0, 1}},
    {"From", {CV_SUB_FROM, 0, 0, 0, 1}},
    {"From + Pending Out", {CV_SUB_FROM, 1, 0, 0, 1}},
    {"Both", {CV_SUB_BOTH, 0, 0, 0, 1}},
    /* §3.4 pre-approval, possible only in the three states without FROM or Pending In. */
    {"None +approved", {CV_SUB_NONE, 0, 0, 1, 1}},
    {"None + Pending Out +approved", {CV_SUB_NONE, 1, 0, 1, 1}},
    {"To +approved", {CV_SUB_TO, 0, 0, 1, 1}},
    /* No record at all, and a record holding only an inbound request from a contact
       that is not in the roster (A.1, "None + Pending In", second case). */
    {"Absent", {CV_SUB_NONE, 0, 0, 0, 0}},
    {"Unlisted + Pending In", {CV_SUB_NONE, 0, 1, 0, 0}},
};

#define N_DEFINED 9 /* the first nine entries are the defined states of A.1 */

static const struct named_state *state_by_name(const char *name)
{
    for (size_t i = 0; i < CV_ARRAY_LEN(states); i++)
        if (strcmp(states[i].name, name) == 0)
            return &states[i];
    return NULL;
}

static int state_eq(cv_sub_state_t a, cv_sub_state_t b)
{
    return a.sub == b.sub && a.pending_out == b.pending_out && a.pending_in == b.pending_in &&
           a.preapproved == b.preapproved && a.in_roster == b.in_roster;
}

/* ---- the tables ---- */

enum { OUT, IN };
enum { NO = 0, MUST = 1 };
/* Expected side effects besides deliver/route. */
#define P 1u      /* roster push */
#define A 2u      /* auto-reply "subscribed" */
#define U 4u      /* unavailable presence to the contact */
#define S 8u      /* current presence to the contact */
#define SAME NULL /* "no state change" */

struct row {
    int line;
    int dir;
    cv_sub_type_t type;
    const char *from;
    int deliver;
    const char *to;
    unsigned fx;
};

#define R(dir, type, from, deliver, to, fx)                                                        \
    {                                                                                              \
        __LINE__, dir, type, from, deliver, to, fx                                                 \
    }

static const struct row appendix_a[] = {
    /* A.2.1 Outbound "subscribe": always routed. */
    R(OUT, CV_PRES_SUBSCRIBE, "None", MUST, "None + Pending Out", P),
    R(OUT, CV_PRES_SUBSCRIBE, "None + Pending Out", MUST, SAME, 0),
    R(OUT, CV_PRES_SUBSCRIBE, "None + Pending In", MUST, "None + Pending Out+In", P),
    R(OUT, CV_PRES_SUBSCRIBE, "None + Pending Out+In", MUST, SAME, 0),
    R(OUT, CV_PRES_SUBSCRIBE, "To", MUST, SAME, 0),
    R(OUT, CV_PRES_SUBSCRIBE, "To + Pending In", MUST, SAME, 0),
    R(OUT, CV_PRES_SUBSCRIBE, "From", MUST, "From + Pending Out", P),
    R(OUT, CV_PRES_SUBSCRIBE, "From + Pending Out", MUST, SAME, 0),
    R(OUT, CV_PRES_SUBSCRIBE, "Both", MUST, SAME, 0),
    /* A.2.2 Outbound "unsubscribe": always routed. */
    R(OUT, CV_PRES_UNSUBSCRIBE, "None", MUST, SAME, 0),
    R(OUT, CV_PRES_UNSUBSCRIBE, "None + Pending Out", MUST, "None", P),
    R(OUT, CV_PRES_UNSUBSCRIBE, "None + Pending In", MUST, SAME, 0),
    R(OUT, CV_PRES_UNSUBSCRIBE, "None + Pending Out+In", MUST, "None + Pending In", P),
    R(OUT, CV_PRES_UNSUBSCRIBE, "To", MUST, "None", P),
    R(OUT, CV_PRES_UNSUBSCRIBE, "To + Pending In", MUST, "None + Pending In", P),
    R(OUT, CV_PRES_UNSUBSCRIBE, "From", MUST, SAME, 0),
    R(OUT, CV_PRES_UNSUBSCRIBE, "From + Pending Out", MUST, "From", P),
    R(OUT, CV_PRES_UNSUBSCRIBE, "Both", MUST, "From", P),
    /* A.2.3 Outbound "subscribed": where nothing is pending it is a pre-approval (§3.4). */
    R(OUT, CV_PRES_SUBSCRIBED, "None", NO, "None +approved", P),
    R(OUT, CV_PRES_SUBSCRIBED, "None + Pending Out", NO, "None + Pending Out +approved", P),
    R(OUT, CV_PRES_SUBSCRIBED, "None + Pending In", MUST, "From", P | S),
    R(OUT, CV_PRES_SUBSCRIBED, "None + Pending Out+In", MUST, "From + Pending Out", P | S),
    R(OUT, CV_PRES_SUBSCRIBED, "To", NO, "To +approved", P),
    R(OUT, CV_PRES_SUBSCRIBED, "To + Pending In", MUST, "Both", P | S),
    R(OUT, CV_PRES_SUBSCRIBED, "From", NO, SAME, 0),
    R(OUT, CV_PRES_SUBSCRIBED, "From + Pending Out", NO, SAME, 0),
    R(OUT, CV_PRES_SUBSCRIBED, "Both", NO, SAME, 0),
    /* A.2.4 Outbound "unsubscribed". Pending In is not shown to clients: no push. */
    R(OUT, CV_PRES_UNSUBSCRIBED, "None", NO, SAME, 0),
    R(OUT, CV_PRES_UNSUBSCRIBED, "None + Pending Out", NO, SAME, 0),
    R(OUT, CV_PRES_UNSUBSCRIBED, "None + Pending In", MUST, "None", 0),
    R(OUT, CV_PRES_UNSUBSCRIBED, "None + Pending Out+In", MUST, "None + Pending Out", 0),
    R(OUT, CV_PRES_UNSUBSCRIBED, "To", NO, SAME, 0),
    R(OUT, CV_PRES_UNSUBSCRIBED, "To + Pending In", MUST, "To", 0),
    R(OUT, CV_PRES_UNSUBSCRIBED, "From", MUST, "None", P | U),
    R(OUT, CV_PRES_UNSUBSCRIBED, "From + Pending Out", MUST, "None + Pending Out", P | U),
    R(OUT, CV_PRES_UNSUBSCRIBED, "Both", MUST, "To", P | U),
    /* A.3.1 Inbound "subscribe"; already granted: auto-reply instead of delivery. */
    R(IN, CV_PRES_SUBSCRIBE, "None", MUST, "None + Pending In", 0),
    R(IN, CV_PRES_SUBSCRIBE, "None + Pending Out", MUST, "None + Pending Out+In", 0),
    R(IN, CV_PRES_SUBSCRIBE, "None + Pending In", NO, SAME, 0),
    R(IN, CV_PRES_SUBSCRIBE, "None + Pending Out+In", NO, SAME, 0),
    R(IN, CV_PRES_SUBSCRIBE, "To", MUST, "To + Pending In", 0),
    R(IN, CV_PRES_SUBSCRIBE, "To + Pending In", NO, SAME, 0),
    R(IN, CV_PRES_SUBSCRIBE, "From", NO, SAME, A | S),
    R(IN, CV_PRES_SUBSCRIBE, "From + Pending Out", NO, SAME, A | S),
    R(IN, CV_PRES_SUBSCRIBE, "Both", NO, SAME, A | S),
    /* A.3.2 Inbound "unsubscribe". */
    R(IN, CV_PRES_UNSUBSCRIBE, "None", NO, SAME, 0),
    R(IN, CV_PRES_UNSUBSCRIBE, "None + Pending Out", NO, SAME, 0),
    R(IN, CV_PRES_UNSUBSCRIBE, "None + Pending In", MUST, "None", 0),
    R(IN, CV_PRES_UNSUBSCRIBE, "None + Pending Out+In", MUST, "None + Pending Out", 0),
    R(IN, CV_PRES_UNSUBSCRIBE, "To", NO, SAME, 0),
    R(IN, CV_PRES_UNSUBSCRIBE, "To + Pending In", MUST, "To", 0),
    R(IN, CV_PRES_UNSUBSCRIBE, "From", MUST, "None", P | U),
    R(IN, CV_PRES_UNSUBSCRIBE, "From + Pending Out", MUST, "None + Pending Out", P | U),
    R(IN, CV_PRES_UNSUBSCRIBE, "Both", MUST, "To", P | U),
    /* A.3.3 Inbound "subscribed": only an approval the user asked for. */
    R(IN, CV_PRES_SUBSCRIBED, "None", NO, SAME, 0),
    R(IN, CV_PRES_SUBSCRIBED, "None + Pending Out", MUST, "To", P),
    R(IN, CV_PRES_SUBSCRIBED, "None + Pending In", NO, SAME, 0),
    R(IN, CV_PRES_SUBSCRIBED, "None + Pending Out+In", MUST, "To + Pending In", P),
    R(IN, CV_PRES_SUBSCRIBED, "To", NO, SAME, 0),
    R(IN, CV_PRES_SUBSCRIBED, "To + Pending In", NO, SAME, 0),
    R(IN, CV_PRES_SUBSCRIBED, "From", NO, SAME, 0),
    R(IN, CV_PRES_SUBSCRIBED, "From + Pending Out", MUST, "Both", P),
    R(IN, CV_PRES_SUBSCRIBED, "Both", NO, SAME, 0),
    /* A.3.4 Inbound "unsubscribed". */
    R(IN, CV_PRES_UNSUBSCRIBED, "None", NO, SAME, 0),
    R(IN, CV_PRES_UNSUBSCRIBED, "None + Pending Out", MUST, "None", P),
    R(IN, CV_PRES_UNSUBSCRIBED, "None + Pending In", NO, SAME, 0),
    R(IN, CV_PRES_UNSUBSCRIBED, "None + Pending Out+In", MUST, "None + Pending In", P),
    R(IN, CV_PRES_UNSUBSCRIBED, "To", MUST, "None", P),
    R(IN, CV_PRES_UNSUBSCRIBED, "To + Pending In", MUST, "None + Pending In", P),
    R(IN, CV_PRES_UNSUBSCRIBED, "From", NO, SAME, 0),
    R(IN, CV_PRES_UNSUBSCRIBED, "From + Pending Out", MUST, "From", P),
    R(IN, CV_PRES_UNSUBSCRIBED, "Both", MUST, "From", P),
};

static const struct row extra_rows[] = {
    /* §3.4 pre-approval: an inbound request is granted at once, in the user's name. */
    R(IN, CV_PRES_SUBSCRIBE, "None +approved", NO, "From", P | A | S),
    R(IN, CV_PRES_SUBSCRIBE, "None + Pending Out +approved", NO, "From + Pending Out", P | A | S),
    R(IN, CV_PRES_SUBSCRIBE, "To +approved", NO, "Both", P | A | S),
    R(OUT, CV_PRES_SUBSCRIBED, "None +approved", NO, SAME, 0),
    R(OUT, CV_PRES_SUBSCRIBED, "To +approved", NO, SAME, 0),
    /* An "unsubscribed" with nothing to cancel withdraws the pre-approval, unrouted. */
    R(OUT, CV_PRES_UNSUBSCRIBED, "None +approved", NO, "None", P),
    R(OUT, CV_PRES_UNSUBSCRIBED, "None + Pending Out +approved", NO, "None + Pending Out", P),
    R(OUT, CV_PRES_UNSUBSCRIBED, "To +approved", NO, "To", P),
    /* The pre-approval survives the user's own subscription changes. */
    R(OUT, CV_PRES_SUBSCRIBE, "None +approved", MUST, "None + Pending Out +approved", P),
    R(OUT, CV_PRES_UNSUBSCRIBE, "To +approved", MUST, "None +approved", P),
    R(IN, CV_PRES_SUBSCRIBED, "None + Pending Out +approved", MUST, "To +approved", P),
    R(IN, CV_PRES_UNSUBSCRIBED, "To +approved", MUST, "None +approved", P),
    R(IN, CV_PRES_UNSUBSCRIBE, "None +approved", NO, SAME, 0),
    /* No record yet: an outbound request or pre-approval creates the item; an inbound
       request creates only a hidden record (changed, but no push). */
    R(OUT, CV_PRES_SUBSCRIBE, "Absent", MUST, "None + Pending Out", P),
    R(OUT, CV_PRES_UNSUBSCRIBE, "Absent", MUST, SAME, 0),
    R(OUT, CV_PRES_SUBSCRIBED, "Absent", NO, "None +approved", P),
    R(OUT, CV_PRES_UNSUBSCRIBED, "Absent", NO, SAME, 0),
    R(IN, CV_PRES_SUBSCRIBE, "Absent", MUST, "Unlisted + Pending In", 0),
    R(IN, CV_PRES_UNSUBSCRIBE, "Absent", NO, SAME, 0),
    R(IN, CV_PRES_SUBSCRIBED, "Absent", NO, SAME, 0),
    R(IN, CV_PRES_UNSUBSCRIBED, "Absent", NO, SAME, 0),
    /* A request from someone not in the roster: approval adds the item, denial or
       withdrawal removes the record. */
    R(OUT, CV_PRES_SUBSCRIBE, "Unlisted + Pending In", MUST, "None + Pending Out+In", P),
    R(OUT, CV_PRES_UNSUBSCRIBE, "Unlisted + Pending In", MUST, SAME, 0),
    R(OUT, CV_PRES_SUBSCRIBED, "Unlisted + Pending In", MUST, "From", P | S),
    R(OUT, CV_PRES_UNSUBSCRIBED, "Unlisted + Pending In", MUST, "Absent", 0),
    R(IN, CV_PRES_SUBSCRIBE, "Unlisted + Pending In", NO, SAME, 0),
    R(IN, CV_PRES_UNSUBSCRIBE, "Unlisted + Pending In", MUST, "Absent", 0),
    R(IN, CV_PRES_SUBSCRIBED, "Unlisted + Pending In", NO, SAME, 0),
    R(IN, CV_PRES_UNSUBSCRIBED, "Unlisted + Pending In", NO, SAME, 0),
};

static cv_sub_result_t apply(int dir, cv_sub_state_t cur, cv_sub_type_t type)
{
    return dir == OUT ? cv_sub_outbound(cur, type) : cv_sub_inbound(cur, type);
}

static void check_row(const struct row *w)
{
    const struct named_state *from = state_by_name(w->from);
    const struct named_state *to = w->to ? state_by_name(w->to) : from;
    if (from == NULL || to == NULL) {
        printf("FAIL line %d: unknown state name\n", w->line);
        failures++;
        return;
    }
    cv_sub_result_t r = apply(w->dir, from->st, w->type);
    int changed = !state_eq(from->st, to->st);
    const char *dir = w->dir == OUT ? "outbound" : "inbound";

    if (!state_eq(r.next, to->st) || r.deliver != w->deliver || r.changed != changed ||
        r.push != ((w->fx & P) != 0) || r.auto_reply_subscribed != ((w->fx & A) != 0) ||
        r.send_unavailable != ((w->fx & U) != 0) || r.send_presence != ((w->fx & S) != 0)) {
        printf("FAIL line %d: %s %s in \"%s\": want \"%s\" deliver=%d changed=%d fx=%u; got "
               "%s/out=%u/in=%u/appr=%u/roster=%u deliver=%u changed=%u push=%u auto=%u "
               "unavail=%u presence=%u\n",
               w->line, dir, cv_sub_type_name(w->type), w->from, to->name, w->deliver, changed,
               w->fx, cv_sub_name(r.next.sub), r.next.pending_out, r.next.pending_in,
               r.next.preapproved, r.next.in_roster, r.deliver, r.changed, r.push,
               r.auto_reply_subscribed, r.send_unavailable, r.send_presence);
        failures++;
    }
}

static void test_tables(void)
{
    /* The transcription itself must cover each defined state once per table. */
    int seen[2][4][N_DEFINED] = {{{0}}};
    CHECK(CV_ARRAY_LEN(appendix_a) == 2 * 4 * N_DEFINED);
    for (size_t i = 0; i < CV_ARRAY_LEN(appendix_a); i++) {
        const struct row *w = &appendix_a[i];
        const struct named_state *s = state_by_name(w->from);
        CHECK(s != NULL && s - states < N_DEFINED);
        if (s != NULL && s - states < N_DEFINED)
            seen[w->dir][w->type][s - states]++;
        check_row(w);
    }
    for (int d = 0; d < 2; d++)
        for (int t = 0; t < 4; t++)
            for (int s = 0; s < N_DEFINED; s++)
                CHECK(seen[d][t][s] == 1);
    for (size_t i = 0; i < CV_ARRAY_LEN(extra_rows); i++)
        check_row(&extra_rows[i]);
}

/* ---- §3 walk-throughs: two servers, one roster item each ---- */

struct party {
    const char *name;
    cv_sub_state_t item; /* this party's roster item for the other one */
    int delivered[4];    /* subscription stanzas delivered to this party's clients */
    int pushes;
    int sent_unavailable; /* unavailable presence sent to the other party */
    int sent_presence;    /* current presence sent to the other party */
};

static void receive(struct party *to, struct party *from, cv_sub_type_t type);

/* One stanza from `from` to `to`, through both servers. */
static void send_sub(struct party *from, struct party *to, cv_sub_type_t type)
{
    cv_sub_result_t r = cv_sub_outbound(from->item, type);
    from->item = r.next;
    from->sent_unavailable += r.send_unavailable;
    from->pushes += r.push;
    if (r.deliver)
        receive(to, from, type);
    from->sent_presence += r.send_presence;
}

static void receive(struct party *to, struct party *from, cv_sub_type_t type)
{
    cv_sub_result_t r = cv_sub_inbound(to->item, type);
    to->item = r.next;
    to->sent_unavailable += r.send_unavailable;
    if (r.deliver)
        to->delivered[type]++;
    /* The auto-reply already carries the state change on this side: it goes straight to
       the other server as an inbound "subscribed". */
    if (r.auto_reply_subscribed)
        receive(from, to, CV_PRES_SUBSCRIBED);
    to->pushes += r.push;
    to->sent_presence += r.send_presence;
}

static int is(cv_sub_state_t s, const char *name)
{
    const struct named_state *n = state_by_name(name);
    return n != NULL && state_eq(s, n->st);
}

static void fresh(struct party *p, const char *name)
{
    memset(p, 0, sizeof(*p));
    p->name = name;
    p->item = CV_SUB_STATE_ABSENT;
}

static void test_walkthroughs(void)
{
    struct party romeo, juliet;

    /* §3.1: romeo asks, juliet approves: romeo "To", juliet "From". */
    fresh(&romeo, "romeo");
    fresh(&juliet, "juliet");
    send_sub(&romeo, &juliet, CV_PRES_SUBSCRIBE);
    CHECK(is(romeo.item, "None + Pending Out"));
    CHECK(romeo.pushes == 1);
    CHECK(is(juliet.item, "Unlisted + Pending In"));
    CHECK(juliet.delivered[CV_PRES_SUBSCRIBE] == 1);
    CHECK(juliet.pushes == 0);
    CHECK(!cv_sub_state_is_absent(juliet.item));
    /* A second request while pending reaches the server but not juliet's clients. */
    send_sub(&romeo, &juliet, CV_PRES_SUBSCRIBE);
    CHECK(juliet.delivered[CV_PRES_SUBSCRIBE] == 1);
    send_sub(&juliet, &romeo, CV_PRES_SUBSCRIBED);
    CHECK(is(juliet.item, "From"));
    CHECK(juliet.pushes == 1);
    CHECK(juliet.sent_presence == 1);
    CHECK(is(romeo.item, "To"));
    CHECK(romeo.delivered[CV_PRES_SUBSCRIBED] == 1);
    CHECK(romeo.pushes == 2);

    /* Mutual: juliet asks back, romeo approves: both sides "Both". */
    send_sub(&juliet, &romeo, CV_PRES_SUBSCRIBE);
    CHECK(is(juliet.item, "From + Pending Out"));
    CHECK(is(romeo.item, "To + Pending In"));
    CHECK(romeo.delivered[CV_PRES_SUBSCRIBE] == 1);
    send_sub(&romeo, &juliet, CV_PRES_SUBSCRIBED);
    CHECK(is(romeo.item, "Both"));
    CHECK(is(juliet.item, "Both"));
    CHECK(romeo.sent_presence == 1);

    /* A repeated request while subscribed is answered by romeo's server, not by romeo,
       and changes nothing on either side. */
    int before = romeo.delivered[CV_PRES_SUBSCRIBE];
    send_sub(&juliet, &romeo, CV_PRES_SUBSCRIBE);
    CHECK(romeo.delivered[CV_PRES_SUBSCRIBE] == before);
    CHECK(is(romeo.item, "Both"));
    CHECK(is(juliet.item, "Both"));
    CHECK(romeo.sent_presence == 2);

    /* §3.3: romeo unsubscribes from juliet's presence; juliet's server sends unavailable
       from juliet to romeo. */
    send_sub(&romeo, &juliet, CV_PRES_UNSUBSCRIBE);
    CHECK(is(romeo.item, "From"));
    CHECK(is(juliet.item, "To"));
    CHECK(juliet.delivered[CV_PRES_UNSUBSCRIBE] == 1);
    CHECK(juliet.sent_unavailable == 1);
    CHECK(romeo.sent_unavailable == 0);

    /* §3.2: romeo cancels juliet's subscription; romeo's server sends unavailable first. */
    send_sub(&romeo, &juliet, CV_PRES_UNSUBSCRIBED);
    CHECK(is(romeo.item, "None"));
    CHECK(is(juliet.item, "None"));
    CHECK(romeo.sent_unavailable == 1);
    CHECK(juliet.delivered[CV_PRES_UNSUBSCRIBED] == 1);
    /* Nothing left to cancel: not routed again. */
    send_sub(&romeo, &juliet, CV_PRES_UNSUBSCRIBED);
    CHECK(juliet.delivered[CV_PRES_UNSUBSCRIBED] == 1);
    CHECK(romeo.sent_unavailable == 1);

    /* §3.2.1 denial of a request from someone not in the roster: romeo keeps his item,
       juliet's hidden record disappears. */
    fresh(&romeo, "romeo");
    fresh(&juliet, "juliet");
    send_sub(&romeo, &juliet, CV_PRES_SUBSCRIBE);
    send_sub(&juliet, &romeo, CV_PRES_UNSUBSCRIBED);
    CHECK(is(romeo.item, "None"));
    CHECK(romeo.delivered[CV_PRES_UNSUBSCRIBED] == 1);
    CHECK(cv_sub_state_is_absent(juliet.item));
    CHECK(juliet.sent_unavailable == 0);
    CHECK(juliet.pushes == 0);

    /* Romeo withdraws his own pending request: juliet's hidden record disappears too. */
    fresh(&romeo, "romeo");
    fresh(&juliet, "juliet");
    send_sub(&romeo, &juliet, CV_PRES_SUBSCRIBE);
    send_sub(&romeo, &juliet, CV_PRES_UNSUBSCRIBE);
    CHECK(is(romeo.item, "None"));
    CHECK(cv_sub_state_is_absent(juliet.item));
    CHECK(juliet.delivered[CV_PRES_UNSUBSCRIBE] == 1);

    /* Crossing requests, then both approve: "Both" on both sides. */
    fresh(&romeo, "romeo");
    fresh(&juliet, "juliet");
    send_sub(&romeo, &juliet, CV_PRES_SUBSCRIBE);
    send_sub(&juliet, &romeo, CV_PRES_SUBSCRIBE);
    CHECK(is(romeo.item, "None + Pending Out+In"));
    CHECK(is(juliet.item, "None + Pending Out+In"));
    send_sub(&juliet, &romeo, CV_PRES_SUBSCRIBED);
    CHECK(is(juliet.item, "From + Pending Out"));
    CHECK(is(romeo.item, "To + Pending In"));
    send_sub(&romeo, &juliet, CV_PRES_SUBSCRIBED);
    CHECK(is(romeo.item, "Both"));
    CHECK(is(juliet.item, "Both"));

    /* §3.4 pre-approval: juliet approves before romeo asks; romeo's request is granted by
       juliet's server without reaching juliet's clients. */
    fresh(&romeo, "romeo");
    fresh(&juliet, "juliet");
    send_sub(&juliet, &romeo, CV_PRES_SUBSCRIBED);
    CHECK(is(juliet.item, "None +approved"));
    CHECK(juliet.pushes == 1);
    CHECK(romeo.delivered[CV_PRES_SUBSCRIBED] == 0);
    CHECK(cv_sub_state_is_absent(romeo.item));
    send_sub(&romeo, &juliet, CV_PRES_SUBSCRIBE);
    CHECK(juliet.delivered[CV_PRES_SUBSCRIBE] == 0);
    CHECK(is(juliet.item, "From"));
    CHECK(juliet.sent_presence == 1);
    CHECK(is(romeo.item, "To"));
    CHECK(romeo.delivered[CV_PRES_SUBSCRIBED] == 1);

    /* A withdrawn pre-approval no longer grants anything. */
    fresh(&romeo, "romeo");
    fresh(&juliet, "juliet");
    send_sub(&juliet, &romeo, CV_PRES_SUBSCRIBED);
    send_sub(&juliet, &romeo, CV_PRES_UNSUBSCRIBED);
    CHECK(is(juliet.item, "None"));
    CHECK(romeo.delivered[CV_PRES_UNSUBSCRIBED] == 0);
    send_sub(&romeo, &juliet, CV_PRES_SUBSCRIBE);
    CHECK(is(juliet.item, "None + Pending In"));
    CHECK(juliet.delivered[CV_PRES_SUBSCRIBE] == 1);
    CHECK(is(romeo.item, "None + Pending Out"));

    /* An unrequested "subscribed" cannot put anyone into a roster. */
    fresh(&romeo, "romeo");
    fresh(&juliet, "juliet");
    receive(&romeo, &juliet, CV_PRES_SUBSCRIBED);
    CHECK(cv_sub_state_is_absent(romeo.item));
    CHECK(romeo.delivered[CV_PRES_SUBSCRIBED] == 0);
}

/* ---- invariants over every raw input, corrupt ones included ---- */

static int has(cv_sub_state_t s, unsigned bit)
{
    return ((unsigned)s.sub & bit) != 0;
}

static void check_invariants(cv_sub_state_t raw, int dir, int type)
{
    cv_sub_state_t cur = cv_sub_state_normalize(raw);
    cv_sub_result_t r = apply(dir, raw, (cv_sub_type_t)type);
    cv_sub_state_t n = r.next;
    int ok = 1;

    ok &= state_eq(n, cv_sub_state_normalize(n));
    ok &= n.pending_out <= 1 && n.pending_in <= 1 && n.preapproved <= 1 && n.in_roster <= 1;
    ok &= r.changed == !state_eq(cur, n);
    ok &= !r.push || (r.changed && (cur.in_roster || n.in_roster));
    /* Unavailable goes out exactly when the contact loses FROM. */
    ok &= r.send_unavailable == (has(cur, CV_SUB_FROM) && !has(n, CV_SUB_FROM));
    /* Presence goes out only to a contact that holds FROM afterwards. */
    ok &= !r.send_presence || has(n, CV_SUB_FROM);
    ok &= !r.auto_reply_subscribed || (has(n, CV_SUB_FROM) && !r.deliver);
    /* FROM is only ever gained on the user's word: an outbound approval or a recorded
       pre-approval. TO only by an inbound approval of a pending request. */
    if (!has(cur, CV_SUB_FROM) && has(n, CV_SUB_FROM))
        ok &= (dir == OUT && type == CV_PRES_SUBSCRIBED && cur.pending_in) ||
              (dir == IN && type == CV_PRES_SUBSCRIBE && cur.preapproved);
    if (!has(cur, CV_SUB_TO) && has(n, CV_SUB_TO))
        ok &= dir == IN && type == CV_PRES_SUBSCRIBED && cur.pending_out;
    /* An item never leaves the roster through a subscription stanza. */
    ok &= !cur.in_roster || n.in_roster;
    if (type < 0 || type > CV_PRES_UNSUBSCRIBED)
        ok &= !r.changed && !r.deliver && !r.push && !r.auto_reply_subscribed &&
              !r.send_unavailable && !r.send_presence;
    if (!ok) {
        printf("FAIL invariant: %s type %d on raw sub=%d out=%u in=%u appr=%u roster=%u\n",
               dir == OUT ? "outbound" : "inbound", type, (int)raw.sub, raw.pending_out,
               raw.pending_in, raw.preapproved, raw.in_roster);
        failures++;
    }
}

static void test_invariants(void)
{
    static const uint8_t vals[] = {0, 1, 2, 255};
    int types[] = {CV_PRES_SUBSCRIBE,
                   CV_PRES_SUBSCRIBED,
                   CV_PRES_UNSUBSCRIBE,
                   CV_PRES_UNSUBSCRIBED,
                   4,
                   -1,
                   1000};

    for (int sub = 0; sub < 8; sub++)
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
                for (int c = 0; c < 4; c++)
                    for (int d = 0; d < 4; d++) {
                        cv_sub_state_t raw = {(cv_sub_t)sub, vals[a], vals[b], vals[c], vals[d]};
                        for (size_t t = 0; t < CV_ARRAY_LEN(types); t++) {
                            check_invariants(raw, OUT, types[t]);
                            check_invariants(raw, IN, types[t]);
                        }
                    }

    /* Normalization drops what nobody granted and keeps what was stored. */
    cv_sub_state_t bad = {CV_SUB_BOTH, 1, 1, 1, 0};
    cv_sub_state_t n = cv_sub_state_normalize(bad);
    CHECK(n.sub == CV_SUB_BOTH && !n.pending_out && !n.pending_in && !n.preapproved && n.in_roster);
    bad = (cv_sub_state_t){CV_SUB_NONE, 0, 7, 9, 0};
    n = cv_sub_state_normalize(bad);
    CHECK(n.pending_in == 1 && n.preapproved == 0 && n.in_roster == 0);
    bad = (cv_sub_state_t){(cv_sub_t)6, 0, 0, 0, 0};
    CHECK(cv_sub_state_normalize(bad).sub == CV_SUB_FROM);
    CHECK(cv_sub_state_is_absent(CV_SUB_STATE_ABSENT));
    CHECK(!cv_sub_state_is_absent(state_by_name("None")->st));
    CHECK(!cv_sub_state_is_absent(state_by_name("Unlisted + Pending In")->st));
}

static void test_names(void)
{
    static const char *const names[] = {"none", "to", "from", "both"};
    for (int i = 0; i < 4; i++) {
        cv_sub_t s = (cv_sub_t)99;
        CHECK(strcmp(cv_sub_name((cv_sub_t)i), names[i]) == 0);
        CHECK(cv_sub_parse(names[i], &s) == 0 && s == (cv_sub_t)i);
    }
    cv_sub_t s = CV_SUB_TO;
    CHECK(cv_sub_parse("None", &s) == CV_EINVAL);
    CHECK(cv_sub_parse("", &s) == CV_EINVAL);
    CHECK(cv_sub_parse("both ", &s) == CV_EINVAL);
    CHECK(cv_sub_parse("remove", &s) == CV_EINVAL);
    CHECK(cv_sub_parse(NULL, &s) == CV_EINVAL);
    CHECK(cv_sub_parse("to", NULL) == CV_EINVAL);
    CHECK(s == CV_SUB_TO);
    CHECK(strcmp(cv_sub_name((cv_sub_t)7), "both") == 0);

    static const char *const types[] = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"};
    for (int i = 0; i < 4; i++) {
        cv_sub_type_t t = (cv_sub_type_t)99;
        CHECK(strcmp(cv_sub_type_name((cv_sub_type_t)i), types[i]) == 0);
        CHECK(cv_sub_type_parse(types[i], &t) == 0 && t == (cv_sub_type_t)i);
    }
    cv_sub_type_t t = CV_PRES_SUBSCRIBED;
    CHECK(cv_sub_type_parse("probe", &t) == CV_EINVAL);
    CHECK(cv_sub_type_parse("unavailable", &t) == CV_EINVAL);
    CHECK(cv_sub_type_parse("Subscribe", &t) == CV_EINVAL);
    CHECK(cv_sub_type_parse(NULL, &t) == CV_EINVAL);
    CHECK(cv_sub_type_parse("subscribe", NULL) == CV_EINVAL);
    CHECK(t == CV_PRES_SUBSCRIBED);
    CHECK(strcmp(cv_sub_type_name((cv_sub_type_t)4), "?") == 0);
    CHECK(strcmp(cv_sub_type_name((cv_sub_type_t)-1), "?") == 0);
}

int main(void)
{
    test_tables();
    test_walkthroughs();
    test_invariants();
    test_names();
    printf("%d failed\n", failures);
    return failures != 0;
}
