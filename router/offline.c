/*
 * Offline messages (XEP-0160): a chat or normal message for an account with no available
 * resource is stored with a XEP-0203 delay stamp and delivered, in order, when the
 * account next sends initial presence.
 *
 * Storing goes through the store's group-commit writer asynchronously, so a worker never
 * waits for an fsync per message; if the store refuses (quota, failure) the sender gets
 * an error from the writer thread — a message is never dropped silently.
 *
 * A message can become durable after its recipient came online and collected what was
 * stored (the router chose storage just before the initial presence, or the commit was
 * still on its way when the collection read): once stored, the writer thread asks an
 * available session of the account to collect again (cv__offline_recheck), so the
 * message does not wait for the next login.
 *
 * Collection goes a batch at a time (the output queue is bounded, and a backlog can be
 * far bigger), is exclusive per account, and a collected message whose session went away
 * before its ring wrote it goes back to storage in its old place.
 */
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "corvid/clock.h"
#include "corvid/log.h"
#include "roster_int.h"

#define CV_NS_DELAY "urn:xmpp:delay"

/* The recipient account of a message on its way to the store: two strings, one block. */
typedef struct account_s {
    char *user;
    char *host; /* inside user's block */
} account_t;

static int account_dup(account_t *a, const char *user, const char *host)
{
    size_t ul = strlen(user), hl = strlen(host);
    a->user = malloc(ul + hl + 2);
    if (!a->user)
        return CV_ENOMEM;
    memcpy(a->user, user, ul + 1);
    a->host = a->user + ul + 1;
    memcpy(a->host, host, hl + 1);
    return 0;
}

typedef struct offline_job_s {
    cv_server_t *srv;
    cv_c2s_t *sender;  /* held until the store answered */
    cv_stanza_t *copy; /* the message as stored, for an error reply */
    account_t to;
} offline_job_t;

/* A session that may collect the account's offline messages (skip aside). Negative
   priority: messages to the bare JID are stored rather than delivered to it (RFC 6121
   §8.5.2.1.1), so it does not collect them either. A closing one (GONE) would have its
   batch come straight back. One with a batch on its way collects the next when that has
   left; asking it meanwhile does nothing, so a recheck asks another resource, since that
   one's client may have stopped reading. */
static int can_collect(const cv_c2s_t *s, const void *skip)
{
    return s != skip && s->routed && cv__c2s_is_available(s) &&
           atomic_load_explicit(&s->priority, memory_order_relaxed) >= 0 &&
           !atomic_load(&s->offline_paced);
}

void cv__offline_recheck(cv_server_t *srv, const char *user, const char *host, const cv_c2s_t *skip)
{
    cv_c2s_t *s = cv__c2s_find(srv, user, host, can_collect, skip);
    if (s) {
        cv__route_offline_recheck(s);
        cv__c2s_release(s);
    }
}

static void job_free(offline_job_t *j)
{
    cv_stanza_free(j->copy);
    cv__c2s_release(j->sender);
    free(j->to.user);
    free(j);
}

/* Runs on the store's writer thread once the message is durable or refused. */
static void stored(void *ctx, int rc, uint64_t seq)
{
    offline_job_t *j = ctx;
    CV_UNUSED(seq);
    if (rc < 0) {
        /* XEP-0160 §3: storage full or failing: tell the sender. */
        cv__route_bounce(j->srv, NULL, j->sender, cv_stanza_root(j->copy),
                         rc == CV_ELIMIT ? CV_STE_SERVICE_UNAVAILABLE
                                         : CV_STE_INTERNAL_SERVER_ERROR,
                         rc == CV_ELIMIT ? "the recipient's offline storage is full" : NULL);
    } else {
        cv__offline_recheck(j->srv, j->to.user, j->to.host, NULL);
    }
    job_free(j);
}

/* XEP-0082 date-time in UTC with milliseconds. */
static void stamp_now(char *buf, size_t cap, uint64_t *us)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    *us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

