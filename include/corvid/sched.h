/*
 * corvid/sched.h — actors on a work-stealing pool.
 *
 * An actor is a mailbox (an MPSC queue, corvid/mpsc.h) and a function that handles one
 * message. Sending to an actor whose mailbox was idle schedules it on the sender's worker
 * deque (corvid/deque.h); a worker runs actors from its own deque and, when that is empty,
 * steals whole actors from other workers — never single messages. An actor is run by at
 * most one worker at a time, so its messages are handled one after the other, in the order
 * each sender sent them (RFC 6120 §10.1 ordering).
 *
 * The scheduler owns the deques; actors and messages belong to their callers (messages are
 * intrusive nodes embedded in the caller's objects).
 *
 * Threads: cv_sched_create/free: main. cv_sched_send: any thread (pass the caller's worker
 * index, or CV_SCHED_EXTERNAL from a thread that is not a worker). cv_sched_run and
 * cv_sched_idle: only worker `self`.
 */
#ifndef CORVID_SCHED_H
#define CORVID_SCHED_H

#include <stdatomic.h>

#include "corvid/core.h"
#include "corvid/mpsc.h"

#define CV_SCHED_EXTERNAL (~0u)
#define CV_SCHED_MAX_WORKERS 64

typedef struct cv_actor_s cv_actor_t;
struct cv_actor_s {
    cv_mpsc_t mailbox;
    /* Messages sent and not yet handled. The send that raises it from 0 schedules the
       actor; the run that lowers it back to 0 gives it up. While it is above 0 the actor
       is on exactly one deque or being run by exactly one worker. */
    atomic_long pending;
    /* Handles one message (which it then owns). Runs on some worker; self is its index. */
    void (*handle)(cv_actor_t *a, cv_mpsc_node_t *msg, unsigned self);
    /* Optional (NULL): keep the object around the actor alive while it is scheduled.
       retain runs when a send schedules the idle actor, release after the run that
       leaves it idle — the scheduler's last touch of it. */
    void (*retain)(cv_actor_t *a);
    void (*release)(cv_actor_t *a);
    /* The scheduler's: links the actor into a worker's overflow queue when a thread that
       is not a worker schedules it. One suffices: a scheduled actor is in one place. */
    cv_mpsc_node_t overflow_node;
};

typedef struct cv_sched_s cv_sched_t;

/* wake(worker, arg) must make that worker call cv_sched_run soon (it may be asleep in
   its event loop). Returns 0 or CV_ENOMEM. */
int cv_sched_create(cv_sched_t **out, unsigned nworkers, void (*wake)(unsigned worker, void *arg),
                    void *arg);
void cv_sched_free(cv_sched_t *s);

void cv_actor_init(cv_actor_t *a, void (*handle)(cv_actor_t *, cv_mpsc_node_t *, unsigned));

/* Queues msg for a; schedules a if it was idle. */
void cv_sched_send(cv_sched_t *s, unsigned self, cv_actor_t *a, cv_mpsc_node_t *msg);

/* Runs up to budget actors (each for a bounded batch of messages), stealing when the own
   deque is empty. Returns 1 if runnable work remains for this worker. */
int cv_sched_run(cv_sched_t *s, unsigned self, unsigned budget);

/* Thread: main, after every worker stopped. Runs every scheduled actor to idle (the
   caller plays each worker in turn). Returns how many actor runs it made. */
size_t cv_sched_drain(cv_sched_t *s);

/* Worker self is about to sleep (1) or has woken (0): idle workers are the ones woken to
   steal when another worker has a backlog. */
void cv_sched_idle(cv_sched_t *s, unsigned self, int idle);

#endif
