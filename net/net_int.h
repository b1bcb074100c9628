/*
 * net/net_int.h — private structures of the network layer, shared by net/worker.c (the
 * ring loop: accept, receive, timers, shutdown) and net/conn.c (a connection's output,
 * TLS and teardown).
 */
#ifndef CORVID_NET_INT_H
#define CORVID_NET_INT_H

#include <liburing.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>

#include "corvid/net.h"

/*
 * Every SQE's user_data is a pointer with the operation in its three low bits; the
 * pointed-to objects (connections, listeners, workers) are all 8-byte aligned.
 */
enum cv__net_op {
    CV_OP_POKE = 0,     /* ptr: cv_worker_t (another ring's IORING_OP_MSG_RING: inbox work) */
    CV_OP_ACCEPT = 1,   /* ptr: cv__listener_t */
    CV_OP_RECV = 2,     /* ptr: cv_conn_t */
    CV_OP_SEND = 3,     /* ptr: cv_conn_t */
    CV_OP_WAKE = 4,     /* ptr: cv_worker_t (eventfd read) */
    CV_OP_TICK = 5,     /* ptr: cv_worker_t (1 s timeout) */
    CV_OP_SHUTDOWN = 6, /* ptr: cv_conn_t (shutdown of its socket) */
    CV_OP_IGNORE = 7,   /* completions nobody waits for (cancellations; ptr: own worker)
                           and failed pokes (ptr: the worker that was to be poked) */
};
#define CV_OP_MASK 7u

static inline uint64_t cv__net_ud(void *ptr, enum cv__net_op op)
{
    return (uint64_t)(uintptr_t)ptr | (uint64_t)op;
}

typedef struct cv__listener_s {
    alignas(8) cv_worker_t *w;
    const cv_conf_listener_t *conf;
    int fd;
    int armed; /* a multishot accept is in flight */
} cv__listener_t;

typedef struct cv__held_input_s {
    cv_buf_t bytes;
    size_t fed; /* bytes[0..fed) went to the parser already */
} cv__held_input_t;

struct cv_conn_s {
    alignas(8) cv_worker_t *w;
    const cv_conf_listener_t *listener;
    void *user;
    /* With direct descriptors (worker->direct) the socket lives only in the ring's
       fixed-file table and this is its slot: RLIMIT_NOFILE then bounds each ring's table,
       not the whole process, and every operation skips the descriptor lookup. Otherwise
       it is the socket's ordinary descriptor. */
    int fd;
    /* Input shaping (limits.c2s_rate): bytes received in the current tick window plus any
       excess carried over; above the rate the connection is paused. Each tick takes one
       second's worth off. */
    uint32_t input_used;
    uint16_t inflight; /* SQEs in flight that reference this connection */
    uint8_t family;    /* AF_INET or AF_INET6 */
    /* One bit each: a connection is ~160 bytes, and every idle session pays for it. */
    unsigned recv_armed : 1;    /* a multishot recv is in flight */
    unsigned send_inflight : 1; /* a send of `sending` is in flight */
    unsigned closing : 1;       /* no more input is delivered; close once output is flushed */
    unsigned peer_gone : 1;     /* the socket failed or the peer closed: output is dropped */
    unsigned shut : 1;          /* a shutdown of the socket was submitted */
    unsigned dirty : 1;         /* on the worker's dirty list */
    unsigned need_recv : 1;     /* recv must be re-armed (buffers ran out) */
    unsigned active : 1;        /* input arrived since the last tick (idle ones get trimmed) */
    unsigned was_active : 1;    /* input arrived in the tick window before this one too */
    unsigned quiet : 1;         /* on_quiet ran; cleared by the next input */
    unsigned trimmed : 1;       /* TLS buffers given back; cleared by the next read or write */
    unsigned input_paused : 1;  /* past its input rate: no recv is armed until a tick frees it */
    unsigned input_held : 1;    /* its owner stopped reading (cv_net_conn_hold_input) */
    unsigned want_drained : 1;  /* on_drained is due once the output has left */
    unsigned drain_armed : 1;   /* ...and what was queued before the request is in the
                                   send in flight (or was sent already) */
    uint8_t addr[16];           /* peer address, for logs and throttling */
    cv_tls_conn_t *tls;
    cv_buf_t out;         /* bytes queued for the next send (wire bytes: TLS already applied) */
    cv_buf_t sending;     /* bytes owned by the kernel until the send CQE arrives */
    size_t sent;          /* prefix of `sending` the kernel has taken */
    uint64_t deadline_ms; /* 0 = none */
    /* Bytes the kernel handed over while input was paused (the recv's cancellation takes
       a moment): kept unread, fed as the budget allows; NULL when none. At most one
       multishot batch, i.e. what the socket had buffered. */
    struct cv__held_input_s *held;
    cv_conn_t *dirty_next;
    cv_conn_t *prev, *next; /* the worker's list of live connections */
};

