/*
 * bench/report.h — the result of one scenario run (one table row / one JSON object), the
 * server's process figures read from /proc, and their text forms.
 *
 * Owns nothing at run time: rows are plain values filled by the main thread after the
 * load-generator threads of a run have been joined. Every function may be called from any
 * thread on values that thread owns.
 */
#ifndef CV_BENCH_REPORT_H
#define CV_BENCH_REPORT_H

#include "corvid/buf.h"

/* A figure that does not apply to a row or could not be measured is NAN: the table prints
   "-" and JSON prints null. */
typedef struct cv_bench_row_s {
    char scenario[16];
    char server[32]; /* --label */
    char tls[12];    /* none | starttls | direct */
    char mech[16];   /* PLAIN | SCRAM-SHA-1 | SCRAM-SHA-256 */
    char status[16]; /* ok | unsupported | failed */
    char note[160];  /* reason for a status other than ok, or a remark */
    char unit[16];   /* unit of rate: logins/s, msgs/s, presences/s, stored/s, sessions */
    double users;    /* sessions or users involved */
    double threads;
    double duration_s;   /* measured window */
    double offered_rate; /* chat, max-rate: messages per second asked for */
    double rate;         /* the headline figure in `unit` */
    double rate2;        /* offline: delivered/s */
    double p50_ms, p99_ms, p999_ms, mean_ms;
    double sent, received, lost, errors;
    double knee_rate;                /* max-rate: highest offered rate with p99 under the limit */
    double rss_per_session_kb;       /* idle */
    double server_cpu_s;             /* utime + stime delta over the run */
    double server_cpu_pct;           /* idle: CPU at rest over the hold window, percent of a core */
    double server_hwm_kb;            /* VmHWM at the end of the run */
    double server_rss_kb;            /* VmRSS at the end of the run */
    double client_cpu_s;             /* the load generator's own CPU time over the run */
    double scram_hits, scram_misses; /* client-side salted-password cache */
} cv_bench_row_t;

/* Thread: any. Every number NAN, every string empty. */
void cv_bench_row_init(cv_bench_row_t *r);
/* Thread: any. Appends r as one JSON object on one line (with '\n'). Returns 0 or
   -CV_ENOMEM. */
int cv_bench_row_json(const cv_bench_row_t *r, cv_buf_t *out);
/* Thread: any. Appends the table header line / one row line (fixed-width columns). */
int cv_bench_table_header(cv_buf_t *out);
int cv_bench_row_table(const cv_bench_row_t *r, cv_buf_t *out);

/* Server process figures. */
typedef struct cv_bench_proc_s {
    double cpu_s;  /* utime + stime, seconds */
    double rss_kb; /* VmRSS */
    double hwm_kb; /* VmHWM */
} cv_bench_proc_t;

/* Thread: any. Parses the text of /proc/PID/stat: *ticks = utime + stime (clock ticks).
   Returns 0 or -CV_EINVAL. */
int cv_bench_proc_parse_stat(const char *text, unsigned long long *ticks);
/* Thread: any. Parses the text of /proc/PID/status for VmRSS and VmHWM (kB). Returns 0 or
   -CV_EINVAL when either is missing. */
int cv_bench_proc_parse_status(const char *text, double *rss_kb, double *hwm_kb);
/* Thread: any. Reads both files of pid. Returns 0 or a negative errno / -CV_EINVAL. */
int cv_bench_proc_read(int pid, cv_bench_proc_t *out);
/* Thread: any. Resets the peak RSS of pid (writes 5 to /proc/PID/clear_refs) so VmHWM
   covers one run. Returns 0 or a negative errno (then VmHWM counts from the start). */
int cv_bench_proc_reset_hwm(int pid);

#endif
