/* The load generator's latency histogram: bucket geometry, quantiles against exact order
   statistics on several distributions (within 1 %), merge, and the edge cases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "check.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The exact value of rank ceil(q * n) in sorted v. */
static uint64_t exact(const uint64_t *v, size_t n, double q)
{
    size_t rank = (size_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    return v[rank - 1];
}

static void check_distribution(const char *name, uint64_t (*gen)(void), size_t n)
{
    static cv_bench_hist_t h;
    uint64_t *v = malloc(n * sizeof *v);
    const double qs[] = {0.5, 0.9, 0.99, 0.999, 0.9999};
    cv_bench_hist_init(&h);
    for (size_t i = 0; i < n; i++) {
        v[i] = gen();
        cv_bench_hist_record(&h, v[i]);
    }
    qsort(v, n, sizeof *v, cmp_u64);
    CHECK(h.count == n);
    CHECK(h.min == v[0] && h.max == v[n - 1]);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double e = (double)exact(v, n, qs[i]);
        double got = (double)cv_bench_hist_quantile(&h, qs[i]);
        double rel = e > 0 ? fabs(got - e) / e : got;
        if (rel > 0.01)
            printf("FAIL %s q=%g: exact %.0f got %.0f (%.3f%%)\n", name, qs[i], e, got, rel * 100);
        failures += rel > 0.01;
    }
    CHECK(cv_bench_hist_quantile(&h, 0) == v[0]);
    CHECK(cv_bench_hist_quantile(&h, 1) == v[n - 1]);
    free(v);
}

static uint64_t gen_uniform(void)
{
    return 1000 + next() % 1000000;
}

static uint64_t gen_lognormal(void)
{
    /* exp of a sum of uniforms: a heavy right tail like real latencies (µs to seconds). */
    double s = 0;
    for (int i = 0; i < 4; i++)
        s += (double)(next() % 1000000) / 1e6;
    return (uint64_t)exp(9.0 + 3.0 * s);
}

static uint64_t gen_small(void)
{
    return next() % 300; /* exact region and the first log buckets */
}

static uint64_t gen_bimodal(void)
{
    return (next() % 100) < 98 ? 50000 + next() % 1000 : 80000000 + next() % 5000000;
}

static void test_geometry(void)
{
    uint64_t lo, hi, prev_hi = 0;
    for (unsigned i = 0; i < CV_BENCH_HIST_BUCKETS; i++) {
        cv_bench_hist_bucket_range(i, &lo, &hi);
        if (i > 0 && lo != prev_hi + 1) {
            printf("FAIL bucket %u starts at %llu, previous ended at %llu\n", i,
                   (unsigned long long)lo, (unsigned long long)prev_hi);
            failures++;
            break;
        }
        /* Width at most 1/128 of the lower bound above the exact region. */
        if (lo >= 256 && (double)(hi - lo + 1) > (double)lo / 128.0 + 1e-9) {
            printf("FAIL bucket %u too wide\n", i);
            failures++;
            break;
        }
        CHECK(cv_bench_hist_index(lo) == i);
        CHECK(cv_bench_hist_index(hi) == i);
        prev_hi = hi;
    }
    CHECK(prev_hi == UINT64_MAX);
    CHECK(cv_bench_hist_index(0) == 0);
    CHECK(cv_bench_hist_index(255) == 255);
    CHECK(cv_bench_hist_index(UINT64_MAX) == CV_BENCH_HIST_BUCKETS - 1);
}

static void test_empty_and_single(void)
{
    static cv_bench_hist_t h;
    cv_bench_hist_init(&h);
    CHECK(cv_bench_hist_quantile(&h, 0.5) == 0);
    CHECK(cv_bench_hist_mean(&h) == 0);
    cv_bench_hist_record(&h, 123456789);
    /* One value: every quantile is that value exactly (clamped to min/max). */
    CHECK(cv_bench_hist_quantile(&h, 0.5) == 123456789);
    CHECK(cv_bench_hist_quantile(&h, 0.999) == 123456789);
    CHECK(fabs(cv_bench_hist_mean(&h) - 123456789.0) < 1e-3);
    cv_bench_hist_record(&h, UINT64_MAX);
    CHECK(cv_bench_hist_quantile(&h, 1.0) == UINT64_MAX);
}

static void test_merge(void)
{
    static cv_bench_hist_t a, b, all;
    cv_bench_hist_init(&a);
    cv_bench_hist_init(&b);
    cv_bench_hist_init(&all);
    for (int i = 0; i < 100000; i++) {
        uint64_t v = gen_lognormal();
        cv_bench_hist_record(i % 3 ? &a : &b, v);
        cv_bench_hist_record(&all, v);
    }
    cv_bench_hist_merge(&a, &b);
    CHECK(a.count == all.count && a.min == all.min && a.max == all.max);
    CHECK(memcmp(a.buckets, all.buckets, sizeof a.buckets) == 0);
    CHECK(cv_bench_hist_quantile(&a, 0.99) == cv_bench_hist_quantile(&all, 0.99));
    CHECK(fabs(cv_bench_hist_mean(&a) - cv_bench_hist_mean(&all)) <
          1e-6 * cv_bench_hist_mean(&all));
}

int main(void)
{
    test_geometry();
    test_empty_and_single();
    check_distribution("uniform", gen_uniform, 200000);
    check_distribution("lognormal", gen_lognormal, 200000);
    check_distribution("small", gen_small, 50000);
    check_distribution("bimodal", gen_bimodal, 100000);
    test_merge();
    return failures ? 1 : 0;
}
