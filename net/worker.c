/*
 * The ring loop of one worker thread: listeners with multishot accept, multishot recv into
 * a provided-buffer ring, a one-second tick for deadlines, an eventfd for shutdown
 * requests, and one flush of all pending output per loop turn.
 *
 * A receive buffer is handed back to the kernel as soon as its bytes have been parsed, so an
 * idle connection holds no receive buffer at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "corvid/clock.h"
#include "corvid/log.h"
#include "net_int.h"

#define CV_NET_RING_ENTRIES 4096u
#define CV_NET_GRACE_MS 3000u
#define CV_NET_BATCH_MAX 64u        /* completions that end a batching wait at once */
#define CV_NET_MAX_SLOTS (1u << 20) /* the kernel's largest fixed-file table */

/*
 * limits.dead_peer_timeout on a listening socket; accepted connections inherit it. A peer
 * that vanished without a FIN (a phone out of coverage, a laptop shut) would otherwise keep
 * its session, shown available to its contacts, for as long as nobody writes to it, and
 * data written to it would wait for the kernel's retransmission limit (about 15 minutes).
 * Probes start after a third of the time idle, one every ninth, and TCP_USER_TIMEOUT ends
 * the connection when sent data or probes stay unanswered for the whole time (tcp(7): it
 * takes over from the probe count).
 */
static int set_dead_peer_timeout(int fd, unsigned ms)
{
    int one = 1;
    int idle = (int)(ms / 3000u), intvl = (int)(ms / 9000u), count = 6;
    unsigned user_timeout = ms;

    if (ms == 0)
        return 0;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout) < 0)
        return -errno;
    return 0;
}

/* Binds l. With probe set, binds without SO_REUSEPORT and closes again: that fails with
   EADDRINUSE when another process (say a second corvid) holds the port, which the
   SO_REUSEPORT sockets of the workers would otherwise silently share with it. */
static int listener_open(const cv_conf_listener_t *l, unsigned dead_peer_ms, int probe, int *out_fd)
{
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } sa;
    socklen_t salen;
    int one = 1;
    int fd = -1;
    int rc;

    memset(&sa, 0, sizeof sa);
    if (inet_pton(AF_INET, l->address, &sa.v4.sin_addr) == 1) {
        sa.v4.sin_family = AF_INET;
        sa.v4.sin_port = htons(l->port);
        salen = sizeof sa.v4;
    } else if (inet_pton(AF_INET6, l->address, &sa.v6.sin6_addr) == 1) {
        sa.v6.sin6_family = AF_INET6;
        sa.v6.sin6_port = htons(l->port);
        salen = sizeof sa.v6;
    } else {
        cv_error("listener %s:%u: not an IP address", l->address, l->port);
        return CV_EINVAL;
    }
    fd = socket(sa.v4.sin_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (!probe && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)) {
        rc = -errno;
        goto out;
    }
    if (sa.v4.sin_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
        rc = -errno;
        goto out;
    }
    if (!probe && (rc = set_dead_peer_timeout(fd, dead_peer_ms)) < 0)
        goto out;
    if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || (!probe && listen(fd, 4096) < 0)) {
        rc = -errno;
        goto out;
    }
    if (probe) {
        close(fd);
        fd = -1;
    }
    *out_fd = fd;
    return 0;
out:
    cv_error("listener %s:%u: %s", l->address, l->port, strerror(-rc));
    if (fd >= 0)
        close(fd);
    return rc;
}

static void arm_accept(cv__listener_t *li)
{
    struct io_uring_sqe *sqe = cv__net_sqe(li->w);
    io_uring_prep_multishot_accept(sqe, li->fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, cv__net_ud(li, CV_OP_ACCEPT));
    li->armed = 1;
}

static void arm_recv(cv_conn_t *c)
{
    struct io_uring_sqe *sqe = cv__net_sqe(c->w);
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    cv__net_sqe_file(sqe, c);
    sqe->buf_group = CV_NET_BGID;
    io_uring_sqe_set_data64(sqe, cv__net_ud(c, CV_OP_RECV));
    c->recv_armed = 1;
    c->need_recv = 0;
    c->inflight++;
}

/*
 * Input shaping: each client connection may send limits.c2s_rate bytes per second. Bytes
 * received count into input_used as they arrive; past the rate the connection gets no
 * new recv, and each tick takes one second's worth off the count (a token bucket with a
 * one-second refill: bursts of up to one second's worth). So the kernel's receive window,
 * not the server's memory or CPU, holds the excess, and nothing is dropped.
 */
