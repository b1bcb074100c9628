/*
 * router/c2s_int.h — the state of one client stream, shared by the C2S files:
 * c2s.c (stream lifecycle, features, dispatch), c2s_auth.c (SASL, legacy auth),
 * c2s_bind.c (resource binding, session, server IQs) and mod_register.c (XEP-0077).
 * All of it runs on the connection's ring thread.
 */
#ifndef CORVID_C2S_INT_H
#define CORVID_C2S_INT_H

#include "corvid/jid.h"
#include "corvid/offload.h"
#include "corvid/sasl.h"
#include "corvid/sessions.h"
#include "corvid/server.h"
#include "corvid/stanza.h"
#include "corvid/xml_stream.h"
#include "corvid/xmpp.h"

/* Where the stream is in RFC 6120 negotiation. */
typedef enum cv_c2s_phase_e {
    CV_C2S_WAIT_HEADER = 0, /* waiting for <stream:stream> (also after a restart) */
    CV_C2S_NEGOTIATING,     /* header done: features sent, TLS/SASL in progress */
    CV_C2S_AUTHENTICATED,   /* SASL done, stream restarted: bind next */
    CV_C2S_BOUND,           /* a resource is bound: stanzas flow */
    CV_C2S_CLOSED,          /* a closing tag or stream error was written */
} cv_c2s_phase_t;

/* Why the parser was paused inside on_stanza. */
typedef enum cv_c2s_pause_e {
    CV_C2S_PAUSE_NONE = 0,
    CV_C2S_PAUSE_STARTTLS, /* <proceed/> sent: switch to TLS, drop buffered plaintext */
    CV_C2S_PAUSE_RESTART,  /* SASL <success/> sent: restart the XML stream */
    CV_C2S_PAUSE_AUTH,     /* a password check runs off the ring: hold further input */
} cv_c2s_pause_t;

/* Bits of cv_c2s_t.offline_flags. */
#define CV__OFFLINE_RECHECK_QUEUED 1u
#define CV__OFFLINE_RETRY 2u
#define CV__OFFLINE_RETRY_ARMED 4u

