#include <pthread.h>
#include <string.h>

#include "corvid/sessions.h"

typedef struct shard_s {
    /* Guards chain and count, and the in_table flag of every entry in chain. */
    pthread_mutex_t lock;
    cv_sess_entry_t *chain;
    size_t count;
} shard_t;

struct cv_sessions_s {
    unsigned mask;
    shard_t *shards;
};

int cv_sessions_create(cv_sessions_t **out, unsigned shards)
{
    unsigned n = 1;
    while (n < shards)
        n <<= 1;
    cv_sessions_t *t = calloc(1, sizeof *t);
    if (!t)
        return CV_ENOMEM;
    t->shards = calloc(n, sizeof *t->shards);
    if (!t->shards) {
        free(t);
        return CV_ENOMEM;
    }
    t->mask = n - 1;
    for (unsigned i = 0; i < n; i++)
        pthread_mutex_init(&t->shards[i].lock, NULL);
    *out = t;
    return 0;
}

void cv_sessions_free(cv_sessions_t *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i <= t->mask; i++)
        pthread_mutex_destroy(&t->shards[i].lock);
    free(t->shards);
    free(t);
}

static shard_t *shard_of(cv_sessions_t *t, uint64_t bare_hash)
{
    /* The high bits: the low ones may also pick buckets inside a shard later. */
    return &t->shards[(bare_hash >> 32) & t->mask];
}

int cv_sessions_insert(cv_sessions_t *t, cv_sess_entry_t *e, size_t max_per_bare,
                       void (*hold)(cv_sess_entry_t *old), cv_sess_entry_t **replaced)
{
    e->bare_hash = cv_jid_bare_hash(e->jid);
    shard_t *sh = shard_of(t, e->bare_hash);
    cv_sess_entry_t **same = NULL; /* link to the entry with e's full JID */
    size_t siblings = 0;           /* entries with e's bare JID */
    int rc = 0;

    *replaced = NULL;
    pthread_mutex_lock(&sh->lock);
    for (cv_sess_entry_t **pp = &sh->chain; *pp; pp = &(*pp)->next) {
        cv_sess_entry_t *old = *pp;
        if (old->bare_hash != e->bare_hash || !cv_jid_bare_eq(old->jid, e->jid))
            continue;
        siblings++;
        if (cv_jid_full_eq(old->jid, e->jid))
            same = pp;
    }
    if (same) {
        cv_sess_entry_t *old = *same;
        *same = old->next;
        old->next = NULL;
        old->in_table = 0;
        sh->count--;
        hold(old);
        *replaced = old;
    } else if (siblings >= max_per_bare) {
        rc = CV_ELIMIT;
        goto out;
    }
    e->next = sh->chain;
    sh->chain = e;
    e->in_table = 1;
    sh->count++;
out:
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

void cv_sessions_remove(cv_sessions_t *t, cv_sess_entry_t *e)
{
    shard_t *sh = shard_of(t, e->bare_hash);
    pthread_mutex_lock(&sh->lock);
    if (e->in_table) {
        for (cv_sess_entry_t **pp = &sh->chain; *pp; pp = &(*pp)->next) {
            if (*pp == e) {
                *pp = e->next;
                break;
            }
        }
        e->in_table = 0;
        e->next = NULL;
        sh->count--;
    }
    pthread_mutex_unlock(&sh->lock);
}

void cv_sessions_visit_bare(cv_sessions_t *t, const cv_jid_t *bare,
                            void (*visit)(cv_sess_entry_t *e, void *arg), void *arg)
{
    uint64_t h = cv_jid_bare_hash(bare);
    shard_t *sh = shard_of(t, h);
    pthread_mutex_lock(&sh->lock);
    for (cv_sess_entry_t *e = sh->chain; e; e = e->next)
        if (e->bare_hash == h && cv_jid_bare_eq(e->jid, bare))
            visit(e, arg);
    pthread_mutex_unlock(&sh->lock);
}

size_t cv_sessions_count(cv_sessions_t *t)
{
    size_t n = 0;
    for (unsigned i = 0; i <= t->mask; i++) {
        pthread_mutex_lock(&t->shards[i].lock);
        n += t->shards[i].count;
        pthread_mutex_unlock(&t->shards[i].lock);
    }
    return n;
}
