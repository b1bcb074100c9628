/* The offload pool under contention: every job submitted from several threads runs once,
   its done follows its run on the same thread with the run's writes visible, stop
   finishes what is still queued, and a submit after stop runs on the caller. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "corvid/offload.h"

#define SUBMITTERS 4
#define PER_SUBMITTER 2000

typedef struct job_s {
    cv_offload_job_t job;
    int ran;     /* written by run, read by done and by main after stop */
    int done_ok; /* done saw ran == 1 */
    pthread_t runner;
    int sleep_us;
} job_t;

static atomic_int runs, dones;
static cv_offload_t *pool;
static job_t *jobs;

static void job_run(cv_offload_job_t *j)
{
    job_t *t = (job_t *)j;
    if (t->sleep_us)
        usleep((useconds_t)t->sleep_us);
    t->ran++;
    t->runner = pthread_self();
    atomic_fetch_add(&runs, 1);
}

static void job_done(cv_offload_job_t *j)
{
    job_t *t = (job_t *)j;
    t->done_ok = t->ran == 1 && pthread_equal(t->runner, pthread_self());
    atomic_fetch_add(&dones, 1);
}

static void *submit(void *arg)
{
    int k = (int)(intptr_t)arg;
    for (int i = 0; i < PER_SUBMITTER; i++) {
        job_t *t = &jobs[k * PER_SUBMITTER + i];
        t->job.run = job_run;
        t->job.done = job_done;
        cv_offload_submit(pool, &t->job);
    }
    return NULL;
}

static void test_contention(void)
{
    pthread_t th[SUBMITTERS];
    jobs = calloc(SUBMITTERS * PER_SUBMITTER, sizeof *jobs);
    CHECK(jobs != NULL);
    CHECK(cv_offload_create(&pool, 3) == 0);
    for (int k = 0; k < SUBMITTERS; k++)
        CHECK(pthread_create(&th[k], NULL, submit, (void *)(intptr_t)k) == 0);
    for (int k = 0; k < SUBMITTERS; k++)
        pthread_join(th[k], NULL);
    while (atomic_load(&dones) < SUBMITTERS * PER_SUBMITTER)
        usleep(1000);
    cv_offload_stop(pool);
    CHECK(atomic_load(&runs) == SUBMITTERS * PER_SUBMITTER);
    for (int i = 0; i < SUBMITTERS * PER_SUBMITTER; i++)
        CHECK(jobs[i].ran == 1 && jobs[i].done_ok);
    cv_offload_free(pool);
    free(jobs);
}

/* Jobs still queued when stop is called run (and are handed back) before it returns. */
static void test_stop_finishes_queue(void)
{
    enum { N = 50 };
    job_t queued[N];
    memset(queued, 0, sizeof queued);
    atomic_store(&runs, 0);
    atomic_store(&dones, 0);
    CHECK(cv_offload_create(&pool, 1) == 0);
    for (int i = 0; i < N; i++) {
        queued[i].job.run = job_run;
        queued[i].job.done = job_done;
        queued[i].sleep_us = 200;
        cv_offload_submit(pool, &queued[i].job);
    }
    cv_offload_stop(pool);
    CHECK(atomic_load(&runs) == N && atomic_load(&dones) == N);
    for (int i = 0; i < N; i++)
        CHECK(queued[i].ran == 1 && queued[i].done_ok);
    cv_offload_free(pool);
}

/* After stop, a submit (the shut-down drain's) runs the job on the caller's thread before
   it returns. */
static void test_submit_after_stop_runs_inline(void)
{
    job_t late;
    memset(&late, 0, sizeof late);
    atomic_store(&runs, 0);
    atomic_store(&dones, 0);
    CHECK(cv_offload_create(&pool, 2) == 0);
    cv_offload_stop(pool);
    late.job.run = job_run;
    late.job.done = job_done;
    cv_offload_submit(pool, &late.job);
    CHECK(atomic_load(&runs) == 1 && atomic_load(&dones) == 1);
    CHECK(late.ran == 1 && late.done_ok && pthread_equal(late.runner, pthread_self()));
    cv_offload_free(pool);
}

int main(void)
{
    test_contention();
    test_stop_finishes_queue();
    test_submit_after_stop_runs_inline();
    if (failures)
        printf("%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