struct cv_worker_s {
    alignas(8) cv_net_t *net;
    unsigned index;
    pthread_t thread;
    int init_rc;
    struct io_uring ring;
    int ring_ready;
    struct io_uring_buf_ring *br; /* provided buffers for multishot recv */
    char *bufs;
    unsigned nbufs;
    cv__listener_t *listeners;
    size_t nlisteners;
    int wake_fd;       /* eventfd written by other threads: shutdown or inbox work */
    pthread_t self;    /* the ring's thread, set by it as it starts */
    uint64_t wake_val; /* target of the eventfd read SQE */
    cv_mpsc_t inbox;   /* tasks from other threads; this ring's thread is the consumer */
    /* 1 while a wake-up is pending: producers write the eventfd only when they flip it
       from 0, and the ring clears it before draining, so no task is left unseen. */
    atomic_int wake_pending;
    struct __kernel_timespec tick;
    cv_conn_t *conns; /* all live connections of this ring */
    size_t nconns;
    size_t max_conns;     /* with direct descriptors, at most the size of the table */
    uint8_t direct;       /* connections are fixed-file slots (conn->fd is a slot) */
    unsigned *free_slots; /* stack of unused fixed-file table slots */
    unsigned nfree;
    cv_conn_t *dirty;       /* connections with output to send or a close to finish */
    cv_net_timer_t *timers; /* armed timers (cv_net_timer_arm), unsorted */
    uint64_t now_ms;
    int stopping;
    int stopped; /* the loop has ended: armed timers run from cv_net_drain */
    uint64_t stop_deadline_ms;
    unsigned batch_wait_us; /* 0: wake on the first completion */
    cv_buf_t plain;         /* scratch: plaintext decrypted from one receive */
    cv_buf_t joined;        /* scratch: pieces joined for one TLS record */
    char peer_text[64];
};

struct cv_net_s {
    cv_net_opts_t opts;
    cv_worker_t *workers;
    unsigned nworkers;
    /* Set by the main thread in cv_net_stop (release) before it writes each worker's
       eventfd; a worker reads it (acquire) after that eventfd read completes. */
    atomic_int stop;
    pthread_barrier_t started;
    unsigned batch_wait_us;
    uint8_t direct; /* use direct descriptors (decided once, from config and kernel) */
    /* A ring wakes another by a message on its own ring (IORING_OP_MSG_RING) rather than
       by writing the other's eventfd (decided once, from the kernel). */
    uint8_t poke_by_ring;
};

#define CV_NET_BUF_SIZE 4096u
#define CV_NET_NBUFS 1024u /* power of two */
#define CV_NET_BGID 0

struct io_uring_sqe *cv__net_sqe(cv_worker_t *w);

/* Marks an SQE prepared with c->fd as naming a fixed-file slot when c's worker uses
   direct descriptors. */
static inline void cv__net_sqe_file(struct io_uring_sqe *sqe, const cv_conn_t *c)
{
    if (c->w->direct)
        sqe->flags |= IOSQE_FIXED_FILE;
}
void cv__net_conn_mark_dirty(cv_conn_t *c);
/* Handles received wire bytes (decrypting when TLS is active). */
void cv__net_conn_input(cv_conn_t *c, const char *data, size_t len);
/* Submits sends for dirty connections and finishes closes. Called once per loop turn. */
void cv__net_flush(cv_worker_t *w);
void cv__net_conn_on_send(cv_conn_t *c, int res);
/* Submits a shutdown of both directions, once: it ends the multishot recv and a send the
   peer never drains. Its completion goes to cv__net_conn_on_shutdown. */
void cv__net_conn_shutdown_socket(cv_conn_t *c);
void cv__net_conn_on_shutdown(cv_conn_t *c, int res);
/* The connection failed or the peer left: drop output and tear down. */
void cv__net_conn_fail(cv_conn_t *c);
/* Frees the connection if nothing references it any more and it is closing. */
void cv__net_conn_maybe_free(cv_conn_t *c);
void cv__net_conn_free_all(cv_worker_t *w);

#endif
