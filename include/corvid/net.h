/*
 * corvid/net.h — the io_uring network layer: worker rings, listeners, connections.
 *
 * Owns: one worker thread per configured worker, each with its own io_uring ring, its own
 * listening sockets (SO_REUSEPORT, so the kernel spreads new connections over the rings),
 * its provided-buffer ring for receives and every connection it accepted. A connection
 * belongs to exactly one ring for its whole life: only that ring's thread submits SQEs for
 * it, reads its bytes, writes its output and frees it.
 *
 * The layer moves bytes; it does not know XMPP. It hands plaintext (after TLS) to the
 * protocol layer through cv_net_ops_t and takes bytes to send from it. All callbacks run on
 * the connection's ring thread.
 *
 * Threads: cv_net_create/start/stop/destroy from the main thread; cv_net_conn_* only from
 * the ring thread that owns the connection, i.e. from inside a callback.
 */
#ifndef CORVID_NET_H
#define CORVID_NET_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "corvid/buf.h"
#include "corvid/config.h"
#include "corvid/core.h"
#include "corvid/mpsc.h"
#include "corvid/tls.h"

typedef struct cv_net_s cv_net_t;
typedef struct cv_worker_s cv_worker_t;
typedef struct cv_conn_s cv_conn_t;

/* The protocol layer's callbacks. Each runs on the owning ring thread. */
typedef struct cv_net_ops_s {
    /* A connection was accepted on listener l. Return 0 to keep it (after calling
       cv_net_conn_set_user), or <0 to drop it at once. */
    int (*on_open)(cv_conn_t *c, const cv_conf_listener_t *l, void *arg);
    /* Plaintext bytes arrived. They are valid only during the call. Return <0 when the
       protocol layer has started closing the connection (it stops receiving). */
    int (*on_data)(cv_conn_t *c, const char *data, size_t len);
    /* The peer went away, an I/O error happened, or cv_net_conn_close finished: the
       protocol layer frees its state; c is freed right after this returns. */
    void (*on_close)(cv_conn_t *c);
    /* The connection's negotiation deadline passed (cv_net_conn_set_deadline). */
    void (*on_timeout)(cv_conn_t *c);
    /* The server is stopping: write the closing stream bytes; the layer flushes them and
       closes the connection. */
    void (*on_shutdown)(cv_conn_t *c);
    /* No input arrived for a whole tick (one to two seconds): give back what only an
       active connection needs. Runs once per quiet spell; may be NULL. */
    void (*on_quiet)(cv_conn_t *c);
    /* Asked for with cv_net_conn_notify_drained: the bytes queued for the peer before the
       request have been taken by the kernel, and at most a quarter of
       limits.max_output_queue was queued after them. Runs once per request, from a send
       completion or the loop turn's flush; never for a connection that is closing. It
       may write; asking again from here without writing anything would come straight
       back (a loop). May be NULL (then nobody may ask). */
    void (*on_drained)(cv_conn_t *c);
    /* Once per loop turn, after completions were handled and before output is flushed:
       the worker runs other work (actors) here. Return 1 while more work is waiting, so
       the ring polls instead of sleeping; `sleeping` tells it when the ring is about to
       block (1) and when it woke (0). Both may be NULL. */
    int (*on_turn)(cv_worker_t *w, void *arg);
    void (*on_sleep)(cv_worker_t *w, int sleeping, void *arg);
    void *arg; /* passed to on_open, on_turn and on_sleep */
} cv_net_ops_t;

typedef struct cv_net_opts_s {
    const cv_config_t *config; /* listeners, workers, limits; must outlive the net */
    cv_tls_ctx_t *tls;         /* server TLS context shared read-only by all rings; may be
                                  NULL when no listener uses TLS */
    cv_net_ops_t ops;
} cv_net_opts_t;

/* Thread: main. Binds every listener once to report address errors early. */
int cv_net_create(cv_net_t **out, const cv_net_opts_t *opts);
/* Thread: main. Starts the worker threads; returns once every ring is listening. */
int cv_net_start(cv_net_t *net);
/* Thread: main (or a signal-handling thread). Asks every ring to shut down: connections
   get on_shutdown, their output is flushed (bounded by a grace period) and they close.
   Returns after every worker thread has exited. */
void cv_net_stop(cv_net_t *net);
/* Thread: main, after cv_net_stop. Runs the tasks still queued on the workers' inboxes
   (their connections are gone, so they only release what they hold). Returns how many. */
size_t cv_net_drain(cv_net_t *net);
void cv_net_destroy(cv_net_t *net);

/*
 * Work handed to a ring from another thread (a stanza for one of its connections, a
 * request to close one). The caller embeds the task in its own object, so posting
 * allocates nothing. run is called once, on the target ring's thread.
 */
typedef struct cv_net_task_s cv_net_task_t;
struct cv_net_task_s {
    cv_mpsc_node_t node; /* owned by the inbox while queued */
    void (*run)(cv_net_task_t *t, cv_worker_t *w);
};

