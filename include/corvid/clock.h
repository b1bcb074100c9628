/*
 * corvid/clock.h — the monotonic clock in milliseconds, for deadlines and throttling.
 * Owns no state; any thread may call.
 */
#ifndef CORVID_CLOCK_H
#define CORVID_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t cv_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t cv_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