static size_t input_rate(const cv_conn_t *c)
{
    return strcmp(c->listener->type, "c2s") == 0 ? c->w->net->opts.config->c2s_rate : 0;
}

static void count_input(cv_conn_t *c, size_t len)
{
    uint64_t used = (uint64_t)c->input_used + len;
    c->input_used = used < UINT32_MAX ? (uint32_t)used : UINT32_MAX;
}

static int input_stopped(const cv_conn_t *c)
{
    return c->input_paused || c->input_held;
}

/* Stops reading from c: cancels its multishot recv (the final completion, -ECANCELED,
   clears recv_armed). Callers set the reason (input_paused or input_held) after. */
static void stop_reading(cv_conn_t *c)
{
    if (c->recv_armed && !input_stopped(c)) {
        struct io_uring_sqe *sqe = cv__net_sqe(c->w);
        io_uring_prep_cancel64(sqe, cv__net_ud(c, CV_OP_RECV), 0);
        io_uring_sqe_set_data64(sqe, cv__net_ud(c->w, CV_OP_IGNORE));
    }
}

/* Counts len received bytes; past the rate, reading stops until a tick frees it. */
static void shape_input(cv_conn_t *c, size_t len)
{
    size_t rate = input_rate(c);
    if (rate == 0)
        return;
    count_input(c, len);
    if (c->input_used > rate && !c->input_paused) {
        stop_reading(c);
        c->input_paused = 1;
        cv_debug("conn %s: input rate exceeded: not reading for now", cv_net_conn_peer(c));
    }
}

/* Keeps bytes that arrived after reading stopped; fails the connection when memory runs
   out. */
static void hold_input(cv_conn_t *c, const char *data, size_t len)
{
    if (!c->held)
        c->held = calloc(1, sizeof *c->held);
    if (!c->held || cv_buf_append(&c->held->bytes, data, len) < 0) {
        cv_warn("conn %s: out of memory holding input", cv_net_conn_peer(c));
        cv__net_conn_fail(c);
    }
}

/* Bytes received: parsed now, or kept while reading is stopped. */
static void take_input(cv_conn_t *c, const char *data, size_t len)
{
    if (input_stopped(c) || c->held) {
        hold_input(c, data, len);
        return;
    }
    shape_input(c, len);
    cv__net_conn_input(c, data, len);
}

/* Feeds held bytes, a buffer's worth at a time, until none are left or reading stops
   again (the rate, or the owner); then reads again if nothing stops it. */
static void resume_input(cv_conn_t *c)
{
    cv__held_input_t *h = c->held;

    while (h && h->fed < h->bytes.len && !input_stopped(c) && !c->closing) {
        size_t n = h->bytes.len - h->fed;
        if (n > CV_NET_BUF_SIZE)
            n = CV_NET_BUF_SIZE;
        h->fed += n;
        shape_input(c, n);
        cv__net_conn_input(c, h->bytes.data + h->fed - n, n);
    }
    if (h && (h->fed >= h->bytes.len || c->closing)) {
        cv_buf_free(&h->bytes);
        free(h);
        c->held = NULL;
    }
    if (c->held || input_stopped(c) || c->recv_armed || c->closing)
        return;
    /* A recv that ended for lack of buffers meanwhile is re-armed by the flush (the
       connection may have left the dirty list while it was stopped). */
    if (c->need_recv)
        cv__net_conn_mark_dirty(c);
    else
        arm_recv(c);
}

/* The tick: one second's worth comes off the count; a connection paused by the rate
   goes on once the count is back within it. */
static void shape_tick(cv_conn_t *c)
{
    size_t rate = input_rate(c);

    c->input_used = c->input_used > rate ? (uint32_t)(c->input_used - rate) : 0;
    if (!c->input_paused || (c->input_used > rate && !c->closing))
        return;
    c->input_paused = 0;
    resume_input(c);
}

void cv_net_conn_hold_input(cv_conn_t *c, int hold)
{
    if (hold) {
        stop_reading(c);
        c->input_held = 1;
        return;
    }
    if (!c->input_held)
        return;
    c->input_held = 0;
    resume_input(c);
}

