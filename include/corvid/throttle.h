/*
 * corvid/throttle.h — counts failed authentication attempts per key (an IP address or an
 * account) in one-minute windows, so that password guessing is slowed down.
 *
 * Owns a fixed-size table (no allocation after creation). Thread: any; one mutex guards
 * the table. It is touched only on authentication attempts, never per stanza.
 * Keys that collide in the table share a counter, which can only make throttling stricter.
 */
#ifndef CORVID_THROTTLE_H
#define CORVID_THROTTLE_H

#include "corvid/core.h"

typedef struct cv_throttle_s cv_throttle_t;

/* limit: failures allowed per key per minute (0 = never throttle). */
int cv_throttle_create(cv_throttle_t **out, unsigned limit);
void cv_throttle_free(cv_throttle_t *t);
/* Returns 0 if key may try again now, -CV_ELIMIT if it used up this minute's failures. */
int cv_throttle_check(cv_throttle_t *t, const char *key, uint64_t now_ms);
/* Records one failure of key. */
void cv_throttle_fail(cv_throttle_t *t, const char *key, uint64_t now_ms);

#endif
