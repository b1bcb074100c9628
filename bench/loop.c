/*
 * The load-generator threads: one io_uring ring each, connections bound to source
 * addresses spread over 127.0.0.0/8, multishot receive into a provided-buffer ring, one
 * send per connection per loop turn carrying everything queued, and a 1 ms tick that
 * drives the scenario.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "bench.h"

#define RING_ENTRIES 4096u
#define NBUFS 1024u /* power of two */
#define BUF_SIZE 16384u
#define BGID 0
#define CLOSE_GRACE_NS 3000000000ull

enum { OP_CONNECT = 1, OP_RECV, OP_SEND, OP_TICK, OP_IGNORE, OP_SHUTDOWN };
#define OP_MASK 7u
_Static_assert(_Alignof(cv_bench_conn_t) >= 8, "op bits need 8-byte aligned pointers");

static uint64_t ud(void *p, unsigned op)
{
    return (uint64_t)(uintptr_t)p | op;
}

uint64_t cv__bench_rand(cv_bench_thread_t *th)
{
    /* xorshift64*: statistical quality is plenty for picking recipients. */
    uint64_t x = th->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    th->rng = x;
    return x * 2685821657736338717ull;
}

static struct io_uring_sqe *get_sqe(cv_bench_thread_t *th)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&th->ring);
    while (!sqe) {
        /* The submission queue is full: hand it to the kernel and retry. */
        (void)io_uring_submit(&th->ring);
        sqe = io_uring_get_sqe(&th->ring);
    }
    return sqe;
}

/* Marks an SQE prepared with c->fd as naming a fixed-file slot when c's thread uses
   direct descriptors. */
static void sqe_file(struct io_uring_sqe *sqe, const cv_bench_conn_t *c)
{
    if (((const cv_bench_thread_t *)c->thread)->direct)
        sqe->flags |= IOSQE_FIXED_FILE;
}

/*
 * Direct descriptors only from Linux 6.13 on: before, a file removed from a fixed-file
 * table is released only once every earlier request has completed, so a long-lived
 * connection would keep every socket closed after it open.
 */
static uint8_t direct_descriptors_safe(void)
{
    return (uint8_t)cv_kernel_at_least(6, 13);
}

void cv__bench_mark_dirty(cv_bench_conn_t *c)
{
    cv_bench_thread_t *th = c->thread;
    if (c->dirty)
        return;
    c->dirty = 1;
    c->dirty_next = th->dirty;
    th->dirty = c;
}

static void on_output(cv_bench_conn_t *c)
{
    cv__bench_mark_dirty(c);
}

void cv__bench_conn_close(cv_bench_conn_t *c)
{
    if (!c->closing) {
        cv_bench_conn_end_stream(c);
        c->closing = 1;
    }
    cv__bench_mark_dirty(c);
}

static void arm_recv(cv_bench_conn_t *c)
{
    cv_bench_thread_t *th = c->thread;
    struct io_uring_sqe *sqe = get_sqe(th);
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe_file(sqe, c);
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, ud(c, OP_RECV));
    c->recv_armed = 1;
    c->inflight++;
}

int cv__bench_conn_open(cv_bench_thread_t *th, unsigned slot)
{
    cv_bench_run_t *r = th->run;
    const cv_bench_opts_t *o = r->o;
    uint32_t idx = th->index + slot * r->nthreads;
    cv_bench_conn_t *c = NULL;
    int one = 1, fd = -1, rc;

    if (th->slots[slot])
        return CV_EEXIST;
    c = calloc(1, sizeof *c);
    if (!c)
        return CV_ENOMEM;
    c->thread = th;
    rc = cv_bench_conn_init(c, &r->ccfg, &r->caches[th->index], idx, o->user_base + idx);
    if (rc < 0)
        goto out;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* The port is chosen at connect time, per (source, destination): each source
       address gives its own 64k ports towards the server's one port. */
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    uint32_t k = (th->src_seq++ * r->nthreads + th->index) % o->src_ips;
    c->src.sin_family = AF_INET;
    c->src.sin_addr.s_addr = htonl(0x7f000002u + k);
    if (bind(fd, (struct sockaddr *)&c->src, sizeof c->src) < 0) {
        rc = -errno;
        goto out;
    }
    c->dst.sin_family = AF_INET;
    c->dst.sin_port = htons(o->port);
    if (inet_pton(AF_INET, o->host, &c->dst.sin_addr) != 1) {
        rc = CV_EINVAL;
        goto out;
    }
    if (th->direct) {
        /* The table takes its own reference; the descriptor is closed at once. */
        rc = io_uring_register_files_update(&th->ring, slot, &fd, 1);
        if (rc < 0)
            goto out;
        close(fd);
        c->fd = (int)slot;
    } else {
        c->fd = fd;
    }
    fd = -1;
    struct io_uring_sqe *sqe = get_sqe(th);
    io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->dst, sizeof c->dst);
    sqe_file(sqe, c);
    io_uring_sqe_set_data64(sqe, ud(c, OP_CONNECT));
    c->connect_inflight = 1;
    c->inflight++;
    c->t_start_ns = cv_bench_now_ns();
    th->slots[slot] = c;
    th->live++;
    th->pending++;
    return 0;