static void arm_wake(cv_worker_t *w)
{
    struct io_uring_sqe *sqe = cv__net_sqe(w);
    io_uring_prep_read(sqe, w->wake_fd, &w->wake_val, sizeof w->wake_val, 0);
    io_uring_sqe_set_data64(sqe, cv__net_ud(w, CV_OP_WAKE));
}

static void arm_tick(cv_worker_t *w)
{
    struct io_uring_sqe *sqe = cv__net_sqe(w);
    w->tick.tv_sec = 1;
    w->tick.tv_nsec = 0;
    io_uring_prep_timeout(sqe, &w->tick, 0, 0);
    io_uring_sqe_set_data64(sqe, cv__net_ud(w, CV_OP_TICK));
}

static void recycle_buffer(cv_worker_t *w, unsigned bid)
{
    io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * CV_NET_BUF_SIZE, CV_NET_BUF_SIZE,
                          (unsigned short)bid, io_uring_buf_ring_mask(w->nbufs), 0);
    io_uring_buf_ring_advance(w->br, 1);
}

static void on_accept(cv__listener_t *li, struct io_uring_cqe *cqe)
{
    cv_worker_t *w = li->w;
    const cv_net_ops_t *ops = &w->net->opts.ops;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    int one = 1, rc;
    int fd = cqe->res;
    cv_conn_t *c = NULL;

    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        li->armed = 0;
        if (!w->stopping)
            arm_accept(li);
    }
    if (fd < 0) {
        if (fd != -ECANCELED)
            cv_warn("accept on %s:%u: %s", li->conf->address, li->conf->port, strerror(-fd));
        return;
    }
    if (w->stopping || w->nconns >= w->max_conns) {
        if (!w->stopping)
            cv_warn("connection limit reached on worker %u: refusing a connection", w->index);
        goto drop;
    }
    if (getpeername(fd, (struct sockaddr *)&ss, &sslen) < 0)
        goto drop;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c = calloc(1, sizeof *c);
    if (!c)
        goto drop;
    c->fd = fd;
    if (w->direct) {
        /* nconns < max_conns <= table size, so a slot is free. The table takes its own
           reference; the descriptor is closed at once. */
        CV_ASSERT(w->nfree > 0);
        unsigned slot = w->free_slots[--w->nfree];
        rc = io_uring_register_files_update(&w->ring, slot, &fd, 1);
        if (rc < 0) {
            cv_warn("accept on %s:%u: installing the socket: %s", li->conf->address, li->conf->port,
                    strerror(-rc));
            w->free_slots[w->nfree++] = slot;
            free(c);
            goto drop;
        }
        close(fd);
        c->fd = (int)slot;
    }
    c->w = w;
    c->listener = li->conf;
    /* A new connection counts as active in its first tick window: quiet means a whole
       tick without input, not a tick that began before the peer could send anything. */
    c->active = 1;
    c->family = (uint8_t)ss.ss_family;
    if (ss.ss_family == AF_INET)
        memcpy(c->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    else
        memcpy(c->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    if (li->conf->tls == CV_TLS_MODE_DIRECT && cv_net_conn_start_tls(c) < 0) {
        cv_warn("conn %s: cannot start TLS", cv_net_conn_peer(c));
        c->closing = 1;
        cv__net_conn_mark_dirty(c);
        return;
    }
    if (ops->on_open(c, li->conf, ops->arg) < 0) {
        c->closing = 1;
        cv__net_conn_mark_dirty(c);
        return;
    }
    arm_recv(c);
    return;
drop:
    close(fd);
}

static void on_recv(cv_conn_t *c, struct io_uring_cqe *cqe)
{
    cv_worker_t *w = c->w;
    int res = cqe->res;

    /* A multishot recv is one in-flight SQE until its last completion (no F_MORE). */
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        c->recv_armed = 0;
        c->inflight--;
    }
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0)
            take_input(c, w->bufs + (size_t)bid * CV_NET_BUF_SIZE, (size_t)res);
        recycle_buffer(w, bid);
    } else if (res == 0) {
        if (!c->closing)
            cv_debug("conn %s: peer closed", cv_net_conn_peer(c));
        cv__net_conn_fail(c);
    } else if (res == -ENOBUFS) {
        /* Every provided buffer was in use: re-arm after this batch returned them. */
        c->need_recv = 1;
    } else if (res < 0 && res != -ECANCELED) {
        cv_debug("conn %s: recv: %s", cv_net_conn_peer(c), strerror(-res));
        cv__net_conn_fail(c);
    }
    if (!c->recv_armed && !c->closing && !c->need_recv && !input_stopped(c) && !c->held)
        arm_recv(c);
    if (c->need_recv && !c->closing)
        cv__net_conn_mark_dirty(c);
    cv__net_conn_maybe_free(c);
}

