/* corvid-bench option parsing, the JSON and table forms of a row, and the /proc parsers. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "opts.h"
#include "report.h"
#include "check.h"

static int parse(cv_bench_opts_t *o, char *err, const char *line)
{
    char buf[512], *argv[64];
    int argc = 0;
    snprintf(buf, sizeof buf, "corvid-bench %s", line);
    for (char *t = strtok(buf, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    return cv_bench_opts_parse(o, argc, argv, err, 256);
}

static void test_defaults_and_values(void)
{
    cv_bench_opts_t o;
    char err[256];
    CHECK(parse(&o, err, "chat") == 0);
    CHECK(o.scenario == CV_BENCH_CHAT && o.port == 5222 && o.threads == 2 && o.users == 100);
    CHECK(o.tls == CV_BENCH_TLS_NONE && o.mech == CV_BENCH_MECH_SCRAM_SHA256);
    CHECK(strcmp(o.domain, "localhost") == 0 && o.src_ips == 1 && !o.json);
    CHECK(o.direct == -1);
    CHECK(parse(&o, err, "idle --direct-fds off") == 0 && o.direct == 0);
    CHECK(parse(&o, err, "idle --direct-fds on") == 0 && o.direct == 1);
    CHECK(parse(&o, err,
                "max-rate --port 16222 --users 500 --tls starttls --mech SCRAM-SHA-1 --rate 250.5 "
                "--rate-factor 2 --threads 4 --src-ips 64 --server-pid 1234 --json --label corvid "
                "--host 127.0.0.5 --duration 0.5") == 0);
    CHECK(o.scenario == CV_BENCH_MAXRATE && o.port == 16222 && o.users == 500);
    CHECK(o.tls == CV_BENCH_TLS_STARTTLS && o.mech == CV_BENCH_MECH_SCRAM_SHA1);
    CHECK(fabs(o.rate - 250.5) < 1e-9 && fabs(o.rate_factor - 2) < 1e-9 && o.threads == 4);
    CHECK(o.src_ips == 64 && o.server_pid == 1234 && o.json);
    CHECK(strcmp(o.label, "corvid") == 0 && strcmp(o.host, "127.0.0.5") == 0);
    CHECK(fabs(o.duration_s - 0.5) < 1e-9);
    CHECK(parse(&o, err, "presence --users 50 --contacts 10 --roster") == 0 && o.roster);
    CHECK(parse(&o, err, "--help") == 1);
    CHECK(parse(&o, err, "idle -h") == 1);
}

static void test_rejections(void)
{
    cv_bench_opts_t o;
    char err[256];
    const char *bad[] = {
        "",              /* no scenario */
        "storm",         /* unknown scenario */
        "chat --port 0", /* out of range */
        "chat --port 70000",
        "chat --port 12x",
        "chat --users -5",
        "chat --threads 0",
        "chat --rate abc",
        "chat --rate nan",
        "chat --tls ssl",
        "chat --direct-fds maybe",
        "chat --mech DIGEST-MD5",
        "chat --host 10.0.0.1", /* traffic stays on loopback */
        "chat --host 192.168.1.1",
        "chat --host localhost",             /* literal addresses only */
        "chat --users 1",                    /* needs two users */
        "presence --users 10 --contacts 10", /* contacts must be below users */
        "presence --contacts 3",             /* odd */
        "chat --frobnicate 1",
        "chat --port", /* missing value */
        "chat --user-prefix a@b",
        "chat --duration 0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = parse(&o, err, bad[i]);
        if (rc != CV_EINVAL || err[0] == '\0') {
            printf("FAIL accepted or no message: \"%s\" (rc %d)\n", bad[i], rc);
            failures++;
        }
    }
}

/* A minimal JSON checker: objects of string keys with string, number or null values. */
static const char *ws(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p != '"')
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]))
                        return NULL;
                p += 4;
            } else if (!strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return *p == '"' ? p + 1 : NULL;
}

