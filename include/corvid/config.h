/*
 * corvid/config.h — the server configuration: a YAML file plus command-line overrides,
 * validated into one immutable cv_config_t.
 *
 * Owns the cv_config_t it returns and every string and array hanging from it; nothing
 * else. The file is read, overridden ("--set path=value") and checked on the main
 * thread at start-up (cv_config_load). The result is never modified afterwards, so once
 * it is published to the worker threads (before they start) any thread may read it and
 * call cv_config_host. It is freed by the main thread after the workers have stopped.
 *
 * Errors never print: every problem is appended to the caller's cv_buf_t as one line
 * "<where>: <what>\n", where <where> is "file:line" for the document or
 * "--set <override>" for an override. docs/configuration.md lists every key.
 */
#ifndef CORVID_CONFIG_H
#define CORVID_CONFIG_H

#include "corvid/core.h"
#include "corvid/buf.h"
#include "corvid/log.h"

typedef enum cv_tls_mode_e {
    CV_TLS_MODE_STARTTLS, /* plain TCP, upgraded with <starttls/> (RFC 6120 §5) */
    CV_TLS_MODE_DIRECT,   /* TLS from the first byte (XEP-0368) */
    CV_TLS_MODE_NONE,     /* no TLS offered at all */
} cv_tls_mode_t;

/* limits.dead_peer_timeout: its smallest value other than 0 (probes every ninth of it,
   in whole seconds). */
#define CV_DEAD_PEER_TIMEOUT_MIN_MS 9000u

/* A virtual host. tls_cert and tls_key are both "" (make a self-signed pair) or both set. */
typedef struct cv_conf_host_s {
    char *name; /* lowercase domain, no trailing dot */
    char *tls_cert;
    char *tls_key;
} cv_conf_host_t;

typedef struct cv_conf_listener_s {
    char *type;    /* "c2s" (the only type accepted for now) */
    char *address; /* IPv4 or IPv6 literal, as written */
    uint16_t port;
    cv_tls_mode_t tls;
    int require_tls; /* resolved: 1/0 ("auto" already applied) */
    int allow_plain_without_tls;
} cv_conf_listener_t;

typedef struct cv_config_s {
    char *path; /* the file name (or buffer name) the configuration was read from */

    cv_conf_host_t *hosts; /* at least one */
    size_t nhosts;
    cv_conf_listener_t *listeners; /* at least one; no two share (address, port) */
    size_t nlisteners;

    char *storage_backend; /* "lmdb" */
    char *data_dir;
    size_t lmdb_map_size;
    /* Threads that route the stanzas waiting for a store write (corvid/offload.h). */
    unsigned store_write_threads;

    unsigned workers;       /* resolved: never 0 */
    unsigned batch_wait_us; /* 0: a ring wakes on its first completion */
    int direct_descriptors; /* -1 auto (kernel 6.13+), 0 off, 1 on */

    size_t max_stanza_size; /* >= 10000 (RFC 6120 §13.12) */
    unsigned max_depth;
    unsigned max_attributes;
    unsigned max_connections;
    unsigned negotiation_timeout_ms;
    /* How long a client connection whose peer stopped answering at the TCP level lasts
       (0: as long as the kernel's defaults let it): keepalive probes once it has been
       idle a third of it, and data unacknowledged for that long ends it. */
    unsigned dead_peer_timeout_ms;
    size_t max_output_queue;       /* >= max_stanza_size */
    size_t c2s_rate;               /* bytes/s a client connection may send; 0: no limit */
    unsigned max_pending_stanzas;  /* a session's stanzas received and not yet routed */
    unsigned max_roster_items;     /* items one roster may hold */
    unsigned max_offline_messages; /* messages kept for one offline account; 0 = none */

    char **mechanisms; /* SASL mechanism names, uppercase, in preference order */
    size_t nmechanisms;
    uint32_t scram_iterations;
    int legacy_iq_auth;
    unsigned max_failures_per_ip;
    unsigned max_failures_per_account;

    int registration_enabled;
    unsigned min_password_length;

    cv_log_level_t log_level;
} cv_config_t;

/*
 * Reads the YAML file at path, applies the overrides in order (each "a.b.0.c=value",
 * value parsed as YAML) and validates the result. On success stores a new configuration
 * in *out (the caller owns it: cv_config_free). On failure *out is NULL and the return
 * value is CV_ECONFIG (file unreadable or invalid; the message lines were appended to
 * err, which may be NULL to discard them) or CV_ENOMEM.
 * Thread: main, at start-up. Returns 0 or a negative CV_E* code.
 */
int cv_config_load(cv_config_t **out, const char *path, const char *const *overrides,
                   size_t noverrides, cv_buf_t *err);

/*
 * Same as cv_config_load from a buffer of len bytes; name stands for the file name in
 * messages and in cv_config_t.path. Thread: main (any thread that owns out and err).
 * Returns 0 or a negative CV_E* code.
 */
int cv_config_load_mem(cv_config_t **out, const char *name, const char *data, size_t len,
                       const char *const *overrides, size_t noverrides, cv_buf_t *err);

/* Frees c and everything it owns; NULL is allowed. Thread: main, after workers stop. */
void cv_config_free(cv_config_t *c);

/*
 * Returns the virtual host called name (compared without regard to ASCII case), or NULL
 * if it is not served. The pointer lives as long as c. Linear in the number of hosts.
 * Thread: any, once c is published.
 */
const cv_conf_host_t *cv_config_host(const cv_config_t *c, const char *name);

#endif