void cv_net_wake(cv_worker_t *w)
{
    uint64_t one = 1;
    /* seq_cst pairs with the ring's clear-then-drain in drain_inbox: either this sees 0
       and writes the eventfd, or the ring's drain comes after our push. */
    if (atomic_exchange(&w->wake_pending, 1) == 0 && write(w->wake_fd, &one, sizeof one) < 0)
        cv_warn("worker %u: wake: %s", w->index, strerror(errno));
}

/*
 * A ring thread wakes another ring with a message on its own ring (IORING_OP_MSG_RING)
 * instead of a write to the other's eventfd: the message leaves with the submission that
 * ends this loop turn, right before this ring sleeps, so the woken ring does not preempt
 * this one in the middle of its turn (a write() wakes at once, and on a busy machine the
 * wakee often takes the waker's CPU there and then), no system call is spent on it, and
 * the woken ring has no eventfd read to re-arm. Same wake_pending protocol as cv_net_wake.
 */
static void poke(cv_worker_t *from, cv_worker_t *w)
{
    struct io_uring_sqe *sqe;
    if (atomic_exchange(&w->wake_pending, 1) != 0)
        return;
    sqe = cv__net_sqe(from);
    io_uring_prep_msg_ring(sqe, w->ring.ring_fd, 0, cv__net_ud(w, CV_OP_POKE), 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, cv__net_ud(w, CV_OP_IGNORE)); /* only if it fails */
}

void cv_net_post(cv_worker_t *from, cv_worker_t *w, cv_net_task_t *t)
{
    cv_mpsc_push(&w->inbox, &t->node);
    if (from == w)
        return;
    /* `from` names the caller's worker, but the main thread also runs actors on behalf of
       workers after they stopped (shutdown): only the ring's own thread may submit. */
    if (from && from->net->poke_by_ring && pthread_equal(pthread_self(), from->self))
        poke(from, w);
    else
        cv_net_wake(w);
}

cv_worker_t *cv_net_worker(cv_net_t *net, unsigned index)
{
    return index < net->nworkers ? &net->workers[index] : NULL;
}

unsigned cv_net_worker_index(const cv_worker_t *w)
{
    return w->index;
}

static size_t drain_inbox(cv_worker_t *w)
{
    cv_mpsc_node_t *n;
    size_t ran = 0;
    atomic_store(&w->wake_pending, 0);
    while ((n = cv_mpsc_pop(&w->inbox)) != NULL) {
        cv_net_task_t *t = (cv_net_task_t *)((char *)n - offsetof(cv_net_task_t, node));
        t->run(t, w);
        ran++;
    }
    return ran;
}

void cv_net_timer_arm(cv_worker_t *w, cv_net_timer_t *t, unsigned delay_ms)
{
    t->due_ms = cv_clock_ms() + delay_ms;
    t->next = w->timers;
    w->timers = t;
}

int cv_net_worker_stopped(const cv_worker_t *w)
{
    return w->stopped;
}

/* Runs the timers due by now, in the order they were armed. Those a run arms wait for the
   next call, so a timer that re-arms itself cannot keep this loop going. */
static size_t run_timers(cv_worker_t *w, uint64_t now)
{
    cv_net_timer_t *due = NULL, **link = &w->timers;
    size_t ran = 0;

    while (*link) {
        cv_net_timer_t *t = *link;
        if (t->due_ms <= now) {
            *link = t->next;
            t->next = due; /* the list is newest first: this reverses it */
            due = t;
        } else {
            link = &t->next;
        }
    }
    while (due) {
        cv_net_timer_t *t = due;
        due = t->next;
        t->next = NULL;
        t->task.run(&t->task, w);
        ran++;
    }
    return ran;
}

size_t cv_net_drain(cv_net_t *net)
{
    size_t ran = 0;
    for (unsigned i = 0; i < net->nworkers; i++) {
        ran += drain_inbox(&net->workers[i]);
        ran += run_timers(&net->workers[i], UINT64_MAX);
    }
    return ran;
}

