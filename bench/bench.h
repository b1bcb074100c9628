/*
 * bench/bench.h — one run of a scenario: the load-generator threads (one io_uring ring
 * each, with its own share of the connections) and the phases the main thread drives.
 *
 * Ownership and threads:
 * - cv_bench_run_t is created and destroyed by the main thread. Its configuration is
 *   written before the threads start and only read afterwards.
 * - Each cv_bench_thread_t, its ring, its connections, its histograms and counters belong
 *   to its thread while the run is going; the main thread reads the plain fields only
 *   after joining the thread (pthread_join is the happens-before edge).
 * - While the run goes on, the two sides talk only through atomics: the main thread
 *   publishes the phase (release) and each thread publishes its counters in `pub`
 *   (relaxed stores of monotonic counts; `finished` with release). The main thread's
 *   decisions need only eventually-consistent counts, except where noted.
 */
#ifndef CV_BENCH_BENCH_H
#define CV_BENCH_BENCH_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>

#include "client.h"
#include "hist.h"
#include "opts.h"
#include "scram_client.h"

typedef enum {
    CV_BENCH_PH_LOGIN = 0, /* connect and log in the users of the scenario's first group */
    CV_BENCH_PH_SETUP,     /* presence: build the rosters */
    CV_BENCH_PH_RUN,       /* the measured window: send / cycle */
    CV_BENCH_PH_DRAIN,     /* stop sending, keep receiving */
    CV_BENCH_PH_DELIVER,   /* offline: the recipients log in */
    CV_BENCH_PH_CLOSE,     /* end every stream and exit */
} cv_bench_phase_t;

/* Counters a thread publishes for the main thread; one cache line each so threads do
   not share lines. */
typedef struct cv_bench_pub_s {
    alignas(64) atomic_uint_fast64_t online; /* sessions online now */
    atomic_uint_fast64_t logins;             /* negotiations completed */
    atomic_uint_fast64_t failed;             /* connections that failed */
    atomic_uint_fast64_t sent, received, errors, presences;
    atomic_uint_fast64_t roster_ok;  /* presence: sessions whose roster is complete */
    atomic_uint_fast64_t roster_err; /* sessions whose roster get failed */
    atomic_uint_fast64_t last_rx_ns; /* time of the last message counted */
    atomic_uint_fast64_t stored_ns;  /* offline: when this thread's last ping came back */
    atomic_int sending_done;         /* this thread sent all it will send in this phase */
    atomic_int finished;             /* the thread left its loop (release) */
} cv_bench_pub_t;

typedef struct cv_bench_run_s cv_bench_run_t;

typedef struct cv_bench_thread_s {
    alignas(64) cv_bench_run_t *run;
    unsigned index;
    pthread_t tid;
    int started;
    struct io_uring ring;
    int ring_ready;
    uint8_t direct; /* connections are fixed-file slots (see cv_bench_conn_t.fd) */
    struct io_uring_buf_ring *br;
    char *bufs;
    unsigned nbufs;
    struct __kernel_timespec tick;
    int tick_armed;
    cv_bench_conn_t **slots; /* local users: slot k is user index + k * nthreads */
    unsigned nslots;
    unsigned next_slot;      /* round robin for logins and cycling */
    unsigned pending;        /* connections not yet online (in negotiation) */
    unsigned live;           /* connections allocated */
    unsigned cycling;        /* presence: sessions going out and in again */
    unsigned cycle_cursor;   /* round robin over slots for cycling and logins */
    unsigned logins_started; /* login: connections started */
    unsigned *reopen;        /* presence: ring of slots to connect again */
    unsigned reopen_head, cursor_q_len;
    cv_bench_conn_t *dirty;
    uint64_t rng;
    uint32_t src_seq;
    cv_bench_phase_t phase; /* last phase acted upon */
    uint64_t phase_t0;
    double credit; /* rate pacing: messages owed */
    uint64_t last_pace_ns;
    uint64_t close_deadline_ns;
    /* Statistics, read by the main thread after the join. */
    cv_bench_hist_t hist_login, hist_lat;
    uint64_t online, logins, failed, sent, received, errors, stale, presences, roster_ok,
        roster_err, last_rx_ns, offline_target, stored_ns;
    int fail_code;
    char fail_note[128];
    cv_bench_pub_t pub;
} cv_bench_thread_t;

struct cv_bench_run_s {
    const cv_bench_opts_t *o;
    cv_bench_client_cfg_t ccfg;
    cv_bench_client_ops_t ops;
    unsigned nthreads;
    cv_bench_thread_t *threads;
    cv_bench_scram_cache_t *caches; /* one per thread, kept across runs by the caller */
    unsigned nusers;
    double rate;    /* messages (or cycles) per second over all threads */
    unsigned count; /* login: logins; offline: messages */
    uint64_t run_id;
    /* Written by the main thread (release), read by the load threads (acquire). */
    atomic_int phase;
    atomic_uint_fast64_t phase_t0;
};

/* Thread: main. Allocates the run and its threads (not started). caches: nthreads caches
   owned by the caller. Returns 0 or -CV_ENOMEM. */
int cv_bench_run_create(cv_bench_run_t **out, const cv_bench_opts_t *o, void *tls_ctx,
                        cv_bench_scram_cache_t *caches);
/* Thread: main. Starts the threads (phase LOGIN). Returns 0 or a negative code. */
int cv_bench_run_start(cv_bench_run_t *r);
/* Thread: main. Publishes a new phase. */
void cv_bench_run_set_phase(cv_bench_run_t *r, cv_bench_phase_t ph);
/* Thread: main. Sum of one published counter over the threads (offset into pub). */
uint64_t cv_bench_run_sum(cv_bench_run_t *r, size_t field_offset);
#define CV_BENCH_SUM(r, field) cv_bench_run_sum((r), offsetof(cv_bench_pub_t, field))
/* Thread: main. Whether every thread set `sending_done` / `finished`. */
int cv_bench_run_all(cv_bench_run_t *r, size_t flag_offset);
#define CV_BENCH_ALL(r, field) cv_bench_run_all((r), offsetof(cv_bench_pub_t, field))
/* Thread: main. Sets phase CLOSE, joins every thread. */
void cv_bench_run_finish(cv_bench_run_t *r);
/* Thread: main, after cv_bench_run_finish. */
void cv_bench_run_destroy(cv_bench_run_t *r);

/* Inside the load threads (bench/loop.c), for bench/scen.c. */
int cv__bench_conn_open(cv_bench_thread_t *th, unsigned slot);
void cv__bench_conn_close(cv_bench_conn_t *c);
void cv__bench_mark_dirty(cv_bench_conn_t *c);
uint64_t cv__bench_rand(cv_bench_thread_t *th);

/* Scenario behaviour of a load thread (bench/scen.c). */
void cv__bench_scen_tick(cv_bench_thread_t *th, uint64_t now);
void cv__bench_scen_freed(cv_bench_thread_t *th, cv_bench_conn_t *c);
extern const cv_bench_client_ops_t cv__bench_scen_ops;

#endif