void cv__offline_store(cv_server_t *srv, cv_c2s_t *sender, cv_xml_node_t *st, const cv_jid_t *to)
{
    offline_job_t *j = calloc(1, sizeof *j);
    cv_buf_t bytes = CV_BUF_INIT;
    char stamp[64];
    uint64_t us = 0;
    int rc = CV_ENOMEM;

    if (!j)
        goto fail;
    j->srv = srv;
    j->sender = sender;
    cv__c2s_hold(sender);
    rc = account_dup(&j->to, to->local, to->domain);
    if (rc == 0)
        rc = cv_stanza_clone(st, &j->copy);
    if (rc < 0)
        goto fail;
    stamp_now(stamp, sizeof stamp, &us);
    cv_xml_node_t *root = cv_stanza_root(j->copy);
    cv_xml_node_t *delay = cv_stanza_add_child(j->copy, root, "delay", CV_NS_DELAY);
    if (!delay || cv_stanza_set_attr(j->copy, delay, "from", to->domain) < 0 ||
        cv_stanza_set_attr(j->copy, delay, "stamp", stamp) < 0) {
        rc = CV_ENOMEM;
        goto fail;
    }
    rc = cv_xml_serialize(root, CV_NS_CLIENT, &bytes);
    if (rc == 0)
        rc = cv_store_offline_push_async(srv->store, to->domain, to->local, us, bytes.data,
                                         bytes.len, srv->config->max_offline_messages, stored, j);
    cv_buf_free(&bytes);
    if (rc == 0)
        return; /* stored() owns j now */
fail:
    /* A full quota is the recipient's state, not a fault, and a sender can hit it at
       line rate: not worth a warning per message (the sender gets the error). */
    if (rc == CV_ELIMIT)
        cv_debug("offline message for %s@%s: %s", to->local, to->domain, cv_strerror(rc));
    else
        cv_warn("offline message for %s@%s: %s", to->local, to->domain, cv_strerror(rc));
    cv__route_bounce(srv, NULL, sender, st,
                     rc == CV_ELIMIT ? CV_STE_SERVICE_UNAVAILABLE : CV_STE_INTERNAL_SERVER_ERROR,
                     NULL);
    if (j)
        job_free(j);
}

/* A message whose recipient went away on the way and that its offline storage refused:
   the sender gets service-unavailable (RFC 6121 §8.5.3.2.1 when storage is not possible),
   parsed back from the bytes that travelled. Only when the sender is gone too is the
   message lost; those are counted and reported, at most once a second. */
static void refused(cv_server_t *srv, const account_t *to, const char *data, size_t len, int rc)
{
    uint64_t now = cv_clock_ms();
    uint_fast64_t last = atomic_load(&srv->offline_lost_reported_ms);

    if (cv__bounce_bytes(srv, data, len, CV_STE_SERVICE_UNAVAILABLE) == 0)
        return;
    atomic_fetch_add(&srv->offline_lost, 1);
    if (now - last < 1000 ||
        !atomic_compare_exchange_strong(&srv->offline_lost_reported_ms, &last, now))
        return;
    cv_warn("%u message(s) lost: the recipient went away while they were on the way, its "
            "offline storage refused them and their sender is gone (last for %s@%s: %s)",
            atomic_exchange(&srv->offline_lost, 0), to->user, to->host, cv_strerror(rc));
}

typedef struct stored_ctx_s {
    cv_server_t *srv;
    account_t to;
    cv_buf_t bytes; /* the message as stored, to tell its sender if it is refused */
} stored_ctx_t;

static void stored_ctx_free(stored_ctx_t *sc)
{
    if (!sc)
        return;
    free(sc->to.user);
    cv_buf_free(&sc->bytes);
    free(sc);
}

/* Runs on the store's writer thread. */
static void stored_bytes(void *ctx, int rc, uint64_t seq)
{
    stored_ctx_t *sc = ctx;
    CV_UNUSED(seq);
    if (rc < 0)
        refused(sc->srv, &sc->to, sc->bytes.data, sc->bytes.len, rc);
    else
        cv__offline_recheck(sc->srv, sc->to.user, sc->to.host, NULL);
    stored_ctx_free(sc);
}