/* Thread: any; from is the caller's own worker (NULL if the caller is not a worker).
   Queues t on w's inbox (lock-free, multi-producer) and wakes w unless from == w (a
   worker drains its own inbox every loop turn). Tasks still queued when w stops are not
   run. */
void cv_net_post(cv_worker_t *from, cv_worker_t *w, cv_net_task_t *t);
/*
 * A task that runs on its ring once a delay has passed, at the ring's one-second tick (so
 * up to a second late). Meant for rare work, such as trying again after a failure: a ring
 * keeps its armed timers in one unsorted list and looks at each of them every tick. The
 * caller embeds the timer in its own object, like a task, and owns it again once run is
 * called.
 */
typedef struct cv_net_timer_s cv_net_timer_t;
struct cv_net_timer_s {
    cv_net_task_t task; /* task.run(&timer->task, w) runs when the timer is due */
    uint64_t due_ms;
    cv_net_timer_t *next; /* the ring's list, while armed */
};
/* Thread: w's own ring thread (from another thread, post a task that arms it). Runs
   t->task.run on w no sooner than delay_ms from now. Timers still armed when the ring has
   stopped run early, from cv_net_drain: their work must then only release what it holds
   (cv_net_worker_stopped tells). */
void cv_net_timer_arm(cv_worker_t *w, cv_net_timer_t *t, unsigned delay_ms);
/* Thread: w's own ring thread, or the main thread after cv_net_stop. 1 once w has stopped
   serving its connections. */
int cv_net_worker_stopped(const cv_worker_t *w);
/* Thread: any. Makes worker w run a loop turn soon (its on_turn runs). */
void cv_net_wake(cv_worker_t *w);
/* The worker with this index (0 .. workers-1), and a worker's index. */
cv_worker_t *cv_net_worker(cv_net_t *net, unsigned index);
unsigned cv_net_worker_index(const cv_worker_t *w);

/* Thread: ring owner. */
void cv_net_conn_set_user(cv_conn_t *c, void *user);
void *cv_net_conn_user(const cv_conn_t *c);
cv_worker_t *cv_net_conn_worker(const cv_conn_t *c);
/* Queues bytes for the peer (encrypting them when TLS is active). Everything queued in one
   loop turn leaves in one send. Returns 0, or -CV_ELIMIT when the output queue would pass
   limits.max_output_queue (the caller closes the stream; the bytes are not queued). */
int cv_net_conn_write(cv_conn_t *c, const void *data, size_t len);
/* The same for pieces that form one whole (a stanza with an attribute spliced in): all of
   them are queued or, past the limit, none; under TLS they become one record. */
typedef struct cv_net_piece_s {
    const void *data;
    size_t len;
} cv_net_piece_t;
int cv_net_conn_write_pieces(cv_conn_t *c, const cv_net_piece_t *pieces, size_t n);
/* Thread: ring owner. Asks for one on_drained call once the output queued so far has
   left (see cv_net_ops_t): a writer that has much to send (a backlog of stored messages)
   sends it in parts this way instead of filling the output queue past its limit. */
void cv_net_conn_notify_drained(cv_conn_t *c);
/* Thread: ring owner. Stops (hold 1) or resumes (0) reading from c, e.g. while what the
   peer sent is still waiting to be handled. Bytes the kernel already handed over are kept
   and delivered on resume (on_data may run from inside this call); input shaping
   (limits.c2s_rate) applies on top. */
void cv_net_conn_hold_input(cv_conn_t *c, int hold);
/* Starts server-side TLS on a plaintext connection (STARTTLS after <proceed/> was
   queued: those bytes still leave in the clear). Any plaintext the peer already sent
   after <starttls/> is discarded (it must not be trusted, RFC 6120 §5.4.3.3).
   Returns 0 or -CV_E*. */
int cv_net_conn_start_tls(cv_conn_t *c);
int cv_net_conn_is_tls(const cv_conn_t *c);
/* The TLS session of the connection, or NULL. */
cv_tls_conn_t *cv_net_conn_tls(const cv_conn_t *c);
/* Flushes queued output, then closes. on_close follows (maybe after this returns). */
void cv_net_conn_close(cv_conn_t *c);
/* Arms (ms > 0) or clears (ms == 0) the negotiation deadline: on_timeout runs once it
   passes (checked once a second). */
void cv_net_conn_set_deadline(cv_conn_t *c, unsigned ms);
/* Peer address as text ("127.0.0.1"), and whether it is a loopback address. */
const char *cv_net_conn_peer(const cv_conn_t *c);
int cv_net_conn_peer_is_loopback(const cv_conn_t *c);
/* 1 while c keeps sending: input arrived in this tick window and in the one before. A
   protocol layer may keep per-stream state between stanzas for such a connection (it
   would rebuild it for the next stanza anyway) and give it back in on_quiet. */
int cv_net_conn_is_busy(const cv_conn_t *c);
/* Bytes of heap this connection holds in the net layer (for the bytes-per-session figure). */
size_t cv_net_conn_memory(const cv_conn_t *c);

#endif