out:
    if (fd >= 0)
        close(fd);
    cv_bench_conn_cleanup(c);
    free(c);
    return rc;
}

static void conn_free(cv_bench_conn_t *c)
{
    cv_bench_thread_t *th = c->thread;
    unsigned slot = c->idx / th->run->nthreads;
    if (th->slots[slot] == c)
        th->slots[slot] = NULL;
    cv__bench_scen_freed(th, c);
    /* No operation references the socket any more: close it. */
    if (c->fd >= 0 && !th->direct) {
        close(c->fd);
    } else if (c->fd >= 0 && th->ring_ready) {
        int empty = -1;
        (void)io_uring_register_files_update(&th->ring, (unsigned)c->fd, &empty, 1);
    }
    cv_bench_conn_cleanup(c);
    th->live--;
    free(c);
}

/* Moves a closing connection on: shut the socket once its output is out, free it once
   the kernel holds no reference. */
static void conn_settle(cv_bench_conn_t *c)
{
    if (!c->closing)
        return;
    if (!c->shut && !c->send_inflight && !c->connect_inflight &&
        (c->out.len == 0 || c->peer_gone || !c->connected)) {
        if (c->connected) {
            /* A shutdown, not a close: the server gets our last bytes and a FIN. */
            struct io_uring_sqe *sqe = get_sqe(c->thread);
            io_uring_prep_shutdown(sqe, c->fd, SHUT_RDWR);
            sqe_file(sqe, c);
            io_uring_sqe_set_data64(sqe, ud(c, OP_SHUTDOWN));
            c->inflight++;
        }
        c->shut = 1;
    }
    if (c->shut && c->inflight == 0 && !c->dirty)
        conn_free(c);
}

static void submit_send(cv_bench_conn_t *c)
{
    cv_bench_thread_t *th = c->thread;
    struct io_uring_sqe *sqe = get_sqe(th);
    io_uring_prep_send(sqe, c->fd, c->sending.data + c->sent, c->sending.len - c->sent,
                       MSG_NOSIGNAL);
    sqe_file(sqe, c);
    io_uring_sqe_set_data64(sqe, ud(c, OP_SEND));
    c->send_inflight = 1;
    c->inflight++;
}

static void flush(cv_bench_thread_t *th)
{
    cv_bench_conn_t *list = th->dirty;
    th->dirty = NULL;
    while (list) {
        cv_bench_conn_t *c = list;
        list = c->dirty_next;
        c->dirty = 0;
        if (c->peer_gone)
            cv_buf_clear(&c->out);
        if (c->connected && !c->send_inflight && c->out.len > 0) {
            /* Swap: everything queued goes out in one send. */
            cv_buf_t t = c->sending;
            c->sending = c->out;
            c->out = t;
            cv_buf_clear(&c->out);
            c->sent = 0;
            submit_send(c);
        }
        conn_settle(c);
    }
}

static void on_connect(cv_bench_conn_t *c, int res)
{
    c->connect_inflight = 0;
    c->inflight--;
    if (c->closing)
        return;
    if (res < 0) {
        c->peer_gone = 1;
        (void)cv_bench_conn_fail(c, res, strerror(-res));
        return;
    }
    c->connected = 1;
    arm_recv(c);
    (void)cv_bench_conn_begin(c);
}