void cv__offline_store_bytes(cv_server_t *srv, const char *host, const char *user, const char *data,
                             size_t len)
{
    static const char tail[] = "</message>";
    const size_t tl = sizeof tail - 1;
    account_t to = {(char *)user, (char *)host};
    char stamp[64];
    uint64_t us = 0;
    stored_ctx_t *sc = calloc(1, sizeof *sc);
    cv_buf_t *b = sc ? &sc->bytes : NULL;
    int rc = sc ? account_dup(&sc->to, user, host) : CV_ENOMEM;

    /* Our serializer ends a message with children with "</message>": the delay element
       goes right before it. A childless message carries no body worth keeping. */
    if (len < tl || memcmp(data + len - tl, tail, tl) != 0) {
        stored_ctx_free(sc);
        return;
    }
    stamp_now(stamp, sizeof stamp, &us);
    if (rc == 0)
        rc = cv_buf_append(b, data, len - tl);
    if (rc == 0)
        rc = cv_buf_printf(b, "<delay xmlns='" CV_NS_DELAY "' from='%s' stamp='%s'/>%s", host,
                           stamp, tail);
    if (rc == 0) {
        sc->srv = srv;
        rc = cv_store_offline_push_async(srv->store, host, user, us, b->data, b->len,
                                         srv->config->max_offline_messages, stored_bytes, sc);
        if (rc == 0)
            return; /* stored_bytes owns sc now */
    }
    refused(srv, &to, data, len, rc);
    stored_ctx_free(sc);
}

/* ---- collection ---- */

/* A batch: at most this many messages, and a quarter of the output queue (at least one
   message), so a backlog never fills the queue past its limit, which would end the stream
   with the rest of the batch in it. */
#define CV_OFFLINE_BATCH 100
#define CV_OFFLINE_STRIPES 64

/* Two sessions of one account may collect at once (two logins, a recheck beside an
   initial presence): each account's fetch-and-delete runs under one of these striped
   locks, so the second sees only what the first left. Held across one commit, on a
   store-job thread (on a worker only when a stanza could not get its store trip).
   Module-owned, initialized statically.

   Each stripe also lists the accounts' flights (below) under a lock of its own, held only
   to add, find or remove one: rings take it when a flight ends, and must never wait for a
   collection's commit. Lock order: a collect lock, then a flight lock. */