typedef struct cv_c2s_s {
    /* References: one held by the connection until it closes, one by each task in flight
       to this session from another ring. The last release frees the struct. */
    atomic_uint refs;
    /* Stanzas received and not yet routed (limits.max_pending_stanzas): raised by the
       ring as it hands one to the actor, lowered wherever it is routed. */
    atomic_uint pending;
    cv_server_t *srv;
    cv_conn_t *conn; /* NULL once the connection closed */
    cv_worker_t *worker;
    const cv_conf_listener_t *listener;
    cv_xml_stream_t *xml;
    cv_c2s_phase_t phase;
    cv_c2s_pause_t pause;
    uint8_t header_sent;   /* our <stream:stream> went out for the current stream */
    uint8_t authenticated; /* SASL (or legacy auth) succeeded */
    uint8_t auth_failures; /* failed SASL exchanges on this stream */
    /* A SASL step runs on the offload pool (it holds a reference and uses sasl): input
       that arrives meanwhile waits in held, and sasl is left alone until it is back. */
    uint8_t auth_pending;
    /* Set once at bind, before the first stanza goes to the actor, never changed after:
       from then on everything this session sends is routed through its actor, and output
       to it goes through its ring's inbox. Any thread may read it. (The one-byte fields
       sit together: every idle session pays for the padding between them.) */
    uint8_t routed;
    /* Actor only: whether initial presence was sent (directed, below, is its company). */
    uint8_t initial_sent;
    /* 1 while a batch of offline messages is on its way to this session and more wait in
       storage: the ring clears it once the batch has left (on_drained) and asks the actor
       to collect the next. Collections meanwhile do nothing (router/offline.c). */
    _Atomic uint8_t offline_paced;
    /* CV__OFFLINE_RECHECK_QUEUED from when a recheck of the offline store is queued on
       the actor (cv__route_offline_recheck) until the actor starts it: asking again
       meanwhile adds nothing, since the queued one reads the store when it runs, after
       whatever was written before the ask. The actor takes the bit back by an atomic
       and (acquiring what the last asker wrote) before it reads the store.
       CV__OFFLINE_RETRY: a collection failed (the store could not fetch or delete), so
       what is stored waits; the session's next stanza asks again (route_stanza), and so
       does a timer on its ring (cv__offline_retry_later), armed while
       CV__OFFLINE_RETRY_ARMED is set. */
    _Atomic uint8_t offline_flags;
    cv_buf_t held;
    const char *host; /* the served host the client addressed (points into config) */
    char stream_id[24];
    cv_sasl_env_t sasl_env;
    cv_sasl_t *sasl; /* an exchange in progress */
    char *sasl_user; /* normalized username the lookup saw last */
    char *user;      /* normalized localpart after authentication */
    cv_jid_t jid;    /* full JID once bound */
    char *full;      /* the same as text, for stamping 'from' (set at bind, then constant) */
    /* " to='<full, escaped>'": what deliveries insert into a stanza that has no 'to'
       (set at bind, then constant). */
    char *to_attr;
    cv_sess_entry_t entry; /* in srv->sessions while bound */
    /* Posted to this session's ring to end it from elsewhere (replaced by a new bind, the
       account cancelled); close_cond is the stream error, CV_SE_NONE for a plain close. */
    cv_net_task_t close_task;
    cv_stream_err_t close_cond;
    atomic_int close_posted; /* close_task is queued (it can be queued once) */
    cv_actor_t actor;        /* handles this session's stanzas in order, on any worker */
    /* Presence state for delivery decisions (RFC 6121 §8.5.2): written by the actor,
       read by other actors when they route to this account; relaxed is enough, a stale
       value only picks the resources of a moment earlier. available is one of
       CV_C2S_UNAVAILABLE, CV_C2S_AVAILABLE or CV_C2S_GONE: the ring sets GONE, for good,
       when the stream starts closing (its connection may take long to go), so nothing is
       routed to it or collected by it; see cv__c2s_set_available. */
    atomic_int available;
    atomic_int priority;
    atomic_int roster_requested; /* asked for the roster: gets roster pushes (RFC 6121 §2.1.6) */
    atomic_int blocklist_requested; /* asked for the blocklist: gets its pushes (XEP-0191) */
    atomic_int has_blocklist;       /* the account blocks someone (set for all its sessions) */
    /* The last available presence broadcast by this session, serialized: the answer to
       probes and to contacts' initial presence. Read and swapped only under the shard
       lock of this session's bare JID (cv_sessions_visit_bare). */
    struct cv_payload_s *last_presence;
    /* Actor only: the JIDs that got directed presence (RFC 6121 §4.6) and must get
       unavailable presence when it goes. */
    char **directed;
    size_t ndirected;
    /* Actor only. A stanza that changes stored data (a roster or subscription change, a
       blocklist, vCard, private XML or password change, the first presence that collects
       offline messages) waits for the disk, so the actor hands it to the store_jobs pool
       instead of stalling its worker, and parks until the job is back (router/route.c).
       NULL while not parked: allocated per trip, since idle sessions never need it. */
    struct cv__store_trip_s *trip;
    /* While the ring has stopped reading because too many stanzas are pending: the task
       that resumes it, posted by whoever takes it (an atomic exchange) once a quarter are
       left. NULL otherwise. */
    _Atomic(struct cv__input_resume_s *) input_resume;
} cv_c2s_t;

/* c2s.c */
/* Runs on the session's ring when a password check done off the ring has been answered:
   applies the pause the answer asked for (a stream restart after success) and feeds the
   input held meanwhile. rc is what the answer's handler returned (<0: the stream ends). */
void cv__c2s_resume(cv_c2s_t *s, int rc);
/* Writes raw XML; on a full output queue the stream ends. Returns 0 or -CV_E*. */
int cv__c2s_write(cv_c2s_t *s, const char *data, size_t len);
int cv__c2s_write_buf(cv_c2s_t *s, const cv_buf_t *b);
/* The same for pieces of one stanza: all are queued or none (cv_net_conn_write_pieces). */
int cv__c2s_write_pieces(cv_c2s_t *s, const cv_net_piece_t *pieces, size_t n);
/* Serializes st (a stanza in jabber:client) and writes it. */
int cv__c2s_send_stanza(cv_c2s_t *s, const cv_xml_node_t *st);
/* Writes the stream error (and our header first if none went out yet), then closes. */
void cv__c2s_stream_error(cv_c2s_t *s, cv_stream_err_t cond, const char *text);
/* Replies to iq/message/presence with an error stanza (never to an error). */
int cv__c2s_stanza_error(cv_c2s_t *s, const cv_xml_node_t *st, cv_stanza_err_t cond,
                         const char *text);
/* Starts a reply to req: same element name and id, the request's 'to' as 'from', the
   bound full JID as 'to', and the given type. The caller adds children, sends, frees. */
int cv__c2s_reply_new(cv_c2s_t *s, const cv_xml_node_t *req, const char *type, cv_stanza_t **out);
/* Sends an empty <iq type='result'/> for iq. */
int cv__c2s_iq_result(cv_c2s_t *s, const cv_xml_node_t *iq);
/* Whether TLS is still required before anything but <starttls/>. */
int cv__c2s_tls_pending(const cv_c2s_t *s);

