/*
 * Entity time (XEP-0202) of the server: its UTC time and the offset of the time zone it
 * runs in (XEP-0082 formats). The offset comes from the C library's view of the local
 * zone (TZ or /etc/localtime) at this very instant, so daylight saving time is included;
 * a server run in UTC answers "+00:00".
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "corvid/iq.h"

#define NS_TIME "urn:xmpp:time"

/* Fills utc ("CCYY-MM-DDThh:mm:ss.sssZ") and tzo ("+hh:mm" or "-hh:mm") for ts.
   Returns 0, or CV_EINVAL when the C library cannot break the time down. */
static int format_time(const struct timespec *ts, char utc[32], char tzo[8])
{
    struct tm gm, local;
    char date[24];

    if (!gmtime_r(&ts->tv_sec, &gm) || !localtime_r(&ts->tv_sec, &local))
        return CV_EINVAL;
    if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &gm) == 0)
        return CV_EINVAL;
    snprintf(utc, 32, "%s.%03uZ", date, (unsigned)(ts->tv_nsec / 1000000L) % 1000u);
    /* tm_gmtoff is seconds east of UTC; zones with a seconds part (historic local mean
       times) have no exact TZD form, so the seconds are dropped. */
    long off = local.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    unsigned long abs_off = off < 0 ? (unsigned long)-off : (unsigned long)off;
    snprintf(tzo, 8, "%c%02u:%02u", sign, (unsigned)(abs_off / 3600u) % 100u,
             (unsigned)(abs_off % 3600u) / 60u);
    return 0;
}

static int add_text_child(cv_stanza_t *r, cv_xml_node_t *parent, const char *name, const char *text)
{
    cv_xml_node_t *el = cv_stanza_add_child(r, parent, name, NULL);
    return el ? cv_stanza_add_text(r, el, text, strlen(text)) : CV_ENOMEM;
}

int cv_mod_time_iq(cv_iq_t *q)
{
    cv_stanza_t *r = NULL;
    struct timespec now;
    char utc[32], tzo[8];
    int rc;

    if (q->is_set)
        return cv_iq_error(q, CV_STE_BAD_REQUEST, NULL);
    if (clock_gettime(CLOCK_REALTIME, &now) != 0 || format_time(&now, utc, tzo) < 0)
        return cv_iq_error(q, CV_STE_INTERNAL_SERVER_ERROR, NULL);
    rc = cv_iq_reply(q, "result", &r);
    if (rc < 0)
        return rc;
    cv_xml_node_t *time_el = cv_stanza_add_child(r, cv_stanza_root(r), "time", NS_TIME);
    rc = time_el ? add_text_child(r, time_el, "tzo", tzo) : CV_ENOMEM;
    if (rc == 0)
        rc = add_text_child(r, time_el, "utc", utc);
    if (rc < 0) {
        cv_stanza_free(r);
        return rc;
    }
    return cv_iq_send(q, r);
}
