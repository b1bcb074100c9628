/*
 * storage/roster_codec.c — the compact record of one roster item (format in
 * storage/store_int.h), shared by backends that store an item as one blob.
 *
 * Decoding trusts nothing: a record comes from disk and a damaged or foreign file must
 * give CV_ESTORE, not a read past the record.
 */
#include <string.h>

#include "corvid/core.h"
#include "corvid/log.h"
#include "corvid/store.h"
#include "store_int.h"

#define ROSTER_RECORD_V1 1u
#define ROSTER_FLAG_ASK 0x04u
#define ROSTER_FLAG_APPROVED 0x08u
#define ROSTER_FLAG_PENDING_IN 0x10u
/* Set for a record that only keeps an unanswered request from a stranger (RFC 6121
   §3.1.3): inverted so that a record without the bit is a roster item. */
#define ROSTER_FLAG_NOT_IN_ROSTER 0x20u
#define ROSTER_FLAG_KNOWN 0x3fu

static const char *roster_str(const char *s)
{
    return s != NULL ? s : "";
}

/* Adds the encoded size of s to *size. Returns 0 or CV_ELIMIT. */
static int roster_str_size(const char *s, size_t *size)
{
    size_t len = strlen(roster_str(s));

    if (len > CV_STORE_ROSTER_TEXT_MAX)
        return CV_ELIMIT;
    *size += 2 + len + 1;
    return 0;
}

int cv__store_roster_encoded_size(const cv_store_roster_item_t *item, size_t *size)
{
    size_t n = 2 + 2; /* format, flags, group count */
    int rc;

    if ((unsigned)item->sub > CV_STORE_SUB_BOTH || (item->ngroups != 0 && item->groups == NULL))
        return CV_EINVAL;
    if (item->ngroups > CV_STORE_ROSTER_GROUPS_MAX)
        return CV_ELIMIT;
    rc = roster_str_size(item->name, &n);
    if (rc == 0)
        rc = roster_str_size(item->pending_status, &n);
    for (size_t i = 0; rc == 0 && i < item->ngroups; i++) {
        if (item->groups[i] == NULL)
            return CV_EINVAL;
        rc = roster_str_size(item->groups[i], &n);
    }
    if (rc == 0)
        *size = n;
    return rc;
}

static unsigned char *roster_put_u16(unsigned char *p, size_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
    return p + 2;
}

static unsigned char *roster_put_str(unsigned char *p, const char *s)
{
    size_t len = strlen(roster_str(s));

    p = roster_put_u16(p, len);
    memcpy(p, roster_str(s), len);
    p[len] = '\0';
    return p + len + 1;
}

void cv__store_roster_encode(const cv_store_roster_item_t *item, unsigned char *out)
{
    unsigned flags = (unsigned)item->sub;

    if (item->ask)
        flags |= ROSTER_FLAG_ASK;
    if (item->approved)
        flags |= ROSTER_FLAG_APPROVED;
    if (item->pending_in)
        flags |= ROSTER_FLAG_PENDING_IN;
    if (!item->in_roster)
        flags |= ROSTER_FLAG_NOT_IN_ROSTER;
    out[0] = ROSTER_RECORD_V1;
    out[1] = (unsigned char)flags;
    out = roster_put_str(out + 2, item->name);
    out = roster_put_str(out, item->pending_status);
    out = roster_put_u16(out, item->ngroups);
    for (size_t i = 0; i < item->ngroups; i++)
        out = roster_put_str(out, item->groups[i]);
}

/* Reads a length-prefixed, NUL-terminated string at *pos; the text must hold no NUL. */
static int roster_get_str(const unsigned char *rec, size_t len, size_t *pos, const char **out)
{
    size_t n;

    if (len - *pos < 2)
        return CV_ESTORE;
    n = (size_t)rec[*pos] << 8 | rec[*pos + 1];
    *pos += 2;
    if (n > CV_STORE_ROSTER_TEXT_MAX || len - *pos < n + 1 || rec[*pos + n] != '\0' ||
        memchr(rec + *pos, '\0', n) != NULL)
        return CV_ESTORE;
    *out = (const char *)rec + *pos;
    *pos += n + 1;
    return 0;
}

int cv__store_roster_decode(const void *rec, size_t len, const char *contact,
                            cv_store_roster_item_t *item, const char **gv)
{
    const unsigned char *p = rec;
    size_t pos = 2;
    size_t ng;
    int rc = CV_ESTORE;

    memset(item, 0, sizeof *item);
    if (len < 2 || p[0] != ROSTER_RECORD_V1 || (p[1] & ~ROSTER_FLAG_KNOWN) != 0)
        goto out;
    item->contact = contact;
    item->sub = (cv_store_sub_t)(p[1] & 3u);
    item->ask = (p[1] & ROSTER_FLAG_ASK) != 0;
    item->approved = (p[1] & ROSTER_FLAG_APPROVED) != 0;
    item->pending_in = (p[1] & ROSTER_FLAG_PENDING_IN) != 0;
    item->in_roster = (p[1] & ROSTER_FLAG_NOT_IN_ROSTER) == 0;
    if (roster_get_str(p, len, &pos, &item->name) < 0 ||
        roster_get_str(p, len, &pos, &item->pending_status) < 0 || len - pos < 2)
        goto out;
    ng = (size_t)p[pos] << 8 | p[pos + 1];
    pos += 2;
    if (ng > CV_STORE_ROSTER_GROUPS_MAX)
        goto out;
    for (size_t i = 0; i < ng; i++)
        if (roster_get_str(p, len, &pos, &gv[i]) < 0)
            goto out;
    if (pos != len)
        goto out;
    item->groups = gv;
    item->ngroups = ng;
    rc = 0;
out:
    if (rc < 0)
        cv_error("storage: corrupt roster record for %s (%zu bytes)", contact, len);
    return rc;
}

int cv__store_roster_copy(const cv_store_roster_item_t *item, cv_store_roster_item_t **out)
{
    const char *src[3 + CV_STORE_ROSTER_GROUPS_MAX];
    size_t lens[3 + CV_STORE_ROSTER_GROUPS_MAX];
    size_t nstr = 3 + item->ngroups;
    size_t size = sizeof **out + item->ngroups * sizeof(char *);
    cv_store_roster_item_t *c;
    const char **gv;
    char *p;

    CV_ASSERT(item->ngroups <= CV_STORE_ROSTER_GROUPS_MAX);
    src[0] = roster_str(item->contact);
    src[1] = roster_str(item->name);
    src[2] = roster_str(item->pending_status);
    for (size_t i = 0; i < item->ngroups; i++)
        src[3 + i] = item->groups[i];
    for (size_t i = 0; i < nstr; i++) {
        lens[i] = strlen(src[i]) + 1;
        size += lens[i];
    }
    c = malloc(size);
    if (c == NULL)
        return CV_ENOMEM;
    *c = *item;
    gv = (const char **)(c + 1);
    p = (char *)(gv + item->ngroups);
    for (size_t i = 0; i < nstr; i++) {
        memcpy(p, src[i], lens[i]);
        if (i == 0)
            c->contact = p;
        else if (i == 1)
            c->name = p;
        else if (i == 2)
            c->pending_status = p;
        else
            gv[i - 3] = p;
        p += lens[i];
    }
    c->groups = item->ngroups != 0 ? gv : NULL;
    *out = c;
    return 0;
}
