/*
 * corvid/server.h — the server's shared context and the client-to-server (C2S) protocol
 * layer that sits on the network layer.
 *
 * cv_server_t owns nothing itself: it points at the configuration, the store, the TLS
 * context and the authentication throttles that main() created. After start-up it is
 * read-only except through those modules' own thread-safe calls, so every ring thread
 * shares one instance.
 *
 * The C2S layer owns one cv_c2s_t per client connection; it runs on the connection's
 * ring thread only (see corvid/net.h).
 */
#ifndef CORVID_SERVER_H
#define CORVID_SERVER_H

#include <stdatomic.h>

#include "corvid/config.h"
#include "corvid/net.h"
#include "corvid/routes.h"
#include "corvid/sched.h"
#include "corvid/sessions.h"
#include "corvid/store.h"
#include "corvid/throttle.h"
#include "corvid/tls.h"

typedef struct cv_server_s {
    const cv_config_t *config;
    cv_store_t *store;
    cv_tls_ctx_t *tls;              /* NULL when no listener uses TLS */
    cv_throttle_t *fail_by_ip;      /* failed authentications per peer address */
    cv_throttle_t *fail_by_account; /* failed authentications per account */
    cv_sessions_t *sessions;        /* bound sessions of every ring */
    cv_routes_t *routes;            /* where each known domain's stanzas go */
    cv_sched_t *sched;              /* actors (sessions) on the worker pool */
    cv_net_t *net;                  /* the rings; set before they start */
    struct cv_offload_s *offload;   /* password checks off the rings; NULL: on the ring */
    /* Stanzas that wait for a store write, off the workers; NULL: on the worker. */
    struct cv_offload_s *store_jobs;
    /* Messages lost because their recipient went away while they were on the way and its
       offline storage refused them (router/offline.c): counted, and reported at most once
       a second (with the next loss, and at shut-down), since a flood can lose thousands at
       once. Any thread. */
    atomic_uint offline_lost;
    atomic_uint_fast64_t offline_lost_reported_ms;
    /* Set (any thread) when the store failed for good (cv_store_opts_t.on_fatal): the
       server then stops as on SIGTERM and exits with status 1, so a supervisor starts it
       again and the store is opened afresh, instead of running on refusing every login. */
    atomic_int store_failed;
    uint8_t secret[32];  /* random per process: keys fake SCRAM salts */
    uint64_t started_ms; /* cv_clock_ms() at start-up (uptime, XEP-0012) */
} cv_server_t;

/* Thread: main. Fills ops with the C2S callbacks bound to srv (which must outlive the
   network layer): connection events, and each loop turn running actors. */
void cv_c2s_net_ops(cv_net_ops_t *ops, cv_server_t *srv);
/* Thread: main, once the rings run. Ring 0 reads the store's log of deleted accounts
   once a second and closes the sessions of each account deleted since (with
   not-authorized), so `corvidctl deluser` on a running server ends them too. Returns 0
   or -CV_E*. */
int cv_server_watch_deletions(cv_server_t *srv);
/* Thread: any. The scheduler's wake-up hook: makes worker `worker` run a turn. arg is the
   cv_server_t. */
void cv_server_wake_worker(unsigned worker, void *arg);

#endif