static void on_recv(cv_bench_conn_t *c, struct io_uring_cqe *cqe)
{
    cv_bench_thread_t *th = c->thread;
    int res = cqe->res;
    int rearm = 0;
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        c->recv_armed = 0;
        c->inflight--;
        rearm = 1;
    }
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0 && !c->failed && !c->shut)
            (void)cv_bench_conn_input(c, th->bufs + (size_t)bid * BUF_SIZE, (size_t)res);
        io_uring_buf_ring_add(th->br, th->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE,
                              (unsigned short)bid, io_uring_buf_ring_mask(th->nbufs), 0);
        io_uring_buf_ring_advance(th->br, 1);
    } else if (res == 0 || (res < 0 && res != -ENOBUFS)) {
        c->peer_gone = 1;
        rearm = 0;
        if (!c->closing && !c->failed)
            (void)cv_bench_conn_fail(c, res == 0 ? CV_ECLOSED : res,
                                     res == 0 ? "server closed the connection" : strerror(-res));
        c->closing = 1;
    }
    /* A multishot receive that ended while the connection lives (buffers ran out, or the
       kernel stopped it) is armed again. */
    if (rearm && !c->recv_armed && !c->peer_gone && !c->shut && res != 0)
        arm_recv(c);
    if (c->closing)
        cv__bench_mark_dirty(c);
}

static void on_send(cv_bench_conn_t *c, int res)
{
    c->send_inflight = 0;
    c->inflight--;
    if (res < 0) {
        c->peer_gone = 1;
        if (!c->closing && !c->failed)
            (void)cv_bench_conn_fail(c, res, strerror(-res));
        c->closing = 1;
        cv_buf_clear(&c->sending);
    } else {
        c->sent += (size_t)res;
        if (c->sent < c->sending.len && res > 0) {
            submit_send(c);
            return;
        }
        cv_buf_clear(&c->sending);
    }
    cv__bench_mark_dirty(c);
}

static void arm_tick(cv_bench_thread_t *th)
{
    struct io_uring_sqe *sqe = get_sqe(th);
    th->tick.tv_sec = 0;
    th->tick.tv_nsec = 1000000;
    io_uring_prep_timeout(sqe, &th->tick, 0, 0);
    io_uring_sqe_set_data64(sqe, ud(th, OP_TICK));
    th->tick_armed = 1;
}

static void handle_cqe(cv_bench_thread_t *th, struct io_uring_cqe *cqe)
{
    void *p = (void *)(uintptr_t)(cqe->user_data & ~(uint64_t)OP_MASK);
    cv_bench_conn_t *c = p;
    switch (cqe->user_data & OP_MASK) {
    case OP_CONNECT: on_connect(c, cqe->res); break;
    case OP_RECV: on_recv(c, cqe); break;
    case OP_SEND: on_send(c, cqe->res); break;
    case OP_SHUTDOWN: c->inflight--; break;
    case OP_TICK: th->tick_armed = 0; return;
    default: return;
    }
    conn_settle(c);
}

static int ring_setup(cv_bench_thread_t *th)
{
    struct io_uring_params p;
    struct io_uring_buf_reg reg;
    size_t br_size = NBUFS * sizeof(struct io_uring_buf);
    int rc;

    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    rc = io_uring_queue_init_params(RING_ENTRIES, &th->ring, &p);
    if (rc == -EINVAL) {
        memset(&p, 0, sizeof p);
        rc = io_uring_queue_init_params(RING_ENTRIES, &th->ring, &p);
    }
    if (rc < 0)
        return rc;
    th->ring_ready = 1;
    th->nbufs = NBUFS;
    th->br = mmap(NULL, br_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (th->br == MAP_FAILED) {
        th->br = NULL;
        return -errno;
    }
    th->bufs = aligned_alloc(4096, (size_t)NBUFS * BUF_SIZE);
    if (!th->bufs)
        return CV_ENOMEM;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)th->br;
    reg.ring_entries = NBUFS;
    reg.bgid = BGID;
    rc = io_uring_register_buf_ring(&th->ring, &reg, 0);
    if (rc < 0)
        return rc;
    io_uring_buf_ring_init(th->br);
    for (unsigned i = 0; i < NBUFS; i++)
        io_uring_buf_ring_add(th->br, th->bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(NBUFS), (int)i);
    io_uring_buf_ring_advance(th->br, (int)NBUFS);
    if (!th->direct)
        return 0;
    /* One table slot per local user; the kernel caps a table at the open-file limit. */
    rc = io_uring_register_files_sparse(&th->ring, th->nslots ? th->nslots : 1);
    if (rc == -EMFILE)
        rc = CV_ELIMIT;
    return rc;
}

