/*
 * Rows of results in table and JSON form, and the server's CPU and memory from /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "report.h"

void cv_bench_row_init(cv_bench_row_t *r)
{
    memset(r, 0, sizeof *r);
    double *nums[] = {
        &r->users,        &r->threads,        &r->duration_s,    &r->offered_rate,
        &r->rate,         &r->rate2,          &r->p50_ms,        &r->p99_ms,
        &r->p999_ms,      &r->mean_ms,        &r->sent,          &r->received,
        &r->lost,         &r->errors,         &r->knee_rate,     &r->rss_per_session_kb,
        &r->server_cpu_s, &r->server_cpu_pct, &r->server_hwm_kb, &r->server_rss_kb,
        &r->client_cpu_s, &r->scram_hits,     &r->scram_misses};
    for (size_t i = 0; i < CV_ARRAY_LEN(nums); i++)
        *nums[i] = NAN;
}

/* JSON string: the row's strings are ours, but --label comes from the user. */
static int json_str(cv_buf_t *out, const char *key, const char *s, int first)
{
    int rc = cv_buf_printf(out, "%s\"%s\":\"", first ? "" : ",", key);
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        if (*p == '"' || *p == '\\')
            rc = cv_buf_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            rc = cv_buf_printf(out, "\\u%04x", *p);
        else
            rc = cv_buf_append(out, p, 1);
    }
    return rc ? rc : cv_buf_append_str(out, "\"");
}

static int json_num(cv_buf_t *out, const char *key, double v)
{
    if (!isfinite(v))
        return cv_buf_printf(out, ",\"%s\":null", key);
    if (v == floor(v) && fabs(v) < 1e15)
        return cv_buf_printf(out, ",\"%s\":%.0f", key, v);
    return cv_buf_printf(out, ",\"%s\":%.6g", key, v);
}

int cv_bench_row_json(const cv_bench_row_t *r, cv_buf_t *out)
{
    size_t mark = out->len;
    int rc = cv_buf_append_str(out, "{");
    if (rc == 0)
        rc = json_str(out, "scenario", r->scenario, 1);
    if (rc == 0)
        rc = json_str(out, "server", r->server, 0);
    if (rc == 0)
        rc = json_str(out, "tls", r->tls, 0);
    if (rc == 0)
        rc = json_str(out, "mech", r->mech, 0);
    if (rc == 0)
        rc = json_str(out, "status", r->status, 0);
    if (rc == 0)
        rc = json_str(out, "unit", r->unit, 0);
    const struct {
        const char *k;
        double v;
    } nums[] = {
        {"users", r->users},
        {"threads", r->threads},
        {"duration_s", r->duration_s},
        {"offered_rate", r->offered_rate},
        {"rate", r->rate},
        {"delivered_rate", r->rate2},
        {"p50_ms", r->p50_ms},
        {"p99_ms", r->p99_ms},
        {"p999_ms", r->p999_ms},
        {"mean_ms", r->mean_ms},
        {"sent", r->sent},
        {"received", r->received},
        {"lost", r->lost},
        {"errors", r->errors},
        {"knee_rate", r->knee_rate},
        {"rss_per_session_kb", r->rss_per_session_kb},
        {"server_cpu_s", r->server_cpu_s},
        {"server_cpu_pct", r->server_cpu_pct},
        {"server_hwm_kb", r->server_hwm_kb},
        {"server_rss_kb", r->server_rss_kb},
        {"client_cpu_s", r->client_cpu_s},
        {"scram_cache_hits", r->scram_hits},
        {"scram_cache_misses", r->scram_misses},
    };
    for (size_t i = 0; rc == 0 && i < CV_ARRAY_LEN(nums); i++)
        rc = json_num(out, nums[i].k, nums[i].v);
    if (rc == 0)
        rc = json_str(out, "note", r->note, 0);
    if (rc == 0)
        rc = cv_buf_append_str(out, "}\n");
    if (rc < 0) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return rc;
}

int cv_bench_table_header(cv_buf_t *out)
{
    return cv_buf_printf(out,
                         "%-9s %-10s %-8s %7s %9s %11s %-11s %8s %8s %8s %8s %7s %8s %9s  %s\n",
                         "scenario", "server", "tls", "users", "offered", "result", "unit", "p50ms",
                         "p99ms", "p999ms", "sent", "lost", "srvCPUs", "srvHWMMB", "status / note");
}

