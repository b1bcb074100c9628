/*
 * corvid-bench — the load generator: runs one scenario against an XMPP server on this
 * machine and prints one table row (and with --json one JSON object) per result.
 * The main thread drives the phases of a run and samples the server's /proc figures;
 * the load threads (bench/loop.c, bench/scen.c) do all the network work.
 */
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "corvid/xml_stream.h"
#include "bench.h"
#include "report.h"

typedef struct bench_ctx_s {
    cv_bench_opts_t o;
    WOLFSSL_CTX *tls;
    cv_bench_scram_cache_t *caches; /* one per thread, kept across the runs of max-rate */
} bench_ctx_t;

static double now_s(void)
{
    return (double)cv_bench_now_ns() / 1e9;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static double client_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void progress(const bench_ctx_t *b, cv_bench_run_t *r, const char *what, double *last)
{
    double t = now_s();
    if (b->o.quiet || t - *last < 1.0)
        return;
    *last = t;
    fprintf(
        stderr,
        "  [%s] %s: online %llu, logins %llu, failed %llu, sent %llu, received %llu, "
        "errors %llu\n",
        cv_bench_scenario_name(b->o.scenario), what, (unsigned long long)CV_BENCH_SUM(r, online),
        (unsigned long long)CV_BENCH_SUM(r, logins), (unsigned long long)CV_BENCH_SUM(r, failed),
        (unsigned long long)CV_BENCH_SUM(r, sent), (unsigned long long)CV_BENCH_SUM(r, received),
        (unsigned long long)CV_BENCH_SUM(r, errors));
}

/* Waits until `target` sessions are online; 0, or CV_EPROTO when a connection failed, or
   CV_AGAIN on timeout. */
static int wait_online(const bench_ctx_t *b, cv_bench_run_t *r, uint64_t target)
{
    double t0 = now_s(), last = t0;
    for (;;) {
        if (CV_BENCH_SUM(r, failed) > 0)
            return CV_EPROTO;
        if (CV_BENCH_SUM(r, online) >= target)
            return 0;
        if (now_s() - t0 > b->o.timeout_s)
            return CV_AGAIN;
        progress(b, r, "logging in", &last);
        sleep_ms(2);
    }
}

/* Sleeps secs while printing progress. */
static void hold(const bench_ctx_t *b, cv_bench_run_t *r, double secs, const char *what)
{
    double t0 = now_s(), last = t0;
    while (now_s() - t0 < secs) {
        progress(b, r, what, &last);
        sleep_ms(5);
    }
}

/* Everything the threads measured, merged after the join. */
typedef struct totals_s {
    cv_bench_hist_t login, lat;
    uint64_t logins, failed, sent, received, errors, stale, presences, roster_err;
    uint64_t last_rx_ns, stored_ns;
    int fail_code;
    char note[128];
} totals_t;

static void merge(cv_bench_run_t *r, totals_t *t)
{
    memset(t, 0, sizeof *t);
    cv_bench_hist_init(&t->login);
    cv_bench_hist_init(&t->lat);
    for (unsigned i = 0; i < r->nthreads; i++) {
        cv_bench_thread_t *th = &r->threads[i];
        cv_bench_hist_merge(&t->login, &th->hist_login);
        cv_bench_hist_merge(&t->lat, &th->hist_lat);
        t->logins += th->logins;
        t->failed += th->failed;
        t->sent += th->sent;
        t->received += th->received;
        t->errors += th->errors;
        t->stale += th->stale;
        t->presences += th->presences;
        t->roster_err += th->roster_err;
        if (th->last_rx_ns > t->last_rx_ns)
            t->last_rx_ns = th->last_rx_ns;
        if (th->stored_ns > t->stored_ns)
            t->stored_ns = th->stored_ns;
        if (!t->note[0] && th->fail_note[0]) {
            t->fail_code = th->fail_code;
            snprintf(t->note, sizeof t->note, "%s", th->fail_note);
        }
    }
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void set_status(cv_bench_row_t *row, const char *status, const char *note)
{
    snprintf(row->status, sizeof row->status, "%s", status);
    if (note && note[0])
        snprintf(row->note, sizeof row->note, "%s", note);
}

/* A failed run: "unsupported" when the server lacks the feature, "failed" otherwise. */
static void set_failure(cv_bench_row_t *row, const totals_t *t, int rc, const char *phase)
{
    char note[160];
    int unsupp = t->fail_code == CV_EUNSUPP || rc == CV_EUNSUPP;
    snprintf(note, sizeof note, "%s: %s", phase,
             t->note[0]       ? t->note
             : rc == CV_AGAIN ? "timed out"
                              : cv_strerror(rc));
    set_status(row, unsupp ? "unsupported" : "failed", note);
}

static void fill_latency(cv_bench_row_t *row, const cv_bench_hist_t *h)
{
    if (h->count == 0)
        return;
    row->p50_ms = ms(cv_bench_hist_quantile(h, 0.50));
    row->p99_ms = ms(cv_bench_hist_quantile(h, 0.99));
    row->p999_ms = ms(cv_bench_hist_quantile(h, 0.999));
    row->mean_ms = cv_bench_hist_mean(h) / 1e6;
}

static void server_sample(const bench_ctx_t *b, cv_bench_proc_t *p)
{
    p->cpu_s = p->rss_kb = p->hwm_kb = NAN;
    if (b->o.server_pid && cv_bench_proc_read(b->o.server_pid, p) < 0)
        p->cpu_s = p->rss_kb = p->hwm_kb = NAN;
}

static int new_run(bench_ctx_t *b, const cv_bench_opts_t *o, double rate, cv_bench_run_t **r)
{
    int rc = cv_bench_run_create(r, o, b->tls, b->caches);
    if (rc < 0)
        return rc;
    (*r)->rate = rate;
    rc = cv_bench_run_start(*r);
    if (rc < 0) {
        cv_bench_run_finish(*r);
        cv_bench_run_destroy(*r);
        *r = NULL;
    }
    return rc;
}

static void end_run(cv_bench_run_t *r, totals_t *t)
{
    cv_bench_run_finish(r);
    merge(r, t);
    cv_bench_run_destroy(r);
}

static void scen_login(bench_ctx_t *b, cv_bench_row_t *row)
{
    cv_bench_run_t *r;
    totals_t t;
    int rc = new_run(b, &b->o, b->o.rate, &r);
    if (rc < 0) {
        memset(&t, 0, sizeof t);
        set_failure(row, &t, rc, "start");
        return;
    }
    double t0 = now_s(), last = t0;
    while (!CV_BENCH_ALL(r, sending_done) && now_s() - t0 < b->o.duration_s &&
           CV_BENCH_SUM(r, failed) == 0) {
        progress(b, r, "logging in and out", &last);
        sleep_ms(1);
    }
    double el = now_s() - t0;
    end_run(r, &t);
    row->duration_s = el;
    row->rate = (double)t.logins / el;
    row->sent = (double)t.logins;
    fill_latency(row, &t.login);
    snprintf(row->unit, sizeof row->unit, "logins/s");
    if (t.failed)
        set_failure(row, &t, CV_EPROTO, "login");
}

/* One chat run at `rate`; fills the row's rate, latency and loss figures. */
static void chat_once(bench_ctx_t *b, double rate, cv_bench_row_t *row)
{
    cv_bench_run_t *r;
    cv_bench_proc_t pa, pb;
    totals_t t;
    int rc = new_run(b, &b->o, rate, &r);
    memset(&t, 0, sizeof t);
    row->offered_rate = rate;
    snprintf(row->unit, sizeof row->unit, "msgs/s");
    if (rc < 0) {
        set_failure(row, &t, rc, "start");
        return;
    }
    rc = wait_online(b, r, r->nusers);
    if (rc < 0) {
        end_run(r, &t);
        set_failure(row, &t, rc, "login");
        return;
    }
    server_sample(b, &pa);
    double t0 = now_s();
    cv_bench_run_set_phase(r, CV_BENCH_PH_RUN);
    hold(b, r, b->o.duration_s, "sending");
    cv_bench_run_set_phase(r, CV_BENCH_PH_DRAIN);
    double t1 = now_s(), last = t1;
    while (now_s() - t1 < b->o.drain_s) {
        uint64_t sent = CV_BENCH_SUM(r, sent);
        if (CV_BENCH_ALL(r, sending_done) &&
            CV_BENCH_SUM(r, received) + CV_BENCH_SUM(r, errors) >= sent)
            break;
        progress(b, r, "draining", &last);
        sleep_ms(2);
    }
    server_sample(b, &pb);
    end_run(r, &t);
    row->duration_s = t1 - t0;
    row->sent = (double)t.sent;
    row->received = (double)t.received;
    row->errors = (double)t.errors;
    row->lost = (double)t.sent - (double)t.received - (double)t.errors;
    row->rate = (double)t.received / row->duration_s;
    row->server_cpu_s = pb.cpu_s - pa.cpu_s;
    fill_latency(row, &t.lat);
    if (t.errors > 0 && t.received == 0)
        set_failure(row, &t, CV_EUNSUPP, "chat");
    else if (t.failed)
        set_failure(row, &t, CV_EPROTO, "chat");
    else if (row->lost > 0 || t.errors > 0) {
        char note[96];
        snprintf(note, sizeof note, "%.0f lost, %llu bounced", row->lost,
                 (unsigned long long)t.errors);
        set_status(row, "failed", note);
    }
}

static void scen_maxrate(bench_ctx_t *b, cv_bench_row_t *row)
{
    double rate = b->o.rate;
    cv_bench_row_t best, step;
    int have_best = 0;
    best = *row;
    for (unsigned i = 0; i < b->o.max_steps; i++, rate *= b->o.rate_factor) {
        /* Each step starts from the row's identity (scenario, server, tls, ...). */
        step = *row;
        chat_once(b, rate, &step);
        if (!b->o.quiet)
            fprintf(stderr,
                    "  [max-rate] step %u: offered %.0f/s delivered %.0f/s p99 %.3f ms lost %.0f "
                    "%s %s\n",
                    i + 1, rate, step.rate, step.p99_ms, step.lost, step.status, step.note);
        if (strcmp(step.status, "unsupported") == 0 ||
            (strcmp(step.status, "failed") == 0 && !have_best && step.errors > 0)) {
            *row = step;
            return;
        }
        int good = strcmp(step.status, "ok") == 0 && isfinite(step.p99_ms) &&
                   step.p99_ms <= b->o.p99_limit_ms && step.rate >= 0.9 * rate;
        if (!good) {
            char note[120];
            snprintf(note, sizeof note, "p99 %.1f ms, %.0f/s delivered, %.0f lost at %.0f/s",
                     step.p99_ms, step.rate, step.lost, rate);
            if (!have_best) {
                *row = step;
                set_status(row, "ok", "");
                snprintf(row->note, sizeof row->note, "below the first step: %s", note);
                row->knee_rate = 0;
                return;
            }
            *row = best;
            snprintf(row->note, sizeof row->note, "knee; next step: %s", note);
            return;
        }
        best = step;
        best.knee_rate = rate;
        have_best = 1;
    }
    *row = best;
    snprintf(row->note, sizeof row->note, "no knee below %.0f/s (max steps reached)",
             rate / b->o.rate_factor);
}

static void scen_idle(bench_ctx_t *b, cv_bench_row_t *row)
{
    cv_bench_run_t *r;
    cv_bench_proc_t p0, p1, p2;
    totals_t t;
    server_sample(b, &p0);
    int rc = new_run(b, &b->o, 0, &r);
    memset(&t, 0, sizeof t);
    snprintf(row->unit, sizeof row->unit, "sessions");
    if (rc < 0) {
        set_failure(row, &t, rc, "start");
        return;
    }
    rc = wait_online(b, r, r->nusers);
    if (rc < 0) {
        end_run(r, &t);
        set_failure(row, &t, rc, "login");
        return;
    }
    /* Two server ticks: a session that was still sending when one began has had a whole
       quiet tick since, so it has given back what only active sessions hold. */
    hold(b, r, 2.5, "settling");
    server_sample(b, &p1);
    hold(b, r, b->o.duration_s, "idle");
    server_sample(b, &p2);
    uint64_t online = CV_BENCH_SUM(r, online);
    end_run(r, &t);
    row->rate = (double)online;
    row->duration_s = b->o.duration_s;
    row->rss_per_session_kb = (p1.rss_kb - p0.rss_kb) / (double)b->o.users;
    row->server_cpu_pct = (p2.cpu_s - p1.cpu_s) / b->o.duration_s * 100.0;
    fill_latency(row, &t.login);
    if (t.failed)
        set_failure(row, &t, CV_EPROTO, "idle");
}

static void scen_presence(bench_ctx_t *b, cv_bench_row_t *row)
{
    cv_bench_opts_t o = b->o;
    cv_bench_run_t *r;
    cv_bench_proc_t pa, pb;
    totals_t t;
    o.roster = 1;
    memset(&t, 0, sizeof t);
    snprintf(row->unit, sizeof row->unit, "presences/s");
    int rc = cv_bench_run_create(&r, &o, b->tls, b->caches);
    if (rc == 0) {
        rc = cv_bench_run_start(r);
        if (rc < 0) {
            end_run(r, &t);
            set_failure(row, &t, rc, "start");
            return;
        }
    }
    if (rc < 0) {
        set_failure(row, &t, rc, "start");
        return;
    }
    rc = wait_online(b, r, r->nusers);
    if (rc == 0 && CV_BENCH_SUM(r, roster_err) > 0)
        rc = CV_EUNSUPP;
    if (rc < 0) {
        end_run(r, &t);
        set_failure(row, &t, rc, "login");
        return;
    }
    if (CV_BENCH_SUM(r, roster_ok) < r->nusers) {
        double t0 = now_s(), last = t0;
        double limit = o.timeout_s < 30 ? o.timeout_s : 30;
        cv_bench_run_set_phase(r, CV_BENCH_PH_SETUP);
        while (CV_BENCH_SUM(r, roster_ok) < r->nusers && now_s() - t0 < limit &&
               CV_BENCH_SUM(r, failed) == 0) {
            if (!b->o.quiet && now_s() - last >= 1.0) {
                last = now_s();
                fprintf(stderr, "  [presence] building rosters: %llu/%u complete\n",
                        (unsigned long long)CV_BENCH_SUM(r, roster_ok), r->nusers);
            }
            sleep_ms(5);
        }
        if (CV_BENCH_SUM(r, roster_ok) < r->nusers) {
            uint64_t ok = CV_BENCH_SUM(r, roster_ok);
            end_run(r, &t);
            char note[128];
            snprintf(note, sizeof note,
                     "rosters of %u contacts not established by subscriptions (%llu/%u)",
                     o.contacts, (unsigned long long)ok, o.users);
            set_status(row, t.failed ? "failed" : "unsupported", t.failed ? t.note : note);
            return;
        }
    }
    server_sample(b, &pa);
    double t0 = now_s();
    cv_bench_run_set_phase(r, CV_BENCH_PH_RUN);
    hold(b, r, o.duration_s, "logging out and in");
    double t1 = now_s();
    cv_bench_run_set_phase(r, CV_BENCH_PH_DRAIN);
    hold(b, r, o.drain_s < 1 ? o.drain_s : 1, "draining");
    server_sample(b, &pb);
    end_run(r, &t);
    row->duration_s = t1 - t0;
    row->sent = (double)t.sent; /* log-out/log-in cycles */
    row->received = (double)t.presences;
    row->rate = (double)t.presences / row->duration_s;
    row->server_cpu_s = pb.cpu_s - pa.cpu_s;
    fill_latency(row, &t.lat);
    if (t.failed)
        set_failure(row, &t, CV_EPROTO, "presence");
    else if (t.presences == 0)
        set_status(row, "unsupported", "no presence broadcast received");
}

static void scen_offline(bench_ctx_t *b, cv_bench_row_t *row)
{
    cv_bench_run_t *r;
    cv_bench_proc_t pa, pb;
    totals_t t;
    unsigned senders = b->o.users / 2 ? b->o.users / 2 : 1;
    memset(&t, 0, sizeof t);
    snprintf(row->unit, sizeof row->unit, "stored/s");
    int rc = new_run(b, &b->o, 0, &r);
    if (rc < 0) {
        set_failure(row, &t, rc, "start");
        return;
    }
    rc = wait_online(b, r, senders);
    if (rc < 0) {
        end_run(r, &t);
        set_failure(row, &t, rc, "login");
        return;
    }
    server_sample(b, &pa);
    uint64_t t0 = cv_bench_now_ns();
    cv_bench_run_set_phase(r, CV_BENCH_PH_RUN);
    double s0 = now_s(), last = s0;
    while (!CV_BENCH_ALL(r, sending_done) && now_s() - s0 < b->o.timeout_s &&
           CV_BENCH_SUM(r, failed) == 0) {
        progress(b, r, "storing", &last);
        sleep_ms(2);
    }
    int stored_all = CV_BENCH_ALL(r, sending_done);
    uint64_t sent = CV_BENCH_SUM(r, sent), errors = CV_BENCH_SUM(r, errors);
    uint64_t t1 = cv_bench_now_ns();
    cv_bench_run_set_phase(r, CV_BENCH_PH_DELIVER);
    s0 = now_s();
    while (stored_all && errors < sent && now_s() - s0 < b->o.timeout_s &&
           CV_BENCH_SUM(r, failed) == 0) {
        uint64_t got = CV_BENCH_SUM(r, received);
        errors = CV_BENCH_SUM(r, errors);
        if (got + errors >= sent) {
            /* Late bounces and stragglers: give the drain period once everything is in. */
            break;
        }
        progress(b, r, "delivering", &last);
        sleep_ms(2);
    }
    server_sample(b, &pb);
    end_run(r, &t);
    row->sent = (double)t.sent;
    row->received = (double)t.received;
    row->errors = (double)t.errors;
    row->lost = (double)t.sent - (double)t.received - (double)t.errors;
    row->duration_s = (double)(t.stored_ns > t0 ? t.stored_ns - t0 : 0) / 1e9;
    row->rate = row->duration_s > 0 ? (double)t.sent / row->duration_s : NAN;
    if (t.last_rx_ns > t1)
        row->rate2 = (double)t.received / ((double)(t.last_rx_ns - t1) / 1e9);
    row->server_cpu_s = pb.cpu_s - pa.cpu_s;
    if (t.errors > 0 && t.received == 0)
        set_failure(row, &t, CV_EUNSUPP, "offline");
    else if (t.failed)
        set_failure(row, &t, CV_EPROTO, "offline");
    else if (!stored_all)
        set_status(row, "failed", "storing timed out (pings unanswered)");
    else if (row->lost > 0 || t.errors > 0) {
        char note[96];
        snprintf(note, sizeof note, "%.0f lost, %llu bounced", row->lost,
                 (unsigned long long)t.errors);
        set_status(row, "failed", note);
    } else {
        snprintf(row->note, sizeof row->note, "delivered %.0f/s after login", row->rate2);
    }
}

static int emit(const bench_ctx_t *b, const cv_bench_row_t *row)
{
    cv_buf_t out = CV_BUF_INIT;
    int rc = 0;
    if (!b->o.no_header)
        rc = cv_bench_table_header(&out);
    if (rc == 0)
        rc = cv_bench_row_table(row, &out);
    if (rc == 0 && isfinite(row->scram_hits) && row->scram_hits + row->scram_misses > 0)
        rc = cv_buf_printf(&out,
                           "# client-side SCRAM: salted passwords cached per (password, salt, "
                           "iterations): %.0f hits, %.0f PBKDF2 runs; the server's work is "
                           "unchanged\n",
                           row->scram_hits, row->scram_misses);
    if (rc == 0 && b->o.json)
        rc = cv_bench_row_json(row, &out);
    if (rc == 0 && out.len)
        fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    cv_buf_free(&out);
    return rc;
}

static void cache_totals(const bench_ctx_t *b, double *hits, double *misses)
{
    *hits = *misses = 0;
    for (unsigned i = 0; i < b->o.threads; i++) {
        *hits += (double)b->caches[i].hits;
        *misses += (double)b->caches[i].misses;
    }
}

int main(int argc, char **argv)
{
    bench_ctx_t b;
    cv_bench_row_t row;
    char err[256];
    int rc, status = 1;

    memset(&b, 0, sizeof b);
    rc = cv_bench_opts_parse(&b.o, argc, argv, err, sizeof err);
    if (rc == 1) {
        fputs(cv_bench_usage(), stdout);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "corvid-bench: %s\n%s", err, cv_bench_usage());
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    cv_xml_lib_init();
    if (b.o.tls != CV_BENCH_TLS_NONE) {
        if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
            fprintf(stderr, "corvid-bench: wolfSSL_Init failed\n");
            return 1;
        }
        b.tls = wolfSSL_CTX_new(wolfSSLv23_client_method());
        if (!b.tls) {
            fprintf(stderr, "corvid-bench: cannot create a TLS context\n");
            goto out;
        }
        /* Benchmarks run against self-signed certificates: no verification. */
        wolfSSL_CTX_set_verify(b.tls, WOLFSSL_VERIFY_NONE, NULL);
        (void)wolfSSL_CTX_SetMinVersion(b.tls, WOLFSSL_TLSV1_2);
    }
    b.caches = calloc(b.o.threads, sizeof *b.caches);
    if (!b.caches) {
        fprintf(stderr, "corvid-bench: out of memory\n");
        goto out;
    }
    for (unsigned i = 0; i < b.o.threads; i++)
        cv_bench_scram_cache_init(&b.caches[i], 4u * 1024u * 1024u);

    cv_bench_row_init(&row);
    snprintf(row.scenario, sizeof row.scenario, "%s", cv_bench_scenario_name(b.o.scenario));
    snprintf(row.server, sizeof row.server, "%s", b.o.label);
    snprintf(row.tls, sizeof row.tls, "%s", cv_bench_tls_name(b.o.tls));
    snprintf(row.mech, sizeof row.mech, "%s", cv_bench_mech_name(b.o.mech));
    snprintf(row.status, sizeof row.status, "ok");
    row.users = b.o.users;
    row.threads = b.o.threads;
    if (b.o.server_pid && cv_bench_proc_reset_hwm(b.o.server_pid) < 0 && !b.o.quiet)
        fprintf(stderr, "corvid-bench: cannot reset the server's VmHWM: it counts from its "
                        "start\n");
    cv_bench_proc_t p0, p1;
    server_sample(&b, &p0);
    if (b.o.server_pid && !isfinite(p0.cpu_s))
        fprintf(stderr, "corvid-bench: cannot read /proc/%d: no server figures\n", b.o.server_pid);
    double c0 = client_cpu_s();
    switch (b.o.scenario) {
    case CV_BENCH_LOGIN: scen_login(&b, &row); break;
    case CV_BENCH_CHAT: chat_once(&b, b.o.rate, &row); break;
    case CV_BENCH_MAXRATE: scen_maxrate(&b, &row); break;
    case CV_BENCH_PRESENCE: scen_presence(&b, &row); break;
    case CV_BENCH_IDLE: scen_idle(&b, &row); break;
    case CV_BENCH_OFFLINE: scen_offline(&b, &row); break;
    }
    server_sample(&b, &p1);
    row.client_cpu_s = client_cpu_s() - c0;
    if (!isfinite(row.server_cpu_s))
        row.server_cpu_s = p1.cpu_s - p0.cpu_s;
    row.server_hwm_kb = p1.hwm_kb;
    row.server_rss_kb = p1.rss_kb;
    cache_totals(&b, &row.scram_hits, &row.scram_misses);
    if (b.o.mech == CV_BENCH_MECH_PLAIN)
        row.scram_hits = row.scram_misses = NAN;
    rc = emit(&b, &row);
    status = rc == 0 && strcmp(row.status, "failed") != 0 ? 0 : 1;
out:
    if (b.caches) {
        for (unsigned i = 0; i < b.o.threads; i++)
            cv_bench_scram_cache_free(&b.caches[i]);
        free(b.caches);
    }
    if (b.tls) {
        wolfSSL_CTX_free(b.tls);
        wolfSSL_Cleanup();
    }
    return status;
}
