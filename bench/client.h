/*
 * bench/client.h — one XMPP client connection of the load generator: stream negotiation
 * (STARTTLS or direct TLS with wolfSSL over memory, SASL PLAIN / SCRAM, resource binding,
 * optional session and roster), then a pipe for the scenario's stanzas.
 *
 * Owns, per connection: the XML stream parser (cv_xml), the wolfSSL session and its
 * pending ciphertext, the SCRAM exchange, and the wire bytes waiting to be sent (`out`).
 * The socket and the in-flight io_uring operations are managed by bench/loop.c, which
 * hands received bytes to cv_bench_conn_input() and sends what collects in `out`.
 *
 * Threads: a connection belongs to the load-generator thread that created it; every
 * function below runs on that thread. The callbacks in cv_bench_client_ops_t run on it
 * too, from inside cv_bench_conn_input() / cv_bench_conn_begin(); they may send on the
 * connection and mark it closing, but never free it.
 *
 * Server input is hostile: malformed XML, stream errors and protocol violations end the
 * connection with a code and a reason (on_fail), never a crash; every buffer is bounded by
 * the stream parser's limits or drained at once.
 */
#ifndef CV_BENCH_CLIENT_H
#define CV_BENCH_CLIENT_H

#include <stdalign.h>
#include <netinet/in.h>

#include "corvid/buf.h"
#include "corvid/stanza.h"
#include "corvid/xml_stream.h"
#include "opts.h"
#include "scram_client.h"

typedef struct cv_bench_conn_s cv_bench_conn_t;

typedef struct cv_bench_client_ops_s {
    /* Negotiation finished (bound, session and roster done): the scenario sends its
       initial presence. */
    void (*on_online)(cv_bench_conn_t *c);
    /* A stanza the client did not consume (message, presence, iq from the server, and the
       roster result). root is valid during the call only. */
    void (*on_stanza)(cv_bench_conn_t *c, const cv_xml_node_t *root);
    /* The connection failed: code is -CV_E*, why a static or short-lived text. The
       connection is already marked failed and closing. */
    void (*on_fail)(cv_bench_conn_t *c, int code, const char *why);
    /* Bytes were appended to c->out. */
    void (*on_output)(cv_bench_conn_t *c);
} cv_bench_client_ops_t;

typedef struct cv_bench_client_cfg_s {
    const cv_bench_opts_t *opts;
    void *tls_ctx; /* WOLFSSL_CTX *, client method, no verification; NULL without TLS */
    const cv_bench_client_ops_t *ops;
} cv_bench_client_cfg_t;

typedef enum {
    CV_BENCH_CS_CONNECTING = 0,
    CV_BENCH_CS_STREAM,   /* waiting for features (before TLS or before SASL) */
    CV_BENCH_CS_STARTTLS, /* waiting for <proceed/> */
    CV_BENCH_CS_TLS,      /* handshake */
    CV_BENCH_CS_AUTH,     /* SASL exchange */
    CV_BENCH_CS_AUTHED,   /* waiting for features after SASL */
    CV_BENCH_CS_BIND,
    CV_BENCH_CS_SESSION,
    CV_BENCH_CS_ROSTER,
    CV_BENCH_CS_ONLINE,
    CV_BENCH_CS_DEAD,
} cv_bench_conn_state_t;

struct cv_bench_conn_s {
    alignas(8) void *thread; /* owning load-generator thread (opaque here) */
    const cv_bench_client_cfg_t *cfg;
    cv_bench_scram_cache_t *cache;
    uint32_t idx;  /* user index inside the run, 0-based */
    uint32_t user; /* account number: the name is <prefix><user> */

    /* Socket state, managed by bench/loop.c. With direct descriptors (kernel 6.13+) the
       socket lives only in the thread's fixed-file table and fd is its slot
       (idx / threads), so the generator's connections are not bounded by the process's
       open-file limit; otherwise it is an ordinary descriptor. -1 until it exists. */
    int fd;
    uint16_t inflight; /* SQEs in flight referencing this connection */
    uint8_t connect_inflight;
    uint8_t recv_armed;
    uint8_t send_inflight;
    uint8_t connected;
    uint8_t closing; /* end: flush `out`, then shut the socket down and free */
    uint8_t shut;
    uint8_t peer_gone; /* socket failed or the server closed: drop output */
    uint8_t dirty;
    cv_bench_conn_t *dirty_next;
    struct sockaddr_in src, dst;
    cv_buf_t out;     /* wire bytes to send */
    cv_buf_t sending; /* owned by the kernel until the send completes */
    size_t sent;

    /* Protocol state. */
    cv_bench_conn_state_t state;
    uint8_t failed;
    uint8_t pause;  /* set inside the parser callback: what to do when it returns */
    uint8_t tls_up; /* handshake done, all traffic goes through ssl */
    uint8_t authed;
    uint8_t need_session;
    uint8_t stream_closed;
    cv_xml_stream_t *xml;
    void *ssl;       /* WOLFSSL * */
    cv_buf_t tls_in; /* ciphertext received and not yet taken by wolfSSL */
    size_t tls_in_off;
    cv_bench_scram_t scram;
    uint64_t t_start_ns;  /* connect submitted */
    uint64_t t_online_ns; /* negotiation done */
    uint32_t next_id;

    /* Scenario fields (bench/scen.c). */
    uint8_t roster_error;
    uint8_t counted_online;
    uint8_t cycling;
    uint32_t roster_both;  /* expected contacts with subscription both */
    uint8_t *contact_bits; /* presence: 2 bitmaps of `contacts` bits (both, asked) */
    uint32_t to_send;      /* offline: messages this sender still has to send */
    uint32_t unacked;      /* offline: messages sent since the last ping */
    uint32_t pings_out;    /* offline: pings in flight */
};

/* Thread: owner. Prepares c for user idx (account number user). Returns 0 or -CV_ENOMEM. */
int cv_bench_conn_init(cv_bench_conn_t *c, const cv_bench_client_cfg_t *cfg,
                       cv_bench_scram_cache_t *cache, uint32_t idx, uint32_t user);
/* Thread: owner. The TCP connection is up: starts TLS (direct) or sends the stream
   header. Returns 0 or a negative code (on_fail was called). */
int cv_bench_conn_begin(cv_bench_conn_t *c);
/* Thread: owner. Handles bytes received from the server. Returns 0 or a negative code
   (on_fail was called). */
int cv_bench_conn_input(cv_bench_conn_t *c, const char *data, size_t len);
/* Thread: owner. Sends plaintext (encrypted when TLS is up). Returns 0, -CV_AGAIN during
   a TLS handshake, -CV_ECLOSED after failure, -CV_ETLS or -CV_ENOMEM. */
int cv_bench_conn_send(cv_bench_conn_t *c, const char *data, size_t len);
int cv_bench_conn_sendf(cv_bench_conn_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Thread: owner. Sends </stream:stream> if the stream is up. */
void cv_bench_conn_end_stream(cv_bench_conn_t *c);
/* Thread: owner. Marks c failed, calls on_fail once. Returns code. */
int cv_bench_conn_fail(cv_bench_conn_t *c, int code, const char *why);
/* Thread: owner. Frees what the protocol side holds (not the struct, not the socket). */
void cv_bench_conn_cleanup(cv_bench_conn_t *c);
/* Thread: any. Monotonic nanoseconds. */
uint64_t cv_bench_now_ns(void);

#endif