static struct {
    pthread_mutex_t stripes[CV_OFFLINE_STRIPES];
    pthread_mutex_t flight_locks[CV_OFFLINE_STRIPES];
    struct cv_offline_flight_s *flights[CV_OFFLINE_STRIPES];
} collect_locks = {{[0 ... CV_OFFLINE_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER},
                   {[0 ... CV_OFFLINE_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER},
                   {NULL}};

static size_t stripe_of(const char *host, const char *user)
{
    uint64_t h = cv_hash_text(cv_hash_text(CV_HASH_SEED, user), host);
    return (size_t)(h % CV_OFFLINE_STRIPES);
}

static pthread_mutex_t *collect_lock(const char *host, const char *user)
{
    return &collect_locks.stripes[stripe_of(host, user)];
}

/*
 * A collected batch in flight: from its collection until each of its messages was
 * written to the session's output or, the session having gone, is back in storage. While
 * an account has one, it collects nothing more: a message put back must not come after
 * messages stored later that another resource collected meanwhile (the put-backs are
 * separate store writes and may take several commits). A collection that finds a flight
 * marks it asked instead; the flight's end asks the account again if it was asked or
 * anything was put back (cv__offline_recheck), so nothing waits for a login.
 */
struct cv_offline_flight_s {
    struct cv_offline_flight_s *next; /* the stripe's list, under its flight lock */
    cv_server_t *srv;
    account_t to;
    /* The collector's own hold plus one per message not yet written or put back; whoever
       takes it to 0 ends the flight. */
    atomic_uint outstanding;
    atomic_int put_back; /* a message of it went back to storage */
    int asked;           /* a collection came meanwhile; under the flight lock */
};

static int same_account(const cv_offline_flight_t *f, const char *host, const char *user)
{
    return strcmp(f->to.user, user) == 0 && strcmp(f->to.host, host) == 0;
}

/* Under s's collect lock: registers a new flight for s's account in *out (0), or marks
   the account's flight in progress asked (1, nothing to collect now). */
static int flight_begin(cv_c2s_t *s, cv_offline_flight_t **out)
{
    size_t i = stripe_of(s->host, s->user);
    cv_offline_flight_t *f, *fresh = calloc(1, sizeof *fresh);
    int rc = 0;

    if (!fresh || account_dup(&fresh->to, s->user, s->host) < 0) {
        rc = CV_ENOMEM;
        goto out;
    }
    fresh->srv = s->srv;
    atomic_init(&fresh->outstanding, 1);
    pthread_mutex_lock(&collect_locks.flight_locks[i]);
    for (f = collect_locks.flights[i]; f && !same_account(f, s->host, s->user); f = f->next)
        ;
    if (f) {
        f->asked = 1;
        rc = 1;
    } else {
        fresh->next = collect_locks.flights[i];
        collect_locks.flights[i] = fresh;
        *out = fresh;
        fresh = NULL;
    }
    pthread_mutex_unlock(&collect_locks.flight_locks[i]);
out:
    if (fresh)
        free(fresh->to.user);
    free(fresh);
    return rc;
}

void cv__offline_flight_settle(cv_offline_flight_t *f, int put_back)
{
    cv_offline_flight_t **link;
    size_t i;
    int asked;

    if (put_back)
        atomic_store(&f->put_back, 1);
    if (atomic_fetch_sub(&f->outstanding, 1) != 1)
        return;
    i = stripe_of(f->to.host, f->to.user);
    pthread_mutex_lock(&collect_locks.flight_locks[i]);
    for (link = &collect_locks.flights[i]; *link != f; link = &(*link)->next)
        ;
    *link = f->next;
    asked = f->asked; /* read after the unlink: no collection can mark it any more */
    pthread_mutex_unlock(&collect_locks.flight_locks[i]);
    if (asked || atomic_load(&f->put_back))
        cv__offline_recheck(f->srv, f->to.user, f->to.host, NULL);
    free(f->to.user);
    free(f);
}

typedef struct batch_s {
    cv_payload_t *p[CV_OFFLINE_BATCH];
    uint64_t seq[CV_OFFLINE_BATCH]; /* what was fetched, to delete exactly that */
    size_t n, nseq;
    size_t bytes, budget;
    size_t too_big; /* a message above this can never be sent (see cv__offline_deliver) */
    int more;       /* stopped at the budget: more are stored */
    cv_offline_flight_t *flight; /* each message taken holds it */
} batch_t;

static int take_one(void *ctx, uint64_t seq, uint64_t stamp, const void *data, size_t len)
{
    batch_t *b = ctx;
    cv_payload_t *p = NULL;

    if (b->nseq == CV_OFFLINE_BATCH || (b->n > 0 && b->bytes + len > b->budget)) {
        b->more = 1;
        return 1; /* stop: the next batch takes it */
    }
    if (!data) {
        /* Damaged in storage (logged there): nothing to send, and left in place it would
           stop every collection at it. */
        b->seq[b->nseq++] = seq;
        return 0;
    }
    if (len > b->too_big) {
        /* Written, it would end the stream every time, and come back: a loop at each
           login. Possible only when max_output_queue is about max_stanza_size (the stored
           form adds a delay element). */
        cv_error("offline message %llu (%zu bytes) is larger than limits.max_output_queue "
                 "and can never be sent: deleted",
                 (unsigned long long)seq, len);
        b->seq[b->nseq++] = seq;
        return 0;
    }
    if (cv__payload_from_bytes(data, len, &p) < 0)
        return CV_ENOMEM; /* stop: the rest stays stored */
    atomic_fetch_add(&b->flight->outstanding, 1);
    cv__payload_set_restore(p, seq, stamp, b->flight);
    b->p[b->n++] = p;
    b->seq[b->nseq++] = seq;
    b->bytes += len;
    return 0;
}

/* ---- a collection that failed, asked for again later ---- */

/* While the disk fails, every session with stored messages fails its collection every
   CV_OFFLINE_RETRY_MS: one warning per interval says so, with how many were left out. */
#define CV_OFFLINE_WARN_EVERY_MS 10000u

static struct {
    _Atomic uint64_t next_ms; /* no warning before this time */
    atomic_uint left_out;     /* warnings not written since the last one */
} warnings;

/* Whether a warning may be written now; if so, *left_out says how many were not. */
static int warning_due(unsigned *left_out)
{
    uint64_t now = cv_clock_ms();
    uint64_t next = atomic_load(&warnings.next_ms);

    if (now < next ||
        !atomic_compare_exchange_strong(&warnings.next_ms, &next, now + CV_OFFLINE_WARN_EVERY_MS)) {
        atomic_fetch_add(&warnings.left_out, 1);
        return 0;
    }
    *left_out = atomic_exchange(&warnings.left_out, 0);
    return 1;
}

typedef struct retry_s {
    cv_net_task_t arm;    /* posted to the session's ring, which arms the timer */
    cv_net_timer_t timer; /* then runs on that ring */
    cv_c2s_t *s;          /* held */
} retry_t;

static void retry_free(retry_t *r)
{
    cv__c2s_release(r->s);
    free(r);
}

/* Runs on the session's ring (or from cv_net_drain once it stopped: then it only lets go). */
static void retry_fire(cv_net_task_t *t, cv_worker_t *w)
{
    retry_t *r = (retry_t *)((char *)t - offsetof(retry_t, timer.task));
    cv_c2s_t *s = r->s;

    /* ARMED goes first: should the recheck queued here fail too, it arms a new timer. */
    atomic_fetch_and(&s->offline_flags, (uint8_t)~CV__OFFLINE_RETRY_ARMED);
    if (!cv_net_worker_stopped(w) && s->conn && s->phase == CV_C2S_BOUND &&
        (atomic_fetch_and(&s->offline_flags, (uint8_t)~CV__OFFLINE_RETRY) & CV__OFFLINE_RETRY))
        cv__route_offline_recheck(s);
    retry_free(r);
}

static void retry_arm(cv_net_task_t *t, cv_worker_t *w)
{
    retry_t *r = (retry_t *)((char *)t - offsetof(retry_t, arm));

    if (cv_net_worker_stopped(w)) {
        retry_free(r); /* the server is stopping: nothing to ask for */
        return;
    }
    r->timer.task.run = retry_fire;
    cv_net_timer_arm(w, &r->timer, CV_OFFLINE_RETRY_MS);
}

void cv__offline_retry_later(cv_worker_t *self, cv_c2s_t *s)
{
    retry_t *r;

    atomic_fetch_or(&s->offline_flags, CV__OFFLINE_RETRY);
    if (atomic_fetch_or(&s->offline_flags, CV__OFFLINE_RETRY_ARMED) & CV__OFFLINE_RETRY_ARMED)
        return; /* the armed timer will see RETRY */
    r = malloc(sizeof *r);
    if (!r) {
        /* The session's next stanza still asks (RETRY stays set). */
        atomic_fetch_and(&s->offline_flags, (uint8_t)~CV__OFFLINE_RETRY_ARMED);
        return;
    }
    r->s = s;
    cv__c2s_hold(s);
    r->arm.run = retry_arm;
    cv_net_post(self, s->worker, &r->arm);
}

/* ---- a backlog sent a batch at a time ---- */

typedef struct pace_s {
    cv_net_task_t task;
    cv_c2s_t *s;
} pace_t;

/* Runs on the session's ring, after the batch's deliveries (the inbox is FIFO). */
static void pace_run(cv_net_task_t *t, cv_worker_t *w)
{
    pace_t *pc = (pace_t *)((char *)t - offsetof(pace_t, task));
    cv_c2s_t *s = pc->s;
    CV_UNUSED(w);
    /* A closing session keeps offline_paced: it collects nothing more, and what is left
       waits for the next session. */
    if (s->conn && s->phase == CV_C2S_BOUND)
        cv_net_conn_notify_drained(s->conn);
    cv__c2s_release(s);
    free(pc);
}

/* More are stored than one batch: the next follows once this one has left. */
static void pace(cv_worker_t *self, cv_c2s_t *s)
{
    pace_t *pc = malloc(sizeof *pc);

    if (!pc) {
        cv_warn("offline messages of %s@%s: out of memory: the rest are asked for again "
                "later",
                s->user, s->host);
        cv__offline_retry_later(self, s);
        return;
    }
    atomic_store(&s->offline_paced, 1);
    pc->s = s;
    pc->task.run = pace_run;
    cv__c2s_hold(s);
    cv_net_post(self, s->worker, &pc->task);
}

void cv__offline_drained(cv_c2s_t *s)
{
    if (atomic_exchange(&s->offline_paced, 0))
        cv__route_offline_recheck(s);
}

void cv__offline_deliver(cv_server_t *srv, cv_worker_t *self, cv_c2s_t *s)
{
    pthread_mutex_t *lock = collect_lock(s->host, s->user);
    /* A message up to the whole queue is sent, first in its batch (the budget stops a
       batch before a big one), once at most a quarter is queued: should that quarter
       make it overflow, the stream ends, the message goes back and the next login, with
       nothing queued yet, takes it. Only one above the whole queue can never be sent. */
    batch_t b = {.budget = srv->config->max_output_queue / 4,
                 .too_big = srv->config->max_output_queue};
    size_t n = 0;
    int fetch_rc, rc = 0;

    if (!can_collect(s, NULL))
        return;
    if (cv_store_offline_count(srv->store, s->host, s->user, &n) < 0) {
        cv__offline_retry_later(self, s); /* logged by the store */
        return;
    }
    if (n == 0)
        return;
    pthread_mutex_lock(lock);
    rc = flight_begin(s, &b.flight);
    if (rc != 0) {
        pthread_mutex_unlock(lock);
        if (rc < 0) /* out of memory */
            cv__offline_retry_later(self, s);
        return; /* rc 1: the flight's end asks again */
    }
    fetch_rc = cv_store_offline_fetch(srv->store, s->host, s->user, take_one, &b);
    /* Deleted before they are handed over: a message that then finds its session gone
       goes back under its number (cv__offline_restore), which this delete must not meet
       on the way. Exactly what was fetched: a restore of another collection's message may
       have put back a smaller number meanwhile. XEP-0160 §5: delivered messages are
       removed. */
    if (b.nseq > 0)
        rc = cv_store_offline_delete(srv->store, s->host, s->user, b.seq, b.nseq, NULL);
    pthread_mutex_unlock(lock);
    /* A fetch that failed part-way (take_one stopping at the batch's end is 1) hands over
       what it took; a failed delete hands over nothing, it all stays stored for a later
       collection (not twice). Either way the rest waits: this session asks again at its
       next stanza or its retry timer, and so does a new message for the account or the
       next login. */
    if (fetch_rc < 0 || rc < 0) {
        unsigned quiet = 0;
        if (warning_due(&quiet))
            cv_warn("offline messages of %s@%s: %s: they stay stored; asked for again in %u s "
                    "or at the session's next stanza (%u such warnings left out before this)",
                    s->user, s->host, cv_strerror(rc < 0 ? rc : fetch_rc),
                    CV_OFFLINE_RETRY_MS / 1000, quiet);
        cv__offline_retry_later(self, s);
        b.more = 0;
    }
    for (size_t i = 0; i < b.n; i++) {
        if (rc == 0)
            (void)cv__payload_deliver(b.p[i], self, s);
        cv__payload_release(b.p[i]);
    }
    cv__offline_flight_settle(b.flight, 0); /* the collector's hold */
    if (b.more)
        pace(self, s);
}

/* ---- a collected message whose session went away on the way ---- */

/* The account is the flight's: the message holds the flight until restored() settles. */
typedef struct restore_ctx_s {
    uint64_t seq;
    cv_offline_flight_t *flight; /* the message's hold on it */
} restore_ctx_t;

static void restored(void *ctx, int rc, uint64_t value)
{
    restore_ctx_t *rx = ctx;
    const account_t *to = &rx->flight->to;
    CV_UNUSED(value);
    if (rc == CV_ENOTFOUND) {
        /* The account was deleted meanwhile (perhaps made again under its name): its
           messages went with it and are not the new account's. */
        cv_info("offline message %llu of %s@%s dropped: its account was deleted while it was "
                "on the way",
                (unsigned long long)rx->seq, to->user, to->host);
    } else if (rc < 0) {
        cv_error("offline message %llu of %s@%s lost: it could not be put back in storage: %s",
                 (unsigned long long)rx->seq, to->user, to->host, cv_strerror(rc));
    } else {
        cv_debug("offline message %llu of %s@%s put back in storage: its session went away "
                 "before it was written",
                 (unsigned long long)rx->seq, to->user, to->host);
    }
    /* The flight's end asks the account again, once its last message is through. */
    cv__offline_flight_settle(rx->flight, rc == 0);
    free(rx);
}

void cv__offline_restore(cv_server_t *srv, const char *host, const char *user, uint64_t seq,
                         uint64_t stamp, const char *data, size_t len, cv_offline_flight_t *flight)
{
    restore_ctx_t *rx = malloc(sizeof *rx);
    int rc = rx ? 0 : CV_ENOMEM;

    if (rc == 0) {
        rx->seq = seq;
        rx->flight = flight;
        rc = cv_store_offline_restore_async(srv->store, host, user, seq, stamp, data, len, restored,
                                            rx);
        if (rc == 0)
            return; /* restored() owns rx now */
    }
    free(rx);
    cv_error("offline message of %s@%s lost: it could not be put back in storage: %s", user, host,
             cv_strerror(rc));
    cv__offline_flight_settle(flight, 0);
}
