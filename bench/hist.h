/*
 * bench/hist.h — a log-linear latency histogram (HDR style) of fixed size.
 *
 * Owns nothing beyond the struct itself: a cv_bench_hist_t is a plain value of about
 * 60 KB with no heap memory, owned by one thread at a time (each load-generator thread
 * records into its own, the main thread merges them after joining the threads).
 *
 * Values are unsigned 64-bit integers (nanoseconds in practice). Values below 256 have a
 * bucket each; above, every power of two is split into 128 buckets of equal width, so a
 * bucket is at most 1/128 of its lower bound wide. Quantiles report the middle of the
 * bucket holding the exact rank, clamped to the recorded min and max: the relative error
 * against the exact order statistic is at most 1/256 (0.4 %).
 */
#ifndef CV_BENCH_HIST_H
#define CV_BENCH_HIST_H

#include <stdint.h>

#define CV_BENCH_HIST_SUB_BITS 7u
#define CV_BENCH_HIST_LINEAR 256u
#define CV_BENCH_HIST_BUCKETS (CV_BENCH_HIST_LINEAR + (64u - 8u) * (1u << CV_BENCH_HIST_SUB_BITS))

typedef struct cv_bench_hist_s {
    uint64_t count;
    uint64_t min, max;
    long double sum;
    uint64_t buckets[CV_BENCH_HIST_BUCKETS];
} cv_bench_hist_t;

/* Thread: owner. Empties h. */
void cv_bench_hist_init(cv_bench_hist_t *h);
/* Thread: owner. Adds one value. */
void cv_bench_hist_record(cv_bench_hist_t *h, uint64_t v);
/* Thread: owner of dst, with src no longer written by anyone. Adds src's values to dst. */
void cv_bench_hist_merge(cv_bench_hist_t *dst, const cv_bench_hist_t *src);
/* Thread: owner. The value of rank ceil(q * count) (q in [0, 1]; q 0 gives the minimum),
   within 0.4 % relative error; 0 for an empty histogram. */
uint64_t cv_bench_hist_quantile(const cv_bench_hist_t *h, double q);
/* Thread: owner. Arithmetic mean, 0 for an empty histogram. */
double cv_bench_hist_mean(const cv_bench_hist_t *h);
/* Index of the bucket holding v, and the range [lo, hi] of values a bucket holds. Exposed
   for the tests. */
unsigned cv_bench_hist_index(uint64_t v);
void cv_bench_hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi);

#endif