/* A number in a column, "-" when it does not apply. */
static void cell(char *dst, size_t cap, double v, int decimals)
{
    if (!isfinite(v))
        snprintf(dst, cap, "-");
    else
        snprintf(dst, cap, "%.*f", decimals, v);
}

int cv_bench_row_table(const cv_bench_row_t *r, cv_buf_t *out)
{
    char users[24], offered[24], rate[24], p50[24], p99[24], p999[24], sent[24], lost[24], cpu[24],
        hwm[24];
    cell(users, sizeof users, r->users, 0);
    cell(offered, sizeof offered, r->offered_rate, 0);
    cell(rate, sizeof rate, r->rate, 1);
    cell(p50, sizeof p50, r->p50_ms, 3);
    cell(p99, sizeof p99, r->p99_ms, 3);
    cell(p999, sizeof p999, r->p999_ms, 3);
    cell(sent, sizeof sent, r->sent, 0);
    cell(lost, sizeof lost, r->lost, 0);
    cell(cpu, sizeof cpu, r->server_cpu_s, 2);
    cell(hwm, sizeof hwm, isfinite(r->server_hwm_kb) ? r->server_hwm_kb / 1024.0 : NAN, 1);
    return cv_buf_printf(out,
                         "%-9s %-10s %-8s %7s %9s %11s %-11s %8s %8s %8s %8s %7s %8s %9s  %s%s%s\n",
                         r->scenario, r->server, r->tls, users, offered, rate, r->unit, p50, p99,
                         p999, sent, lost, cpu, hwm, r->status, r->note[0] ? ": " : "", r->note);
}

int cv_bench_proc_parse_stat(const char *text, unsigned long long *ticks)
{
    /* The command name (field 2) may hold spaces and parentheses: fields are counted
       from the last ')'. utime and stime are fields 14 and 15. */
    const char *p = strrchr(text, ')');
    unsigned long long ut = 0, st = 0;
    if (!p)
        return CV_EINVAL;
    p++;
    for (int field = 3; field <= 15; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return CV_EINVAL;
        const char *start = p;
        while (*p && *p != ' ')
            p++;
        if (field == 14 || field == 15) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(start, &end, 10);
            if (errno || end != p)
                return CV_EINVAL;
            if (field == 14)
                ut = v;
            else
                st = v;
        }
    }
    *ticks = ut + st;
    return 0;
}

static int status_field(const char *text, const char *key, double *out)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, key, klen) != 0 || line[klen] != ':')
            continue;
        char *end;
        errno = 0;
        double v = strtod(line + klen + 1, &end);
        if (errno || end == line + klen + 1)
            return CV_EINVAL;
        *out = v;
        return 0;
    }
    return CV_EINVAL;
}

int cv_bench_proc_parse_status(const char *text, double *rss_kb, double *hwm_kb)
{
    int rc = status_field(text, "VmRSS", rss_kb);
    return rc ? rc : status_field(text, "VmHWM", hwm_kb);
}

static int read_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    int rc = 0;
    if (fd < 0)
        return -errno;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    return rc;
}

int cv_bench_proc_read(int pid, cv_bench_proc_t *out)
{
    char path[64], text[4096];
    unsigned long long ticks;
    int rc;

    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    rc = read_text(path, text, sizeof text);
    if (rc == 0)
        rc = cv_bench_proc_parse_stat(text, &ticks);
    if (rc < 0)
        return rc;
    out->cpu_s = (double)ticks / (double)sysconf(_SC_CLK_TCK);
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    rc = read_text(path, text, sizeof text);
    return rc ? rc : cv_bench_proc_parse_status(text, &out->rss_kb, &out->hwm_kb);
}

int cv_bench_proc_reset_hwm(int pid)
{
    char path[64];
    int rc = 0;
    snprintf(path, sizeof path, "/proc/%d/clear_refs", pid);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (write(fd, "5", 1) != 1)
        rc = -errno;
    close(fd);
    return rc;
}