/* c2s_job.c: a slow step of negotiation (password check or derivation, account creation)
   run off the ring. The caller embeds the job in its own allocation and fills in work,
   finish and free; job, back and s belong to c2s_job.c. */
typedef struct cv__c2s_job_s cv__c2s_job_t;
struct cv__c2s_job_s {
    cv_offload_job_t job;
    cv_net_task_t back;
    cv_c2s_t *s;
    /* Pool thread: the slow part. Touches only the job (and thread-safe services such as
       the store), never the connection, the parser or the session's SASL state. */
    void (*work)(cv__c2s_job_t *j);
    /* Session's ring, connection still open: the answer. Returns what a stanza handler
       returns (<0: the stream ends). */
    int (*finish)(cv__c2s_job_t *j);
    /* Session's ring, always, last: frees the job (wiping any secret in it). */
    void (*free)(cv__c2s_job_t *j);
};
/* Thread: session's ring, inside a stanza handler. Starts j: the parser pauses and later
   input is held until finish ran. Returns 1 (what a handler returns to pause). */
int cv__c2s_job_start(cv_c2s_t *s, cv__c2s_job_t *j);

/* c2s_auth.c */
void cv__c2s_auth_init(cv_c2s_t *s);
/* Appends <mechanisms/> (and channel-binding info) to features. */
int cv__c2s_auth_features(cv_c2s_t *s, cv_buf_t *features);
/* Handles <auth/>, <response/>, <abort/> in the SASL namespace. */
int cv__c2s_auth_handle(cv_c2s_t *s, const cv_xml_node_t *el);
/* Handles a jabber:iq:auth IQ (XEP-0078) before authentication. */
int cv__c2s_legacy_auth(cv_c2s_t *s, const cv_xml_node_t *iq, const cv_xml_node_t *query);
void cv__c2s_auth_free(cv_c2s_t *s);

/* c2s_bind.c */
int cv__c2s_bind(cv_c2s_t *s, const cv_xml_node_t *iq, const cv_xml_node_t *bind);
/* Binds a resource (prepared or NULL for a generated one): used by bind and legacy auth. */
int cv__c2s_bind_resource(cv_c2s_t *s, const char *resource, cv_stanza_err_t *err);
/* Handles a stanza from a bound session. */
int cv__c2s_bound_stanza(cv_c2s_t *s, cv_stanza_t *st);

/* route.c */
/* Thread: ring owner. Hands a stanza from a bound session to its actor (takes st). */
void cv__route_enqueue(cv_c2s_t *s, cv_stanza_t *st);
/* The actor's message handler, and its reference hooks (corvid/sched.h). */
void cv__route_actor(cv_actor_t *a, cv_mpsc_node_t *msg, unsigned self);
void cv__route_actor_retain(cv_actor_t *a);
void cv__route_actor_release(cv_actor_t *a);

/* offline.c */
/* Thread: s's ring (on_drained). The batch of offline messages on its way to s has left
   the output queue: the actor collects the next. */
void cv__offline_drained(cv_c2s_t *s);

/* deliver.c */
/* Thread: any. Serializes node once and queues it for target's connection on target's
   ring (from: the caller's worker, or NULL). Takes a reference on target for the trip.
   Returns 0 or -CV_E*. */
int cv__deliver(cv_server_t *srv, cv_worker_t *from, cv_c2s_t *target, const cv_xml_node_t *node);
typedef struct cv_payload_s cv_payload_t;
/* A collected batch of offline messages on its way (router/offline.c). */
typedef struct cv_offline_flight_s cv_offline_flight_t;
/* The same for many targets: make the payload once, deliver it to each, release it. */
int cv__payload_new(const cv_xml_node_t *node, cv_payload_t **out);
int cv__payload_deliver(cv_payload_t *p, cv_worker_t *from, cv_c2s_t *target);
void cv__payload_release(cv_payload_t *p);
void cv__payload_hold(cv_payload_t *p);
/* Marks p as a chat/normal message that falls back to offline storage when its recipient
   is gone by the time it arrives. Before the first cv__payload_deliver. */
void cv__payload_set_offline_ok(cv_payload_t *p);
/* Marks p as an iq get/set: answered service-unavailable when its recipient is gone by the
   time it arrives. Before the first cv__payload_deliver. */
void cv__payload_set_answer_if_gone(cv_payload_t *p);
/* Marks p as a message collected from offline storage (sequence number seq, stamp): if its
   recipient is gone by the time it arrives, it goes back to storage in its old place.
   p takes over one hold on the batch's flight, let go at its last release (or once it is
   back in storage). Before the first cv__payload_deliver. */