static int json_object_ok(const char *s, int *nkeys)
{
    const char *p = ws(s);
    *nkeys = 0;
    if (*p++ != '{')
        return 0;
    for (;;) {
        p = json_string(ws(p));
        if (!p)
            return 0;
        p = ws(p);
        if (*p++ != ':')
            return 0;
        p = ws(p);
        if (*p == '"') {
            p = json_string(p);
        } else if (strncmp(p, "null", 4) == 0) {
            p += 4;
        } else {
            char *end;
            strtod(p, &end);
            if (end == p)
                return 0;
            p = end;
        }
        if (!p)
            return 0;
        (*nkeys)++;
        p = ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p++ != '}')
            return 0;
        return strcmp(p, "\n") == 0;
    }
}

static void test_json_and_table(void)
{
    cv_bench_row_t r;
    cv_buf_t out = CV_BUF_INIT;
    int nkeys;
    cv_bench_row_init(&r);
    CHECK(isnan(r.rate) && isnan(r.p99_ms) && r.scenario[0] == '\0');
    snprintf(r.scenario, sizeof r.scenario, "chat");
    snprintf(r.server, sizeof r.server, "we\"ird\\na\tme"); /* --label is user input */
    snprintf(r.status, sizeof r.status, "ok");
    snprintf(r.note, sizeof r.note, "line\nbreak");
    r.rate = 1234.5;
    r.sent = 1000;
    r.lost = 0;
    r.p99_ms = 0.25;
    CHECK(cv_bench_row_json(&r, &out) == 0);
    CHECK(json_object_ok(out.data, &nkeys));
    CHECK(nkeys == 30);
    CHECK(strstr(out.data, "\"rate\":1234.5") != NULL);
    CHECK(strstr(out.data, "\"sent\":1000,") != NULL);
    CHECK(strstr(out.data, "\"lost\":0,") != NULL);
    CHECK(strstr(out.data, "\"p50_ms\":null") != NULL);
    CHECK(strstr(out.data, "\"server\":\"we\\\"ird\\\\na\\u0009me\"") != NULL);
    CHECK(strstr(out.data, "\"note\":\"line\\u000abreak\"") != NULL);
    cv_buf_clear(&out);
    snprintf(r.server, sizeof r.server, "corvid");
    CHECK(cv_bench_table_header(&out) == 0);
    CHECK(cv_bench_row_table(&r, &out) == 0);
    char *second = strchr(out.data, '\n');
    CHECK(second && strncmp(second + 1, "chat ", 5) == 0);
    CHECK(strstr(out.data, "1234.5") != NULL && strstr(out.data, "0.250") != NULL);
    /* Columns line up: the rate ends at the same offset as the header's "result". */
    const char *h_res = strstr(out.data, "result");
    const char *r_res = strstr(second, "1234.5");
    CHECK(h_res && r_res && (h_res + 6) - out.data == (r_res + 6) - (second + 1));
    cv_buf_free(&out);
}

static void test_proc_parsers(void)
{
    unsigned long long ticks = 0;
    double rss = 0, hwm = 0;
    /* A command name with spaces and parentheses must not shift the fields. */
    const char *stat = "4242 (my (weird) srv) S 1 4242 4242 0 -1 4194560 1180 0 0 0 "
                       "150 37 0 0 20 0 3 0 123 456789 100 18446744073709551615";
    CHECK(cv_bench_proc_parse_stat(stat, &ticks) == 0 && ticks == 187);
    CHECK(cv_bench_proc_parse_stat("4242 no paren", &ticks) == CV_EINVAL);
    CHECK(cv_bench_proc_parse_stat("1 (x) S 1 2", &ticks) == CV_EINVAL);
    const char *status = "Name:\tcorvid\nVmPeak:\t  300000 kB\nVmHWM:\t   20480 kB\n"
                         "VmRSS:\t   16384 kB\nThreads:\t3\n";
    CHECK(cv_bench_proc_parse_status(status, &rss, &hwm) == 0);
    CHECK(rss == 16384 && hwm == 20480);
    CHECK(cv_bench_proc_parse_status("Name:\tx\nVmRSS:\t1 kB\n", &rss, &hwm) == CV_EINVAL);
    /* The real thing: this process. */
    cv_bench_proc_t p;
    CHECK(cv_bench_proc_read((int)getpid(), &p) == 0 && p.rss_kb > 0 && p.hwm_kb >= p.rss_kb);
    CHECK(cv_bench_proc_read(0x3fffffff, &p) < 0);
}

int main(void)
{
    test_defaults_and_values();
    test_rejections();
    test_json_and_table();
    test_proc_parsers();
    return failures ? 1 : 0;
}
