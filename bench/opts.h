/*
 * bench/opts.h — command-line options of corvid-bench.
 *
 * Owns nothing at run time: cv_bench_opts_t is filled once by the main thread and then
 * only read (by every load-generator thread).
 */
#ifndef CV_BENCH_OPTS_H
#define CV_BENCH_OPTS_H

#include <stdint.h>

typedef enum {
    CV_BENCH_LOGIN,
    CV_BENCH_CHAT,
    CV_BENCH_MAXRATE,
    CV_BENCH_PRESENCE,
    CV_BENCH_IDLE,
    CV_BENCH_OFFLINE
} cv_bench_scenario_t;
typedef enum { CV_BENCH_TLS_NONE, CV_BENCH_TLS_STARTTLS, CV_BENCH_TLS_DIRECT } cv_bench_tls_t;
typedef enum {
    CV_BENCH_MECH_PLAIN,
    CV_BENCH_MECH_SCRAM_SHA1,
    CV_BENCH_MECH_SCRAM_SHA256
} cv_bench_mech_t;

typedef struct cv_bench_opts_s {
    cv_bench_scenario_t scenario;
    char host[64]; /* server address: must be a loopback IPv4 literal */
    uint16_t port;
    char domain[256];
    cv_bench_tls_t tls;
    cv_bench_mech_t mech;
    char user_prefix[64]; /* accounts are <prefix><n>@<domain> */
    unsigned user_base;   /* first account number used (default 1) */
    unsigned users;       /* accounts in play (sessions for idle) */
    char password[128];
    unsigned threads;
    unsigned src_ips;     /* source addresses 127.0.0.2 ... */
    int direct;           /* sockets as io_uring direct descriptors: -1 auto (6.13+), 0, 1 */
    double duration_s;    /* measured window of a scenario */
    unsigned count;       /* login: logins to perform; offline: messages to store */
    double rate;          /* chat: total messages per second; max-rate: first step */
    double rate_factor;   /* max-rate: each step multiplies the rate by this */
    unsigned max_steps;   /* max-rate: most steps */
    double p99_limit_ms;  /* max-rate: the knee is where p99 crosses this */
    unsigned concurrency; /* logins in flight per thread */
    unsigned contacts;    /* presence: roster size (even) */
    int roster;           /* fetch the roster during login */
    double drain_s;       /* after sending stops: wait this long at most for stragglers */
    double timeout_s;     /* login / setup phases fail after this */
    int server_pid;       /* 0: no server figures */
    char label[32];       /* server name in the output */
    int json;             /* also print JSON lines */
    int no_header;
    int quiet; /* no progress on stderr */
} cv_bench_opts_t;

/* Thread: main. Parses argv (argv[1] is the scenario) into o after setting the defaults.
   Returns 0, 1 when help was asked for (usage printed to stdout), or -CV_EINVAL with a
   message in err (cap bytes). */
int cv_bench_opts_parse(cv_bench_opts_t *o, int argc, char **argv, char *err, size_t cap);
/* Thread: any. Usage text. */
const char *cv_bench_usage(void);
/* Thread: any. Names for the output. */
const char *cv_bench_scenario_name(cv_bench_scenario_t s);
const char *cv_bench_tls_name(cv_bench_tls_t t);
const char *cv_bench_mech_name(cv_bench_mech_t m);

#endif