static void publish(cv_bench_thread_t *th)
{
    cv_bench_pub_t *p = &th->pub;
    atomic_store_explicit(&p->online, th->online, memory_order_relaxed);
    atomic_store_explicit(&p->logins, th->logins, memory_order_relaxed);
    atomic_store_explicit(&p->failed, th->failed, memory_order_relaxed);
    atomic_store_explicit(&p->sent, th->sent, memory_order_relaxed);
    atomic_store_explicit(&p->received, th->received, memory_order_relaxed);
    atomic_store_explicit(&p->errors, th->errors, memory_order_relaxed);
    atomic_store_explicit(&p->presences, th->presences, memory_order_relaxed);
    atomic_store_explicit(&p->roster_ok, th->roster_ok, memory_order_relaxed);
    atomic_store_explicit(&p->roster_err, th->roster_err, memory_order_relaxed);
    atomic_store_explicit(&p->last_rx_ns, th->last_rx_ns, memory_order_relaxed);
    atomic_store_explicit(&p->stored_ns, th->stored_ns, memory_order_relaxed);
}

static void *thread_main(void *arg)
{
    cv_bench_thread_t *th = arg;
    int rc = ring_setup(th);
    if (rc < 0) {
        th->fail_code = rc;
        if (rc == CV_ELIMIT)
            snprintf(th->fail_note, sizeof th->fail_note,
                     "%u connections per thread exceed the open-file limit (ulimit -n): use "
                     "more --threads",
                     th->nslots);
        else
            snprintf(th->fail_note, sizeof th->fail_note, "io_uring setup: %s", cv_strerror(rc));
        th->failed++;
        publish(th);
        goto out;
    }
    for (;;) {
        uint64_t now = cv_bench_now_ns();
        cv__bench_scen_tick(th, now);
        flush(th);
        publish(th);
        if (th->phase == CV_BENCH_PH_CLOSE && th->live == 0)
            break;
        if (th->phase == CV_BENCH_PH_CLOSE && now > th->close_deadline_ns)
            break; /* the server does not let go: the rest is torn down below */
        if (!th->tick_armed)
            arm_tick(th);
        rc = io_uring_submit_and_wait(&th->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
            th->fail_code = rc;
            snprintf(th->fail_note, sizeof th->fail_note, "io_uring: %s", strerror(-rc));
            break;
        }
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&th->ring, head, cqe)
        {
            handle_cqe(th, cqe);
            n++;
        }
        io_uring_cq_advance(&th->ring, n);
    }
out:
    /* Exiting the ring cancels whatever is still in flight; only then may the
       connections it referenced be freed. */
    if (th->ring_ready) {
        io_uring_queue_exit(&th->ring);
        th->ring_ready = 0;
    }
    for (unsigned i = 0; i < th->nslots; i++) {
        cv_bench_conn_t *c = th->slots[i];
        if (c) {
            c->inflight = 0;
            conn_free(c);
        }
    }
    publish(th);
#ifdef FP_ECC
    wc_ecc_fp_free(); /* this thread's wolfSSL ECC cache (Debian's build has one) */
#endif
    atomic_store_explicit(&th->pub.finished, 1, memory_order_release);
    return NULL;
}

