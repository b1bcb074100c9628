/*
 * Last activity (XEP-0012). Asked of the server, it is the server's uptime (§5). Asked of
 * an account's bare JID, the server answers for the account (§4): 0 while the account
 * has a connected resource, otherwise the seconds since its last logout and the status
 * text of that unavailable presence, as the store recorded them. The time of a user's
 * last logout is presence information, so only entities allowed to see the account's
 * presence (the account itself, or a contact with a 'from' or 'both' subscription in the
 * account's roster) get it; everybody else gets <forbidden/>, which §4 requires.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corvid/clock.h"
#include "corvid/iq.h"
#include "corvid/log.h"
#include "corvid/server.h"
#include "corvid/store.h"

#define NS_LAST "jabber:iq:last"

/* Sends <query xmlns='jabber:iq:last' seconds='secs'>status</query>; status may be NULL. */
static int answer(cv_iq_t *q, uint64_t secs, const char *status, size_t status_len)
{
    cv_stanza_t *r = NULL;
    char num[24];
    int rc = cv_iq_reply(q, "result", &r);
    if (rc < 0)
        return rc;
    snprintf(num, sizeof num, "%" PRIu64, secs);
    cv_xml_node_t *query = cv_stanza_add_child(r, cv_stanza_root(r), "query", NS_LAST);
    rc = query ? cv_stanza_set_attr(r, query, "seconds", num) : CV_ENOMEM;
    if (rc == 0 && status && status_len > 0) {
        rc = cv_stanza_add_text(r, query, status, status_len);
        /* Text the store gave back that is not valid XML character data is dropped: the
           seconds are the answer, the status is a courtesy. */
        if (rc == CV_EINVAL)
            rc = 0;
    }
    if (rc < 0) {
        cv_stanza_free(r);
        return rc;
    }
    return cv_iq_send(q, r);
}

/* Whether the sender may see the presence of the account q->to: 1 yes, 0 no, or -CV_E*. */
static int may_see_presence(cv_iq_t *q)
{
    cv_buf_t bare = CV_BUF_INIT;
    cv_store_roster_item_t *item = NULL;
    int rc = cv_jid_format_bare(q->from, &bare);
    if (rc < 0)
        goto out;
    rc = cv_store_roster_get_item(q->srv->store, q->to->domain, q->to->local, bare.data, &item);
    if (rc == CV_ENOTFOUND) {
        rc = 0;
        goto out;
    }
    if (rc < 0)
        goto out;
    rc = item->sub == CV_STORE_SUB_FROM || item->sub == CV_STORE_SUB_BOTH;
out:
    free(item);
    cv_buf_free(&bare);
    return rc;
}

static void count_session(cv_sess_entry_t *e, void *arg)
{
    CV_UNUSED(e);
    (*(size_t *)arg)++;
}

static int account_last(cv_iq_t *q)
{
    cv_buf_t status = CV_BUF_INIT;
    uint64_t logout = 0;
    size_t online = 0;
    int rc = may_see_presence(q);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        rc = cv_iq_error(q, CV_STE_FORBIDDEN, NULL);
        goto out;
    }
    /* §4: a connected resource (available or not) makes the answer 0. */
    cv_sessions_visit_bare(q->srv->sessions, q->to, count_session, &online);
    if (online > 0) {
        rc = answer(q, 0, NULL, 0);
        goto out;
    }
    rc = cv_store_last_get(q->srv->store, q->to->domain, q->to->local, &logout, &status);
    if (rc == CV_ENOTFOUND) {
        /* Never logged out since activity is recorded. XEP-0012 names no condition for
           this; service-unavailable is what a missing account gets as well, so the answer
           tells nothing a requester may not know. */
        rc = cv_iq_error(q, CV_STE_SERVICE_UNAVAILABLE, NULL);
        goto out;
    }
    if (rc < 0)
        goto fail;
    uint64_t now = (uint64_t)time(NULL);
    rc = answer(q, now > logout ? now - logout : 0, status.data, status.len);
    goto out;
fail:
    cv_warn("last activity of %s@%s: %s", q->to->local, q->to->domain, cv_strerror(rc));
    rc = cv_iq_error(q, CV_STE_INTERNAL_SERVER_ERROR, NULL);
out:
    cv_buf_free(&status);
    return rc;
}

int cv_mod_last_iq(cv_iq_t *q)
{
    if (q->is_set)
        return cv_iq_error(q, CV_STE_BAD_REQUEST, NULL);
    if (q->to_server) {
        uint64_t now = cv_clock_ms();
        uint64_t up = now > q->srv->started_ms ? now - q->srv->started_ms : 0;
        return answer(q, up / 1000u, NULL, 0);
    }
    /* The sender's own account: the sender itself is a connected resource (§4). */
    if (!q->to)
        return answer(q, 0, NULL, 0);
    return account_last(q);
}
