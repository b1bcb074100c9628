/*
 * Option parsing for corvid-bench: every option takes a value except the flags; numbers
 * are checked for range so a typo cannot start a run of a million connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "corvid/core.h"
#include "opts.h"

static const char *const scenario_names[] = {"login",    "chat", "max-rate",
                                             "presence", "idle", "offline"};

const char *cv_bench_scenario_name(cv_bench_scenario_t s)
{
    return scenario_names[s];
}

const char *cv_bench_tls_name(cv_bench_tls_t t)
{
    return t == CV_BENCH_TLS_NONE ? "none" : t == CV_BENCH_TLS_STARTTLS ? "starttls" : "direct";
}

const char *cv_bench_mech_name(cv_bench_mech_t m)
{
    return m == CV_BENCH_MECH_PLAIN        ? "PLAIN"
           : m == CV_BENCH_MECH_SCRAM_SHA1 ? "SCRAM-SHA-1"
                                           : "SCRAM-SHA-256";
}

const char *cv_bench_usage(void)
{
    return "usage: corvid-bench SCENARIO [OPTION VALUE]... [--json]\n"
           "scenarios: login chat max-rate presence idle offline\n"
           "  --host ADDR         server address, loopback IPv4 only (127.0.0.1)\n"
           "  --port N            server port (5222)\n"
           "  --domain NAME       XMPP domain (localhost)\n"
           "  --tls MODE          none | starttls | direct (none)\n"
           "  --mech NAME         plain | scram-sha-1 | scram-sha-256 (scram-sha-256)\n"
           "  --users N           accounts in play / sessions (100)\n"
           "  --user-prefix P     account names P1..PN (user)\n"
           "  --user-base N       first account number (1)\n"
           "  --password S        password of every account (bench-secret)\n"
           "  --threads N         load-generator threads, one io_uring each (2)\n"
           "  --src-ips N         spread connections over 127.0.0.2 .. (1)\n"
           "  --direct-fds MODE   auto | on | off: sockets only in io_uring's file table\n"
           "                      (auto: on with kernel 6.13+)\n"
           "  --duration S        measured window in seconds (5)\n"
           "  --count N           login: logins; offline: messages (1000)\n"
           "  --rate R            chat: messages/s in total; max-rate: first step (1000)\n"
           "  --rate-factor F     max-rate: rate multiplier per step (1.5)\n"
           "  --max-steps N       max-rate: most steps (16)\n"
           "  --p99-limit-ms MS   max-rate: knee criterion (100)\n"
           "  --concurrency N     logins in flight per thread (64)\n"
           "  --contacts N        presence: contacts per roster, even (10)\n"
           "  --roster            fetch the roster during login\n"
           "  --drain S           wait for late messages at most S seconds (5)\n"
           "  --timeout S         login and setup phases give up after S seconds (60)\n"
           "  --server-pid PID    record server CPU and memory from /proc/PID\n"
           "  --label NAME        server name printed in the rows (server)\n"
           "  --json              also print one JSON object per row\n"
           "  --no-header         do not print the table header\n"
           "  --quiet             no progress lines on stderr\n";
}

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return CV_EINVAL;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return CV_EINVAL;
    *out = (unsigned)v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return CV_EINVAL;
    *out = v;
    return 0;
}

static int copy_str(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= cap)
        return CV_EINVAL;
    memcpy(dst, s, n + 1);
    return 0;
}

static void set_defaults(cv_bench_opts_t *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    o->port = 5222;
    snprintf(o->domain, sizeof o->domain, "localhost");
    o->tls = CV_BENCH_TLS_NONE;
    o->mech = CV_BENCH_MECH_SCRAM_SHA256;
    snprintf(o->user_prefix, sizeof o->user_prefix, "user");
    o->user_base = 1;
    o->users = 100;
    snprintf(o->password, sizeof o->password, "bench-secret");
    o->threads = 2;
    o->src_ips = 1;
    o->direct = -1;
    o->duration_s = 5;
    o->count = 1000;
    o->rate = 1000;
    o->rate_factor = 1.5;
    o->max_steps = 16;
    o->p99_limit_ms = 100;
    o->concurrency = 64;
    o->contacts = 10;
    o->drain_s = 5;
    o->timeout_s = 60;
    snprintf(o->label, sizeof o->label, "server");
}

int cv_bench_opts_parse(cv_bench_opts_t *o, int argc, char **argv, char *err, size_t cap)
{
    unsigned u;
    struct in_addr a;

    set_defaults(o);
    err[0] = '\0';
    if (argc < 2)
        return fail(err, cap, "no scenario given");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return 1;
    size_t si = 0;
    while (si < CV_ARRAY_LEN(scenario_names) && strcmp(argv[1], scenario_names[si]) != 0)
        si++;
    if (si == CV_ARRAY_LEN(scenario_names))
        return fail(err, cap, "unknown scenario: %s", argv[1]);
    o->scenario = (cv_bench_scenario_t)si;

    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (strcmp(k, "-h") == 0 || strcmp(k, "--help") == 0)
            return 1;
        if (strcmp(k, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(k, "--roster") == 0) {
            o->roster = 1;
            continue;
        }
        if (strcmp(k, "--no-header") == 0) {
            o->no_header = 1;
            continue;
        }
        if (strcmp(k, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        if (i + 1 >= argc)
            return fail(err, cap, "%s: missing value (or unknown flag)", k);
        const char *v = argv[++i];
        int rc = 0;
        if (strcmp(k, "--host") == 0) {
            /* Traffic stays on this machine: only 127.0.0.0/8 is a valid target. */
            rc = copy_str(o->host, sizeof o->host, v);
            if (rc == 0 && (inet_pton(AF_INET, v, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127))
                return fail(err, cap, "--host must be a loopback IPv4 address (127.x.y.z): %s", v);
        } else if (strcmp(k, "--port") == 0) {
            rc = parse_uint(v, 1, 65535, &u);
            o->port = (uint16_t)u;
        } else if (strcmp(k, "--domain") == 0) {
            rc = copy_str(o->domain, sizeof o->domain, v);
        } else if (strcmp(k, "--tls") == 0) {
            if (strcmp(v, "none") == 0)
                o->tls = CV_BENCH_TLS_NONE;
            else if (strcmp(v, "starttls") == 0)
                o->tls = CV_BENCH_TLS_STARTTLS;
            else if (strcmp(v, "direct") == 0)
                o->tls = CV_BENCH_TLS_DIRECT;
            else
                rc = CV_EINVAL;
        } else if (strcmp(k, "--mech") == 0) {
            if (strcasecmp(v, "plain") == 0)
                o->mech = CV_BENCH_MECH_PLAIN;
            else if (strcasecmp(v, "scram-sha-1") == 0)
                o->mech = CV_BENCH_MECH_SCRAM_SHA1;
            else if (strcasecmp(v, "scram-sha-256") == 0)
                o->mech = CV_BENCH_MECH_SCRAM_SHA256;
            else
                rc = CV_EINVAL;
        } else if (strcmp(k, "--users") == 0) {
            rc = parse_uint(v, 1, 10000000, &o->users);
        } else if (strcmp(k, "--user-prefix") == 0) {
            rc = copy_str(o->user_prefix, sizeof o->user_prefix, v);
            for (const char *p = v; rc == 0 && *p; p++)
                if (*p == '@' || *p == '/' || *p == '\'' || *p == '"' || *p == '<' || *p == '&' ||
                    *p == ' ')
                    rc = CV_EINVAL;
        } else if (strcmp(k, "--user-base") == 0) {
            rc = parse_uint(v, 0, 1000000000, &o->user_base);
        } else if (strcmp(k, "--password") == 0) {
            rc = copy_str(o->password, sizeof o->password, v);
        } else if (strcmp(k, "--threads") == 0) {
            rc = parse_uint(v, 1, 256, &o->threads);
        } else if (strcmp(k, "--direct-fds") == 0) {
            if (strcmp(v, "auto") == 0)
                o->direct = -1;
            else if (strcmp(v, "on") == 0)
                o->direct = 1;
            else if (strcmp(v, "off") == 0)
                o->direct = 0;
            else
                rc = CV_EINVAL;
        } else if (strcmp(k, "--src-ips") == 0) {
            rc = parse_uint(v, 1, 1u << 22, &o->src_ips);
        } else if (strcmp(k, "--duration") == 0) {
            rc = parse_double(v, 0.1, 86400, &o->duration_s);
        } else if (strcmp(k, "--count") == 0) {
            rc = parse_uint(v, 1, 1000000000, &o->count);
        } else if (strcmp(k, "--rate") == 0) {
            rc = parse_double(v, 0.1, 1e8, &o->rate);
        } else if (strcmp(k, "--rate-factor") == 0) {
            rc = parse_double(v, 1.01, 100, &o->rate_factor);
        } else if (strcmp(k, "--max-steps") == 0) {
            rc = parse_uint(v, 1, 1000, &o->max_steps);
        } else if (strcmp(k, "--p99-limit-ms") == 0) {
            rc = parse_double(v, 0.001, 1e6, &o->p99_limit_ms);
        } else if (strcmp(k, "--concurrency") == 0) {
            rc = parse_uint(v, 1, 100000, &o->concurrency);
        } else if (strcmp(k, "--contacts") == 0) {
            rc = parse_uint(v, 2, 10000, &o->contacts);
            if (rc == 0 && o->contacts % 2)
                return fail(err, cap, "--contacts must be even: %s", v);
        } else if (strcmp(k, "--drain") == 0) {
            rc = parse_double(v, 0, 3600, &o->drain_s);
        } else if (strcmp(k, "--timeout") == 0) {
            rc = parse_double(v, 0.1, 86400, &o->timeout_s);
        } else if (strcmp(k, "--server-pid") == 0) {
            rc = parse_uint(v, 1, 1u << 30, &u);
            o->server_pid = (int)u;
        } else if (strcmp(k, "--label") == 0) {
            rc = copy_str(o->label, sizeof o->label, v);
        } else {
            return fail(err, cap, "unknown option: %s", k);
        }
        if (rc < 0)
            return fail(err, cap, "bad value for %s: %s", k, v);
    }
    if (o->scenario == CV_BENCH_PRESENCE && o->contacts >= o->users)
        return fail(err, cap, "presence needs --contacts (%u) below --users (%u)", o->contacts,
                    o->users);
    if ((o->scenario == CV_BENCH_CHAT || o->scenario == CV_BENCH_MAXRATE) && o->users < 2)
        return fail(err, cap, "chat needs at least 2 users");
    if (o->scenario == CV_BENCH_OFFLINE && o->users < 2)
        return fail(err, cap, "offline needs at least 2 users (senders and recipients)");
    if ((uint64_t)o->user_base + o->users > 4000000000u)
        return fail(err, cap, "--user-base + --users too large");
    return 0;
}
