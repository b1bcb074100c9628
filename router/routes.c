#include <string.h>

#include "corvid/routes.h"

/* Open addressing with linear probing; the table doubles past half full, so a lookup
   probes a slot or two. */
struct cv_routes_s {
    cv_route_t *slots; /* domain NULL: empty */
    size_t cap;        /* power of two */
    size_t n;
};

static uint64_t hash_domain(const char *d)
{
    return cv_hash_text(CV_HASH_SEED, d);
}

int cv_routes_create(cv_routes_t **out)
{
    cv_routes_t *t = calloc(1, sizeof *t);
    if (!t)
        return CV_ENOMEM;
    t->cap = 16;
    t->slots = calloc(t->cap, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return CV_ENOMEM;
    }
    *out = t;
    return 0;
}

void cv_routes_free(cv_routes_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->cap; i++)
        free((char *)t->slots[i].domain);
    free(t->slots);
    free(t);
}

static cv_route_t *slot_for(cv_route_t *slots, size_t cap, const char *domain)
{
    size_t i = hash_domain(domain) & (cap - 1);
    while (slots[i].domain && strcmp(slots[i].domain, domain) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(cv_routes_t *t)
{
    size_t cap = t->cap * 2;
    cv_route_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return CV_ENOMEM;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].domain)
            *slot_for(slots, cap, t->slots[i].domain) = t->slots[i];
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

int cv_routes_add(cv_routes_t *t, const char *domain, cv_route_kind_t kind, void *target)
{
    if ((t->n + 1) * 2 > t->cap && grow(t) < 0)
        return CV_ENOMEM;
    cv_route_t *s = slot_for(t->slots, t->cap, domain);
    if (s->domain)
        return CV_EEXIST;
    s->domain = strdup(domain);
    if (!s->domain)
        return CV_ENOMEM;
    s->kind = kind;
    s->target = target;
    t->n++;
    return 0;
}

const cv_route_t *cv_routes_lookup(const cv_routes_t *t, const char *domain)
{
    const cv_route_t *s = slot_for(t->slots, t->cap, domain);
    return s->domain ? s : NULL;
}
