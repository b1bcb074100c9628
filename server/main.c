/*
 * corvid — the XMPP server. Loads the configuration, opens the store, prepares TLS
 * (making a self-signed certificate per host on first run when none is configured),
 * starts the rings and waits for SIGINT/SIGTERM, then closes every stream cleanly.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "corvid/clock.h"
#include "corvid/log.h"
#include "corvid/offload.h"
#include "corvid/server.h"
#include "corvid/setup.h"
#include "corvid/xml_stream.h"

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s [-c FILE] [--set KEY=VALUE]... [--check-config]\n"
            "  -c, --config FILE   configuration file (default %s)\n"
            "  --set KEY=VALUE     override one key, e.g. --set listeners.0.port=5333\n"
            "  --check-config      validate the configuration and exit\n"
            "  --version           print the version and exit\n",
            prog, CV_DEFAULT_CONFIG);
}

/* The certificate paths of a host: configured ones, or the self-signed pair made (once)
   in <data_dir>/certs/. */
static int host_tls_paths(const cv_config_t *cfg, const cv_conf_host_t *h, cv_buf_t *cert,
                          cv_buf_t *key)
{
    int rc;
    if (h->tls_cert[0]) {
        rc = cv_buf_append_str(cert, h->tls_cert);
        return rc ? rc : cv_buf_append_str(key, h->tls_key);
    }
    rc = cv_buf_printf(cert, "%s/certs/%s.crt", cfg->data_dir, h->name);
    if (rc == 0)
        rc = cv_buf_printf(key, "%s/certs/%s.key", cfg->data_dir, h->name);
    if (rc == 0)
        rc = cv_tls_selfsigned_ensure(cert->data, key->data, h->name);
    if (rc < 0)
        cv_error("cannot make a self-signed certificate for %s in %s/certs", h->name,
                 cfg->data_dir);
    return rc;
}

static int setup_tls(const cv_config_t *cfg, cv_tls_ctx_t **out)
{
    int needed = 0, rc;
    *out = NULL;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        needed |= cfg->listeners[i].tls != CV_TLS_MODE_NONE;
    if (!needed)
        return 0;
    rc = cv_tls_ctx_create(out);
    for (size_t i = 0; rc == 0 && i < cfg->nhosts; i++) {
        cv_buf_t cert = CV_BUF_INIT, key = CV_BUF_INIT;
        rc = host_tls_paths(cfg, &cfg->hosts[i], &cert, &key);
        if (rc == 0)
            rc = cv_tls_ctx_add_host(*out, cfg->hosts[i].name, cert.data, key.data);
        cv_buf_free(&cert);
        cv_buf_free(&key);
    }
    if (rc < 0) {
        cv_tls_ctx_free(*out);
        *out = NULL;
    }
    return rc;
}

/* cv_store_opts_t.on_fatal, on whichever thread met the failure: the main thread takes
   it as a SIGTERM (it waits in sigwait, every other thread blocks the signal). */
static void store_failed(void *arg)
{
    cv_server_t *srv = arg;
    atomic_store(&srv->store_failed, 1);
    if (kill(getpid(), SIGTERM) < 0)
        cv_error("cannot stop after the store failed: %s", strerror(errno));
}

static int wait_for_signal(void)
{
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    while (sigwait(&set, &sig) != 0)
        ;
    return sig;
}

/* Each worker's table of sockets may be as large as the soft open-file limit, so take
   the hard one: the default soft limit (often 1024) would cap a worker far below the
   configured connections. */
static void raise_open_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            cv_warn("cannot raise the open-file limit: %s", strerror(errno));
    }
}