static void begin_shutdown(cv_worker_t *w)
{
    const cv_net_ops_t *ops = &w->net->opts.ops;
    w->stopping = 1;
    w->stop_deadline_ms = cv_clock_ms() + CV_NET_GRACE_MS;
    for (size_t i = 0; i < w->nlisteners; i++) {
        struct io_uring_sqe *sqe = cv__net_sqe(w);
        io_uring_prep_cancel64(sqe, cv__net_ud(&w->listeners[i], CV_OP_ACCEPT), 0);
        io_uring_sqe_set_data64(sqe, cv__net_ud(w, CV_OP_IGNORE));
    }
    for (cv_conn_t *c = w->conns; c; c = c->next) {
        if (c->closing)
            continue;
        ops->on_shutdown(c);
        cv_net_conn_close(c);
    }
}

static void on_tick(cv_worker_t *w)
{
    const cv_net_ops_t *ops = &w->net->opts.ops;
    uint64_t now = cv_clock_ms();
    for (cv_conn_t *c = w->conns; c; c = c->next) {
        /* A connection quiet for a whole tick gives back what only an active one needs,
           once: until it reads again there is nothing more to give back, and touching
           every idle session each second would cost more than it returns. */
        if (!c->active && !c->quiet && !c->closing) {
            c->quiet = 1;
            if (ops->on_quiet)
                ops->on_quiet(c);
        }
        /* Its TLS record buffers too, once no send still uses them. */
        if (c->tls && !c->active && !c->trimmed && !c->send_inflight && c->out.len == 0) {
            (void)cv_tls_conn_trim(c->tls);
            c->trimmed = 1;
        }
        c->was_active = c->active;
        c->active = 0;
        if (c->input_used || c->input_paused)
            shape_tick(c);
        if (c->deadline_ms && now >= c->deadline_ms && !c->closing) {
            c->deadline_ms = 0;
            ops->on_timeout(c);
            cv_net_conn_close(c);
        }
    }
    (void)run_timers(w, now);
    if (w->stopping && now >= w->stop_deadline_ms) {
        /* Peers that do not read their last bytes do not hold up the exit. */
        for (cv_conn_t *c = w->conns; c; c = c->next) {
            if (c->peer_gone)
                continue;
            cv__net_conn_fail(c);
            /* Also ends a send the peer never drains, so its completion arrives. */
            cv__net_conn_shutdown_socket(c);
        }
    }
    arm_tick(w);
}

/* Whether ptr is one of net's workers (a failed poke's target, not a cancellation's). */
static int is_worker(const cv_net_t *net, const void *ptr)
{
    const cv_worker_t *p = ptr;
    return p >= net->workers && p < net->workers + net->nworkers;
}

static void handle_cqe(cv_worker_t *w, struct io_uring_cqe *cqe)
{
    void *ptr = (void *)(uintptr_t)(cqe->user_data & ~(uint64_t)CV_OP_MASK);
    switch ((enum cv__net_op)(cqe->user_data & CV_OP_MASK)) {
    case CV_OP_ACCEPT: on_accept(ptr, cqe); break;
    case CV_OP_RECV: on_recv(ptr, cqe); break;
    case CV_OP_SEND:
        cv__net_conn_on_send(ptr, cqe->res);
        cv__net_conn_maybe_free(ptr);
        break;
    case CV_OP_WAKE:
        (void)drain_inbox(w);
        if (atomic_load_explicit(&w->net->stop, memory_order_acquire) && !w->stopping)
            begin_shutdown(w);
        if (!w->stopping)
            arm_wake(w);
        break;
    case CV_OP_TICK: on_tick(w); break;
    case CV_OP_SHUTDOWN: cv__net_conn_on_shutdown(ptr, cqe->res); break;
    case CV_OP_POKE: (void)drain_inbox(w); break;
    case CV_OP_IGNORE:
        /* A poke that did not reach its ring (a stopping one, a kernel short of memory):
           wake it the other way. wake_pending is still set, so nobody else will. */
        if (cqe->res < 0 && ptr != w && is_worker(w->net, ptr)) {
            cv_worker_t *to = ptr;
            uint64_t one = 1;
            if (write(to->wake_fd, &one, sizeof one) < 0)
                cv_warn("worker %u: wake: %s", to->index, strerror(errno));
        }
        break;
    }
}

/* Connections whose recv ended for lack of buffers are re-armed once buffers are back. */
static void rearm_starved(cv_worker_t *w)
{
    for (cv_conn_t *c = w->dirty; c; c = c->dirty_next)
        if (c->need_recv && !c->closing && !c->recv_armed && !input_stopped(c) && !c->held)
            arm_recv(c);
}

