/*
 * Log-linear histogram: exact buckets below 256, then 128 equal sub-buckets per power of
 * two. See hist.h for the error bound.
 */
#include <math.h>
#include <string.h>

#include "hist.h"

void cv_bench_hist_init(cv_bench_hist_t *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

unsigned cv_bench_hist_index(uint64_t v)
{
    if (v < CV_BENCH_HIST_LINEAR)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 8..63 */
    unsigned sub =
        (unsigned)(v >> (e - CV_BENCH_HIST_SUB_BITS)) & ((1u << CV_BENCH_HIST_SUB_BITS) - 1u);
    return CV_BENCH_HIST_LINEAR + (e - 8u) * (1u << CV_BENCH_HIST_SUB_BITS) + sub;
}

void cv_bench_hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi)
{
    if (idx < CV_BENCH_HIST_LINEAR) {
        *lo = *hi = idx;
        return;
    }
    unsigned k = idx - CV_BENCH_HIST_LINEAR;
    unsigned e = 8u + k / (1u << CV_BENCH_HIST_SUB_BITS);
    uint64_t sub = k % (1u << CV_BENCH_HIST_SUB_BITS);
    unsigned shift = e - CV_BENCH_HIST_SUB_BITS;
    *lo = (((uint64_t)1 << CV_BENCH_HIST_SUB_BITS) + sub) << shift;
    /* The last bucket ends at UINT64_MAX; the subtraction wraps to exactly that. */
    *hi = *lo + ((uint64_t)1 << shift) - 1u;
}

void cv_bench_hist_record(cv_bench_hist_t *h, uint64_t v)
{
    h->buckets[cv_bench_hist_index(v)]++;
    h->count++;
    h->sum += (long double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void cv_bench_hist_merge(cv_bench_hist_t *dst, const cv_bench_hist_t *src)
{
    if (src->count == 0)
        return;
    for (unsigned i = 0; i < CV_BENCH_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t cv_bench_hist_quantile(const cv_bench_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    if (!(q > 0.0))
        return h->min;
    if (q >= 1.0)
        return h->max;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < CV_BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen < rank)
            continue;
        uint64_t lo, hi;
        cv_bench_hist_bucket_range(i, &lo, &hi);
        uint64_t mid = lo + (hi - lo) / 2u;
        if (mid < h->min)
            mid = h->min;
        if (mid > h->max)
            mid = h->max;
        return mid;
    }
    return h->max;
}

double cv_bench_hist_mean(const cv_bench_hist_t *h)
{
    return h->count ? (double)(h->sum / (long double)h->count) : 0.0;
}