static int run(const cv_config_t *cfg)
{
    cv_server_t srv;
    cv_net_t *net = NULL;
    cv_net_opts_t opts;
    int rc;

    memset(&srv, 0, sizeof srv);
    atomic_init(&srv.offline_lost, 0);
    atomic_init(&srv.offline_lost_reported_ms, 0);
    atomic_init(&srv.store_failed, 0);
    srv.config = cfg;
    srv.started_ms = cv_clock_ms();
    if (getrandom(srv.secret, sizeof srv.secret, 0) != (ssize_t)sizeof srv.secret) {
        rc = -errno;
        goto out;
    }
    rc = cv_setup_store(cfg, store_failed, &srv, &srv.store);
    if (rc < 0)
        goto out;
    rc = setup_tls(cfg, &srv.tls);
    if (rc < 0)
        goto out;
    /* One thread per worker: password checks are rare, but a burst of them (clients
       reconnecting with PLAIN) then takes the same CPUs the rings would have lent. */
    rc = cv_offload_create(&srv.offload, cfg->workers);
    if (rc < 0)
        goto out;
    /* Not the same pool: these jobs mostly sleep in a group commit, so there are more
       threads than CPUs, and a burst of password checks must not hold roster writes. */
    rc = cv_offload_create(&srv.store_jobs, cfg->store_write_threads);
    if (rc < 0)
        goto out;
    rc = cv_throttle_create(&srv.fail_by_ip, cfg->max_failures_per_ip);
    if (rc == 0)
        rc = cv_throttle_create(&srv.fail_by_account, cfg->max_failures_per_account);
    if (rc == 0)
        rc = cv_sessions_create(&srv.sessions, 1024);
    if (rc == 0)
        rc = cv_routes_create(&srv.routes);
    for (size_t i = 0; rc == 0 && i < cfg->nhosts; i++)
        rc = cv_routes_add(srv.routes, cfg->hosts[i].name, CV_ROUTE_LOCAL, NULL);
    if (rc == 0)
        rc = cv_sched_create(&srv.sched, cfg->workers, cv_server_wake_worker, &srv);
    if (rc < 0)
        goto out;
    memset(&opts, 0, sizeof opts);
    opts.config = cfg;
    opts.tls = srv.tls;
    cv_c2s_net_ops(&opts.ops, &srv);
    rc = cv_net_create(&net, &opts);
    if (rc < 0)
        goto out;
    srv.net = net;
    rc = cv_net_start(net);
    if (rc == 0)
        rc = cv_server_watch_deletions(&srv);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const cv_conf_listener_t *l = &cfg->listeners[i];
        static const char *const modes[] = {"STARTTLS", "direct TLS", "no TLS"};
        cv_info("listening on %s port %u (%s, %s%s)", l->address, l->port, l->type, modes[l->tls],
                l->require_tls ? ", TLS required" : "");
    }
    cv_info("corvid %s serving %s%s with %u worker%s", CORVID_VERSION, cfg->hosts[0].name,
            cfg->nhosts > 1 ? " and more" : "", cfg->workers, cfg->workers == 1 ? "" : "s");
    int sig = wait_for_signal();
    if (atomic_load(&srv.store_failed)) {
        cv_error("stopping: the store failed for good (above); closing every stream in a "
                 "second and exiting with status 1, to be started again");
        /* The second lets the error replies to what the failure refused (an offline
           message, a roster change) reach their senders before the streams close. */
        struct timespec grace = {.tv_sec = 1, .tv_nsec = 0};
        while (nanosleep(&grace, &grace) != 0 && errno == EINTR)
            ;
    } else {
        cv_info("%s received: closing every stream", strsignal(sig));
    }
    cv_net_stop(net);
    /* Password checks and store jobs still running finish and post their answers, which
       the drain below runs (their connections are gone, so they only release the sessions;
       a parked actor routes what waited behind its job, any new job running inline). */
    cv_offload_stop(srv.offload);
    cv_offload_stop(srv.store_jobs);
    /* Work still queued (unavailable presence of the closed sessions, deliveries to them)
       runs now, so every session and stanza is released before the store closes. */
    while (cv_sched_drain(srv.sched) + cv_net_drain(net) > 0)
        ;
    /* Offline writes still in flight finish as the store closes, and one its quota refused
       answers its sender through a ring inbox: close it while the inboxes and the session
       table still exist, then run what those answers left. */
    cv_store_close(srv.store);
    srv.store = NULL;
    while (cv_sched_drain(srv.sched) + cv_net_drain(net) > 0)
        ;
    if (atomic_load(&srv.offline_lost) > 0)
        cv_warn("%u more message(s) lost since the last report (recipient gone, offline "
                "storage refused them)",
                atomic_load(&srv.offline_lost));
    cv_info("stopped");
    if (atomic_load(&srv.store_failed))
        rc = CV_ESTORE;
out:
    if (rc < 0 && !atomic_load(&srv.store_failed))
        cv_error("cannot start: %s", cv_strerror(rc));
    cv_offload_stop(srv.offload); /* a no-op after a normal stop */
    cv_offload_stop(srv.store_jobs);
    cv_net_destroy(net);
    cv_offload_free(srv.offload);
    cv_offload_free(srv.store_jobs);
    cv_sessions_free(srv.sessions);
    cv_routes_free(srv.routes);
    cv_sched_free(srv.sched);
    cv_throttle_free(srv.fail_by_ip);
    cv_throttle_free(srv.fail_by_account);
    cv_tls_ctx_free(srv.tls);
    if (srv.store)
        cv_store_close(srv.store);
    return rc;
}

int main(int argc, char **argv)
{
    cv_cli_conf_t cli = {NULL, NULL, 0};
    cv_config_t *cfg = NULL;
    int check_only = 0, rc = 0;
    sigset_t set;

    for (int i = 1; i < argc;) {
        rc = cv_cli_conf_option(&cli, argc, argv, &i);
        if (rc < 0)
            goto out;
        if (rc == 1)
            continue;
        if (strcmp(argv[i], "--check-config") == 0) {
            check_only = 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("corvid %s\n", CORVID_VERSION);
            goto out;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout, argv[0]);
            goto out;
        } else {
            fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]);
            usage(stderr, argv[0]);
            rc = CV_EINVAL;
            goto out;
        }
        i++;
    }
    rc = cv_setup_config(&cli, &cfg);
    if (rc < 0)
        goto out;
    if (check_only) {
        printf("%s: configuration OK\n", cfg->path);
        goto out;
    }
    cv_log_set_level(cfg->log_level);
    /* Worker threads inherit this mask: only the main thread takes the signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    umask(077);
    raise_open_file_limit();
    rc = cv_xml_lib_init();
    if (rc == 0)
        rc = run(cfg);
out:
    cv_config_free(cfg);
    cv_cli_conf_free(&cli);
    return rc < 0 ? (rc == CV_ECONFIG ? 2 : 1) : 0;
}