#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

/*
 * Hands queued SQEs to the kernel and sleeps until completions arrive. With kernel
 * support (6.12+) and a ring that had more than one completion last turn, the sleep
 * gathers a batch: the kernel wakes the ring after batch_wait_us (or CV_NET_BATCH_MAX
 * completions), not at the first one, so a busy ring wakes once per batch instead of once
 * per message; on this kind of machine a wake-up costs more than the message. A ring at
 * light load (one completion per turn) wakes on the first, so its latency is unchanged.
 */
static int ring_wait(cv_worker_t *w, unsigned last_turn)
{
    struct io_uring_sq *sq = &w->ring.sq;
    struct io_uring_getevents_arg arg;
    unsigned submit;
    int rc;

    if (!w->batch_wait_us || last_turn < 2)
        return io_uring_submit_and_wait(&w->ring, 1);
    /* What io_uring_submit does before it enters the kernel: publish the SQ tail, then
       submit everything the kernel has not consumed yet (also what an earlier submit may
       have left behind). */
    sq->sqe_head = sq->sqe_tail;
    io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
    submit = sq->sqe_tail - io_uring_smp_load_acquire(sq->khead);
    /* The kernel ends the batch wait early only with a general timeout set: without one
       an empty batch window would wake the ring every time it expires. The one-second
       tick is pending anyway, so a longer timeout changes nothing. */
    struct __kernel_timespec forever = {.tv_sec = 2, .tv_nsec = 0};
    memset(&arg, 0, sizeof arg);
    arg.pad = w->batch_wait_us; /* min_wait_usec in kernels that know it */
    arg.ts = (uint64_t)(uintptr_t)&forever;
    /* liburing's io_uring_enter2 returns -errno itself and leaves errno alone. */
    rc = io_uring_enter2(w->ring.ring_fd, submit, CV_NET_BATCH_MAX,
                         IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (sigset_t *)&arg,
                         sizeof arg);
    return rc;
}

static void worker_loop(cv_worker_t *w)
{
    const cv_net_ops_t *ops = &w->net->opts.ops;
    unsigned last_turn = 0; /* completions handled in the previous turn */
    int busy = 0;
    for (;;) {
        rearm_starved(w);
        if (ops->on_turn)
            busy = ops->on_turn(w, ops->arg);
        /* Deliveries actors of this turn posted to this ring, then one send each. */
        (void)drain_inbox(w);
        cv__net_flush(w);
        if (w->stopping && w->nconns == 0) {
            /* Pokes this last turn queued for other rings must still leave. */
            (void)io_uring_submit(&w->ring);
            break;
        }
        if (!busy && ops->on_sleep)
            ops->on_sleep(w, 1, ops->arg);
        /* A busy turn does not sleep, but it must still reap: with DEFER_TASKRUN the
           kernel runs completion work only when asked for events, so a plain submit would
           leave receives and send completions queued for as long as actors keep the ring
           busy, and output behind an unreaped send would wait with them. */
        int rc = busy ? io_uring_submit_and_get_events(&w->ring) : ring_wait(w, last_turn);
        if (!busy && ops->on_sleep)
            ops->on_sleep(w, 0, ops->arg);
        /* EINTR: a signal (job control, a debugger); ETIME: the wait's own timeout;
           EAGAIN/EBUSY: the kernel is short of memory or the CQ is full for a moment.
           Anything else means the ring cannot go on: the whole server stops rather than
           keep running with a worker that no longer serves its connections. */
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
            cv_error("worker %u: waiting on the ring: %s; stopping the server", w->index,
                     strerror(-rc));
            (void)kill(getpid(), SIGTERM);
            break;
        }
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&w->ring, head, cqe)
        {
            handle_cqe(w, cqe);
            n++;
        }
        io_uring_cq_advance(&w->ring, n);
        last_turn = n;
    }
}

/* The fixed-file table holds every connection of the ring. The kernel caps its size at
   RLIMIT_NOFILE (per table, so per ring); a ring never accepts more connections than it
   has slots. */
