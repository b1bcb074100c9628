/*
 * router/roster_int.h — rosters, presence and subscriptions inside the router:
 * mod_roster.c (jabber:iq:roster), presence.c (broadcast, probes, directed presence,
 * subscriptions, unavailable on close), offline.c (XEP-0160).
 * All of it runs in actors, on any worker.
 */
#ifndef CORVID_ROSTER_INT_H
#define CORVID_ROSTER_INT_H

#include "corvid/iq.h"
#include "corvid/store.h"
#include "c2s_int.h"

/* Serializes changes of one account's roster (read-modify-write of its items). */
void cv__roster_lock(const char *host, const char *user);
void cv__roster_unlock(const char *host, const char *user);

/* Appends <item/> for it (or subscription='remove') under query. */
int cv__roster_item_xml(cv_stanza_t *r, cv_xml_node_t *query, const cv_store_roster_item_t *it,
                        int removed);
/* Sends a roster push of one item to every resource of user@host that asked for the
   roster. */
int cv__roster_push(cv_server_t *srv, cv_worker_t *from, const char *host, const char *user,
                    const cv_store_roster_item_t *item, int removed, uint64_t ver);
/* Roster removal of a contact (RFC 6121 §2.5.2): cancels the subscriptions both ways,
   removes the item, pushes the removal. */
int cv__roster_remove_contact(cv_server_t *srv, cv_worker_t *from, cv_c2s_t *s,
                              const cv_jid_t *contact, const char *contact_bare);
/* The account of s is being cancelled (XEP-0077 §3.2): every subscription it has with a
   contact, either way or pending, is cancelled as a roster removal would (RFC 6121
   §2.5.2), so the contacts' rosters keep nothing a new owner of the name would inherit.
   Before the account is deleted. */
int cv__roster_cancel_all(cv_server_t *srv, cv_worker_t *from, cv_c2s_t *s);
/* Counts user@host's roster records: items the user sees, and requests kept from
   strangers (not in the roster). Returns 0 or -CV_E*. */
int cv__roster_counts(cv_server_t *srv, const char *host, const char *user, size_t *visible,
                      size_t *hidden);
int cv_mod_roster(cv_iq_t *q);

/* presence.c. st is the stanza (from stamped); to is its parsed 'to' (NULL: none). */
void cv__presence_broadcast(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s, cv_xml_node_t *st);
void cv__presence_directed(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s, cv_xml_node_t *st,
                           const cv_jid_t *to);
/* Subscription presence and probes to a local account (the rules' "server" action). */
void cv__presence_server(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s, cv_xml_node_t *st,
                         const cv_jid_t *to);
/* XEP-0191 §3.3, §3.4: user@host blocked (blocked 1) or unblocked the n blocklist items:
   each contact they cover that may get the user's presence (from/both) gets unavailable
   from, or the current presence of, each of the user's available resources (only the
   named resource of a full-JID item). Thread: an actor (it reads the roster). */
void cv__presence_blocklist_changed(cv_server_t *srv, cv_worker_t *self, const char *host,
                                    const char *user, const char *const *items, size_t n,
                                    int blocked);
/* Runs in s's actor: s's current available presence goes to its subscribers and its
   account's other resources again (after a replaced session's unavailable, which carried
   the same full JID; nothing if s is not available). */
void cv__presence_refresh(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s);
/* Frees presence state at the session's last release. */
void cv__presence_free(cv_c2s_t *s);

/* mod_blocking.c (XEP-0191) */
int cv_mod_blocking(cv_iq_t *q);
/* Whether user@host has any blocklist item (for the sessions' has_blocklist). */
int cv__blocking_load(cv_server_t *srv, const char *host, const char *user);
/* Whether user@host blocks who (its full JID, bare JID or domain). */
int cv__blocking_blocks(cv_server_t *srv, const char *host, const char *user, const cv_jid_t *who);
/* Answers the sender's stanza to a JID it blocks with not-acceptable + <blocked/>. */
void cv__blocking_refuse(cv_server_t *srv, cv_worker_t *from, cv_c2s_t *sender,
                         const cv_xml_node_t *st);

/* offline.c */
/* Stores a message for an account with no available resource (durable, group commit);
   on failure the sender gets an error. */
void cv__offline_store(cv_server_t *srv, cv_c2s_t *sender, cv_xml_node_t *st, const cv_jid_t *to);
/* Stores already serialized message bytes for host/user, adding the delay stamp. Thread:
   any (used when a chosen recipient vanished before delivery). */
void cv__offline_store_bytes(cv_server_t *srv, const char *host, const char *user, const char *data,
                             size_t len);
/* Thread: s's actor, on a store trip (it waits for a commit). Delivers the account's
   stored messages to s and deletes them, a batch at a time: one that leaves more behind
   asks s's ring to tell when it has left the output queue, and the next batch follows
   then (cv__offline_drained). Two sessions of one account never get the same message. */
void cv__offline_deliver(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s);
/* Thread: any. A collected message could not be written to its session after all (it
   went away on the way): back to storage in its old place. Takes over the message's hold
   on its flight (settled once the store answered). */
void cv__offline_restore(cv_server_t *srv, const char *host, const char *user, uint64_t seq,
                         uint64_t stamp, const char *data, size_t len, cv_offline_flight_t *flight);
/* Thread: any. One hold on a collected batch's flight is let go (a message of it written,
   dropped or, put_back 1, back in storage); the last one ends the flight (router/offline.c). */
void cv__offline_flight_settle(cv_offline_flight_t *f, int put_back);
/* Thread: any; self is the caller's worker or NULL. A collection for s failed (the store
   could not read or delete, or memory ran out): s asks again at its next stanza and, at
   the latest, CV_OFFLINE_RETRY_MS later, so a client that only listens gets what is
   stored once the store works again. One timer per session at a time. */
#define CV_OFFLINE_RETRY_MS 5000u
void cv__offline_retry_later(cv_worker_t *self, cv_c2s_t *s);
/* Thread: any. A message for user@host became durable: if the account has an available
   session with non-negative priority (other than skip) by now, that session collects the
   stored messages (it may have collected before the commit). */
void cv__offline_recheck(cv_server_t *srv, const char *user, const char *host,
                         const cv_c2s_t *skip);

#endif