int cv_bench_run_create(cv_bench_run_t **out, const cv_bench_opts_t *o, void *tls_ctx,
                        cv_bench_scram_cache_t *caches)
{
    cv_bench_run_t *r = calloc(1, sizeof *r);
    uint64_t seed = 0;
    int rc = 0;
    if (!r)
        return CV_ENOMEM;
    r->o = o;
    r->ops = cv__bench_scen_ops;
    r->ops.on_output = on_output;
    r->ccfg.opts = o;
    r->ccfg.tls_ctx = tls_ctx;
    r->ccfg.ops = &r->ops;
    r->nthreads = o->threads;
    uint8_t direct = o->direct < 0 ? direct_descriptors_safe() : (uint8_t)o->direct;
    r->nusers = o->users;
    r->rate = o->rate;
    r->count = o->count;
    r->caches = caches;
    atomic_init(&r->phase, CV_BENCH_PH_LOGIN);
    atomic_init(&r->phase_t0, cv_bench_now_ns());
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = cv_bench_now_ns();
    r->run_id = seed & 0xffffffffffffull;
    r->threads = aligned_alloc(64, sizeof *r->threads * r->nthreads);
    if (!r->threads) {
        rc = CV_ENOMEM;
        goto out;
    }
    memset(r->threads, 0, sizeof *r->threads * r->nthreads);
    for (unsigned i = 0; i < r->nthreads; i++) {
        cv_bench_thread_t *th = &r->threads[i];
        th->run = r;
        th->index = i;
        th->direct = direct;
        th->nslots = r->nusers / r->nthreads + (i < r->nusers % r->nthreads ? 1u : 0u);
        th->slots = calloc(th->nslots ? th->nslots : 1, sizeof *th->slots);
        th->reopen = calloc(th->nslots ? th->nslots : 1, sizeof *th->reopen);
        if (!th->slots || !th->reopen) {
            rc = CV_ENOMEM;
            goto out;
        }
        th->rng = (seed ^ (0x9e3779b97f4a7c15ull * (i + 1))) | 1u;
        cv_bench_hist_init(&th->hist_login);
        cv_bench_hist_init(&th->hist_lat);
    }
    *out = r;
    return 0;
out:
    cv_bench_run_destroy(r);
    return rc;
}

int cv_bench_run_start(cv_bench_run_t *r)
{
    atomic_store_explicit(&r->phase_t0, cv_bench_now_ns(), memory_order_relaxed);
    atomic_store_explicit(&r->phase, CV_BENCH_PH_LOGIN, memory_order_release);
    for (unsigned i = 0; i < r->nthreads; i++) {
        if (pthread_create(&r->threads[i].tid, NULL, thread_main, &r->threads[i]) != 0)
            return CV_ENOMEM;
        r->threads[i].started = 1;
    }
    return 0;
}

void cv_bench_run_set_phase(cv_bench_run_t *r, cv_bench_phase_t ph)
{
    atomic_store_explicit(&r->phase_t0, cv_bench_now_ns(), memory_order_relaxed);
    atomic_store_explicit(&r->phase, (int)ph, memory_order_release);
}

uint64_t cv_bench_run_sum(cv_bench_run_t *r, size_t off)
{
    uint64_t s = 0;
    for (unsigned i = 0; i < r->nthreads; i++)
        s += atomic_load_explicit((atomic_uint_fast64_t *)((char *)&r->threads[i].pub + off),
                                  memory_order_relaxed);
    return s;
}

int cv_bench_run_all(cv_bench_run_t *r, size_t off)
{
    for (unsigned i = 0; i < r->nthreads; i++)
        if (!atomic_load_explicit((atomic_int *)((char *)&r->threads[i].pub + off),
                                  memory_order_acquire))
            return 0;
    return 1;
}

void cv_bench_run_finish(cv_bench_run_t *r)
{
    cv_bench_run_set_phase(r, CV_BENCH_PH_CLOSE);
    for (unsigned i = 0; i < r->nthreads; i++) {
        if (r->threads[i].started) {
            pthread_join(r->threads[i].tid, NULL);
            r->threads[i].started = 0;
        }
    }
}

void cv_bench_run_destroy(cv_bench_run_t *r)
{
    if (!r)
        return;
    for (unsigned i = 0; r->threads && i < r->nthreads; i++) {
        cv_bench_thread_t *th = &r->threads[i];
        if (th->br)
            munmap(th->br, NBUFS * sizeof(struct io_uring_buf));
        free(th->bufs);
        free(th->slots);
        free(th->reopen);
    }
    free(r->threads);
    free(r);
}