static int slots_setup(cv_worker_t *w)
{
    struct rlimit rl;
    size_t n = w->max_conns;
    int rc;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && n > rl.rlim_cur) {
        n = rl.rlim_cur;
        cv_info("worker %u: at most %zu connections (the open-file limit, ulimit -n, caps "
                "each worker; more workers hold more)",
                w->index, n);
    }
    if (n > CV_NET_MAX_SLOTS)
        n = CV_NET_MAX_SLOTS;
    w->free_slots = malloc(n * sizeof *w->free_slots);
    if (!w->free_slots)
        return CV_ENOMEM;
    rc = io_uring_register_files_sparse(&w->ring, (unsigned)n);
    if (rc < 0)
        return rc;
    w->max_conns = n;
    w->nfree = (unsigned)n;
    for (unsigned i = 0; i < w->nfree; i++)
        w->free_slots[i] = w->nfree - 1 - i; /* slot 0 on top */
    return 0;
}

static int ring_setup(cv_worker_t *w)
{
    struct io_uring_params p;
    struct io_uring_buf_reg reg;
    size_t br_size = w->nbufs * sizeof(struct io_uring_buf);
    int rc;

    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    rc = io_uring_queue_init_params(CV_NET_RING_ENTRIES, &w->ring, &p);
    if (rc == -EINVAL) {
        /* Older kernels lack these flags; the ring works without them, a little slower. */
        memset(&p, 0, sizeof p);
        rc = io_uring_queue_init_params(CV_NET_RING_ENTRIES, &w->ring, &p);
    }
    if (rc < 0)
        goto out;
    w->ring_ready = 1;
    if (p.features & IORING_FEAT_MIN_TIMEOUT)
        w->batch_wait_us = w->net->batch_wait_us;
    w->direct = w->net->direct;
    if (w->direct) {
        rc = slots_setup(w);
        if (rc < 0)
            goto out;
    }
    w->br = mmap(NULL, br_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (w->br == MAP_FAILED) {
        w->br = NULL;
        rc = -errno;
        goto out;
    }
    w->bufs = aligned_alloc(4096, (size_t)w->nbufs * CV_NET_BUF_SIZE);
    if (!w->bufs) {
        rc = CV_ENOMEM;
        goto out;
    }
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)w->br;
    reg.ring_entries = w->nbufs;
    reg.bgid = CV_NET_BGID;
    rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
    if (rc < 0)
        goto out;
    io_uring_buf_ring_init(w->br);
    for (unsigned i = 0; i < w->nbufs; i++)
        io_uring_buf_ring_add(w->br, w->bufs + (size_t)i * CV_NET_BUF_SIZE, CV_NET_BUF_SIZE,
                              (unsigned short)i, io_uring_buf_ring_mask(w->nbufs), (int)i);
    io_uring_buf_ring_advance(w->br, (int)w->nbufs);
    for (size_t i = 0; i < w->nlisteners; i++)
        arm_accept(&w->listeners[i]);
    arm_wake(w);
    arm_tick(w);
    rc = io_uring_submit(&w->ring);
    if (rc >= 0)
        rc = 0;
out:
    if (rc < 0)
        cv_error("worker %u: io_uring setup: %s", w->index, strerror(-rc));
    return rc;
}

static void *worker_main(void *arg)
{
    cv_worker_t *w = arg;
    w->self = pthread_self();
    w->init_rc = ring_setup(w);
    pthread_barrier_wait(&w->net->started);
    if (w->init_rc == 0)
        worker_loop(w);
    w->stopped = 1; /* read by the main thread after it joined this one */
    if (w->ring_ready) {
        io_uring_queue_exit(&w->ring);
        w->ring_ready = 0;
    }
    cv__net_conn_free_all(w);
    cv_tls_thread_cleanup(); /* wolfSSL's per-thread caches of this ring's handshakes */
    return NULL;
}

/*
 * Before Linux 6.13 a file removed from a fixed-file table is released only after every
 * request issued before the removal has completed, oldest first. A multishot recv of a
 * connection that stays open for hours would then keep every socket closed after it open
 * (in FIN_WAIT2, with its memory). From 6.13 on each file is released on its own.
 */
static uint8_t direct_descriptors_safe(void)
{
    return (uint8_t)cv_kernel_at_least(6, 13);
}

