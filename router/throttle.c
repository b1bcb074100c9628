#include <pthread.h>
#include <string.h>

#include "corvid/throttle.h"

#define CV_THROTTLE_SLOTS 4096u /* power of two */
#define CV_THROTTLE_WINDOW_MS 60000u

typedef struct slot_s {
    uint64_t key_hash;
    uint64_t window_start_ms;
    unsigned failures;
} slot_t;

struct cv_throttle_s {
    /* Guards slots: read-modify-write of a counter must not lose failures. */
    pthread_mutex_t lock;
    unsigned limit;
    slot_t slots[CV_THROTTLE_SLOTS];
};

static uint64_t key_hash(const char *key)
{
    uint64_t h = cv_hash_text(CV_HASH_SEED, key);
    return h ? h : 1;
}

int cv_throttle_create(cv_throttle_t **out, unsigned limit)
{
    cv_throttle_t *t = calloc(1, sizeof *t);
    if (!t)
        return CV_ENOMEM;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return CV_ENOMEM;
    }
    t->limit = limit;
    *out = t;
    return 0;
}

void cv_throttle_free(cv_throttle_t *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Returns the slot of h, reset when it belongs to another key or an old window. */
static slot_t *slot_for(cv_throttle_t *t, uint64_t h, uint64_t now_ms)
{
    slot_t *s = &t->slots[h & (CV_THROTTLE_SLOTS - 1)];
    if (s->key_hash != h || now_ms - s->window_start_ms >= CV_THROTTLE_WINDOW_MS) {
        /* A stale slot, or one another key holds: an active key is kept to stay strict. */
        if (s->key_hash != h && s->failures > 0 &&
            now_ms - s->window_start_ms < CV_THROTTLE_WINDOW_MS)
            return s;
        s->key_hash = h;
        s->window_start_ms = now_ms;
        s->failures = 0;
    }
    return s;
}

int cv_throttle_check(cv_throttle_t *t, const char *key, uint64_t now_ms)
{
    int rc = 0;
    if (t->limit == 0)
        return 0;
    uint64_t h = key_hash(key);
    pthread_mutex_lock(&t->lock);
    slot_t *s = slot_for(t, h, now_ms);
    if (s->failures >= t->limit)
        rc = CV_ELIMIT;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void cv_throttle_fail(cv_throttle_t *t, const char *key, uint64_t now_ms)
{
    if (t->limit == 0)
        return;
    uint64_t h = key_hash(key);
    pthread_mutex_lock(&t->lock);
    slot_t *s = slot_for(t, h, now_ms);
    s->failures++;
    pthread_mutex_unlock(&t->lock);
}
