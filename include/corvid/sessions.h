/*
 * corvid/sessions.h — the sharded table of bound sessions, keyed by full JID.
 *
 * Owns the shards and their chains; the entries are embedded in the session objects,
 * which their owners allocate and free. A bare JID's resources all hash to one shard
 * (the shard is chosen by the bare-JID hash), so a lookup or a bind touches one shard
 * and one lock; no lock covers the whole table.
 *
 * Thread: any, for every function after creation.
 */
#ifndef CORVID_SESSIONS_H
#define CORVID_SESSIONS_H

#include "corvid/jid.h"

typedef struct cv_sessions_s cv_sessions_t;

/* Embedded in a session. jid must stay valid and unchanged while the entry is in the table. */
typedef struct cv_sess_entry_s {
    struct cv_sess_entry_s *next; /* shard chain; guarded by the shard lock */
    const cv_jid_t *jid;          /* full JID */
    uint64_t bare_hash;           /* cv_jid_bare_hash(jid), set by insert */
    int in_table;                 /* guarded by the shard lock */
} cv_sess_entry_t;

/* shards: rounded up to a power of two. Returns 0 or -CV_ENOMEM. Thread: main. */
int cv_sessions_create(cv_sessions_t **out, unsigned shards);
void cv_sessions_free(cv_sessions_t *t);

/* The most resources one account may have bound at once: the router gathers an account's
   sessions into arrays of this size, so a bind past it is refused (RFC 6120 §7.6.2.1,
   resource-constraint) rather than leave some resources out of routing. */
#define CV_MAX_RESOURCES 64

/* Inserts e. When an entry with the same full JID is there, it is unlinked and, still
   under the shard lock, passed to hold() so the caller can take a reference before any
   other thread could free it; then *replaced is set to it. Otherwise, when e's bare JID
   has max_per_bare entries already, nothing changes and CV_ELIMIT is returned. Returns 0
   or -CV_E*. */
int cv_sessions_insert(cv_sessions_t *t, cv_sess_entry_t *e, size_t max_per_bare,
                       void (*hold)(cv_sess_entry_t *old), cv_sess_entry_t **replaced);
/* Removes e if it is still in the table (it may have been replaced). */
void cv_sessions_remove(cv_sessions_t *t, cv_sess_entry_t *e);
/* Calls visit(e, arg) for every entry whose bare JID equals bare's (its resource is
   ignored), under that shard's lock: visit must be short, must not call into the table,
   and takes a reference on e if it keeps it. */
void cv_sessions_visit_bare(cv_sessions_t *t, const cv_jid_t *bare,
                            void (*visit)(cv_sess_entry_t *e, void *arg), void *arg);
/* Number of entries (sums the shards; for statistics and tests). */
size_t cv_sessions_count(cv_sessions_t *t);

#endif