int cv_net_create(cv_net_t **out, const cv_net_opts_t *opts)
{
    const cv_config_t *cfg = opts->config;
    cv_net_t *net = calloc(1, sizeof *net);
    int rc = 0;

    if (!net)
        return CV_ENOMEM;
    net->opts = *opts;
    net->nworkers = cfg->workers ? cfg->workers : 1;
    net->batch_wait_us = cfg->batch_wait_us;
    net->direct =
        cfg->direct_descriptors < 0 ? direct_descriptors_safe() : (uint8_t)cfg->direct_descriptors;
    cv_info("sockets: %s", net->direct ? "io_uring direct descriptors"
                                       : "ordinary descriptors (direct_descriptors is off)");
    /* MSG_RING came in 5.18, but a target ring with DEFER_TASKRUN (ours) takes it
       reliably only in later kernels; the min-wait batching already wants 6.12. */
    net->poke_by_ring = (uint8_t)cv_kernel_at_least(6, 12);
    atomic_init(&net->stop, 0);
    for (size_t j = 0; j < cfg->nlisteners; j++) {
        int unused;
        rc = listener_open(&cfg->listeners[j], 0, 1, &unused);
        if (rc < 0)
            goto out;
    }
    net->workers = calloc(net->nworkers, sizeof *net->workers);
    if (!net->workers) {
        rc = CV_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < net->nworkers; i++) {
        cv_worker_t *w = &net->workers[i];
        w->net = net;
        w->index = i;
        w->nbufs = CV_NET_NBUFS;
        cv_mpsc_init(&w->inbox);
        atomic_init(&w->wake_pending, 0);
        w->max_conns = (cfg->max_connections + net->nworkers - 1) / net->nworkers;
        w->wake_fd = eventfd(0, EFD_CLOEXEC);
        if (w->wake_fd < 0) {
            rc = -errno;
            goto out;
        }
        w->listeners = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof *w->listeners);
        if (!w->listeners) {
            rc = CV_ENOMEM;
            goto out;
        }
        for (size_t j = 0; j < cfg->nlisteners; j++) {
            cv__listener_t *li = &w->listeners[j];
            li->w = w;
            li->conf = &cfg->listeners[j];
            li->fd = -1;
            rc = listener_open(li->conf, cfg->dead_peer_timeout_ms, 0, &li->fd);
            if (rc < 0)
                goto out;
            w->nlisteners++;
        }
    }
    *out = net;
    return 0;
out:
    cv_net_destroy(net);
    return rc;
}

int cv_net_start(cv_net_t *net)
{
    unsigned started = 0;
    int rc = 0;
    if (pthread_barrier_init(&net->started, NULL, net->nworkers + 1) != 0)
        return CV_ENOMEM;
    for (; started < net->nworkers; started++) {
        if (pthread_create(&net->workers[started].thread, NULL, worker_main,
                           &net->workers[started]) != 0) {
            rc = CV_ENOMEM;
            break;
        }
    }
    if (rc < 0) {
        /* Threads already started wait at the barrier for the full count: release them
           by stopping; nothing else can be done for a failed pthread_create at start-up. */
        cv_error("cannot start worker threads");
        abort();
    }
    pthread_barrier_wait(&net->started);
    for (unsigned i = 0; i < net->nworkers; i++)
        if (net->workers[i].init_rc < 0)
            rc = net->workers[i].init_rc;
    if (rc < 0)
        cv_net_stop(net);
    return rc;
}

void cv_net_stop(cv_net_t *net)
{
    uint64_t one = 1;
    atomic_store_explicit(&net->stop, 1, memory_order_release);
    for (unsigned i = 0; i < net->nworkers; i++) {
        if (write(net->workers[i].wake_fd, &one, sizeof one) < 0)
            cv_warn("worker %u: wake: %s", i, strerror(errno));
    }
    for (unsigned i = 0; i < net->nworkers; i++) {
        if (net->workers[i].thread) {
            pthread_join(net->workers[i].thread, NULL);
            net->workers[i].thread = 0;
        }
    }
}

void cv_net_destroy(cv_net_t *net)
{
    if (!net)
        return;
    for (unsigned i = 0; net->workers && i < net->nworkers; i++) {
        cv_worker_t *w = &net->workers[i];
        for (size_t j = 0; j < w->nlisteners; j++)
            close(w->listeners[j].fd);
        free(w->listeners);
        if (w->wake_fd > 0)
            close(w->wake_fd);
        if (w->br)
            munmap(w->br, w->nbufs * sizeof(struct io_uring_buf));
        free(w->bufs);
        free(w->free_slots);
        cv_buf_free(&w->plain);
        cv_buf_free(&w->joined);
    }
    free(net->workers);
    free(net);
}
