/*
 * corvid/routes.h — the route table: where stanzas for a domain go.
 *
 * Every domain the server knows has one entry: its own virtual hosts (local delivery),
 * and — once federation and components exist — connected components (XEP-0114) and
 * remote servers (S2S). A domain without an entry is a remote domain nobody serves here:
 * the router answers remote-server-not-found (RFC 6120 §10.4.3).
 *
 * Owns its entries (copies of the domain names). Thread: built by the main thread before
 * the workers start, then read-only, so any thread may look up without a lock. Adding
 * components at run time will need a copy-and-swap of the table (noted for that work).
 */
#ifndef CORVID_ROUTES_H
#define CORVID_ROUTES_H

#include "corvid/core.h"

typedef enum cv_route_kind_e {
    CV_ROUTE_LOCAL = 1,     /* a virtual host of this server */
    CV_ROUTE_COMPONENT = 2, /* an external component (XEP-0114) */
    CV_ROUTE_REMOTE = 3,    /* a remote server over S2S */
} cv_route_kind_t;

typedef struct cv_route_s {
    const char *domain;
    cv_route_kind_t kind;
    void *target; /* what the kind needs to reach it (component or S2S link); NULL for local */
} cv_route_t;

typedef struct cv_routes_s cv_routes_t;

/* Thread: main. Returns 0 or CV_ENOMEM. */
int cv_routes_create(cv_routes_t **out);
void cv_routes_free(cv_routes_t *t);
/* Thread: main, before workers start. domain must be normalized (lowercase). Returns 0,
   CV_EEXIST or CV_ENOMEM. */
int cv_routes_add(cv_routes_t *t, const char *domain, cv_route_kind_t kind, void *target);
/* Thread: any. The entry for domain, or NULL. */
const cv_route_t *cv_routes_lookup(const cv_routes_t *t, const char *domain);

#endif