void cv__payload_set_restore(cv_payload_t *p, uint64_t seq, uint64_t stamp,
                             cv_offline_flight_t *flight);
/* A payload of ready-made bytes (e.g. a stored offline message). */
int cv__payload_from_bytes(const void *data, size_t len, cv_payload_t **out);
/* Sends the stanza error for st (RFC 6120 §8.3) back to its sender, unless st is an
   error itself. st has the sender's 'from' stamped. Thread: any. */
void cv__route_bounce(cv_server_t *srv, cv_worker_t *from, cv_c2s_t *sender,
                      const cv_xml_node_t *st, cv_stanza_err_t cond, const char *text);

/* Thread: any. For a stanza that only travelled as bytes and could not be delivered (its
   recipient went away on the way): parses them and sends the error cond back to the
   sending session named in 'from', if it is still there. Returns 0 when the sender was
   told, CV_ENOTFOUND when it is gone too, or another -CV_E*. */
int cv__bounce_bytes(cv_server_t *srv, const char *data, size_t len, cv_stanza_err_t cond);

enum { CV_C2S_UNAVAILABLE = 0, CV_C2S_AVAILABLE = 1, CV_C2S_GONE = 2 };
/* Thread: any. Whether s has sent available presence and its stream is not closing. */
static inline int cv__c2s_is_available(const cv_c2s_t *s)
{
    return atomic_load_explicit(&s->available, memory_order_relaxed) == CV_C2S_AVAILABLE;
}
/* Thread: the session's actor. Records available or unavailable presence, unless the
   stream is closing (GONE stays). */
void cv__c2s_set_available(cv_c2s_t *s, int available);
/* Thread: the session's ring. The stream is closing: s is no longer available. */
void cv__c2s_set_gone(cv_c2s_t *s);

/* Thread: any. Asks s's actor to collect the account's offline messages again, after
   what queued before (a message became durable after s collected them). */
void cv__route_offline_recheck(cv_c2s_t *s);
/* Thread: s's ring. The client closed its stream: queues the close behind the stanzas it
   sent before, for the actor to request once they are routed. Returns 0 or CV_ENOMEM
   (then close at once). */
int cv__route_stream_end(cv_c2s_t *s);
/* Thread: any. Asks s's actor to send its presence again (cv__presence_refresh), after
   what is queued before. Nothing happens when memory runs out. */
void cv__route_presence_refresh(cv_c2s_t *s);

/* Thread: any. Sends st (an iq push) to every bound session of user@host for which
   want() holds, with 'to' set to each session's full JID. The caller keeps st. */
void cv__push_to_account(cv_server_t *srv, cv_worker_t *from, const char *user, const char *host,
                         int (*want)(const cv_c2s_t *s), cv_stanza_t *st);

/* c2s_sessions.c */
/* Enters s (its jid set) into the session table; a session bound to the same full JID is
   told to close with a conflict stream error (RFC 6120 §7.7.2.2, "replace"). */
int cv__c2s_sessions_bind(cv_c2s_t *s);
/* Leaves the table (if still in it) at close. */
void cv__c2s_sessions_unbind(cv_c2s_t *s);
/* Thread: any. The first bound session of user@host for which match(s, arg) holds (it
   runs under the shard lock: keep it short), held for the caller to release; or NULL. */
cv_c2s_t *cv__c2s_find(cv_server_t *srv, const char *user, const char *host,
                       int (*match)(const cv_c2s_t *s, const void *arg), const void *arg);
/* A cv__c2s_find match: the session bound to the resource `resource` (a string). */
int cv__c2s_has_resource(const cv_c2s_t *s, const void *resource);
void cv__c2s_release(cv_c2s_t *s);
void cv__c2s_hold(cv_c2s_t *s);
/* Thread: any. Asks s's ring to end the stream (with cond, or CV_SE_NONE for a plain
   </stream:stream>). At most once per session; later calls do nothing. */
void cv__c2s_close_async(cv_c2s_t *s, cv_worker_t *from, cv_stream_err_t cond);
/* Thread: any. Closes every bound session of user@host with stream error cond (the
   account was cancelled, XEP-0077 §3.2); returns how many. */
size_t cv__c2s_close_account(cv_server_t *srv, const char *user, const char *host,
                             cv_stream_err_t cond);
/* The session that embeds an actor or a table entry. */
cv_c2s_t *cv__c2s_of_actor(cv_actor_t *a);
cv_c2s_t *cv__c2s_of_entry(cv_sess_entry_t *e);

/* mod_register.c */
int cv__c2s_register(cv_c2s_t *s, const cv_xml_node_t *iq, const cv_xml_node_t *query);

#endif
