/*
 * The network layer on its own, with an echo protocol instead of XMPP: bytes come back in
 * order, a connection that keeps sending is reported busy (cv_net_conn_is_busy), a quiet
 * one gets on_quiet once per quiet spell and never while it sends, and a peer that goes
 * away gets on_close, and on_drained paces a writer with more to send than the output
 * queue holds: it runs only once the kernel took what was queued, so a peer that stops
 * reading stops the writer instead of overflowing the queue; a task one ring posts to
 * another runs there promptly (the wake-up reaches the other ring); a timer runs on its
 * ring once its delay has passed, and from cv_net_drain if the ring stopped first. The
 * layer's tick is one second,
 * so the waits here are seconds; each one polls with a generous deadline rather than assuming a
 * schedule.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "corvid/clock.h"
#include "corvid/config.h"
#include "corvid/net.h"
#include "check.h"

typedef struct counters_s {
    atomic_int opens, closes, quiets;
    atomic_int busy_reads, calm_reads; /* on_data calls with the connection busy / not */
    atomic_size_t bytes;
    atomic_int drains;            /* on_drained calls */
    atomic_int chunks;            /* CHUNK-byte parts written by the "BIG" stream */
    atomic_int overflow;          /* a write of the stream was refused */
    atomic_int hops, hops_astray; /* cross-ring tasks run, and run on the wrong ring */
    atomic_size_t fresh_mem;      /* cv_net_conn_memory of a connection with nothing queued */
    atomic_size_t drained_mem;    /* ... at the last on_drained */
    cv_net_t *net;                /* set before the rings start */
} counters_t;

/* "STALL" queues STALL_BYTES (more than the kernel takes while the peer does not read, so
   their send stays in flight; the nets here allow 16 MiB of output); "PROBE" then queues
   PROBE_BYTES and asks for on_drained. */
#define STALL_BYTES (12u * 1024u * 1024u)
#define PROBE_BYTES 1000u

/* "BIG" asks for a stream of BIG_CHUNKS parts of CHUNK bytes, each written once the one
   before has left (on_drained); byte i of the stream is (i % 251). */
#define CHUNK (512u * 1024u)
#define BIG_CHUNKS 40

static void write_chunk(cv_conn_t *c, counters_t *n)
{
    static unsigned char part[CHUNK];
    size_t start = (size_t)atomic_load(&n->chunks) * CHUNK;
    for (size_t i = 0; i < CHUNK; i++)
        part[i] = (unsigned char)((start + i) % 251);
    if (cv_net_conn_write(c, part, CHUNK) != 0) {
        atomic_fetch_add(&n->overflow, 1);
        return;
    }
    atomic_fetch_add(&n->chunks, 1);
    cv_net_conn_notify_drained(c);
}

static void on_drained(cv_conn_t *c)
{
    counters_t *n = cv_net_conn_user(c);
    atomic_store(&n->drained_mem, cv_net_conn_memory(c));
    atomic_fetch_add(&n->drains, 1);
    if (atomic_load(&n->chunks) > 0 && atomic_load(&n->chunks) < BIG_CHUNKS)
        write_chunk(c, n);
}

static int on_open(cv_conn_t *c, const cv_conf_listener_t *l, void *arg)
{
    (void)l;
    counters_t *n = arg;
    cv_net_conn_set_user(c, n);
    atomic_store(&n->fresh_mem, cv_net_conn_memory(c));
    atomic_fetch_add(&n->opens, 1);
    return 0;
}

/* "HOP" (on the two-worker net) makes the receiving ring post a task to the other ring,
   as the router does with a stanza for a session there; the task records where it ran.
   Each hop is its own allocation: the rings share nothing but the counters. */
typedef struct hop_s {
    cv_net_task_t task;
    cv_worker_t *to;
    counters_t *n;
} hop_t;

static void hop_run(cv_net_task_t *t, cv_worker_t *w)
{
    hop_t *h = (hop_t *)((char *)t - offsetof(hop_t, task));
    if (w != h->to)
        atomic_fetch_add(&h->n->hops_astray, 1);
    atomic_fetch_add(&h->n->hops, 1);
    free(h);
}

static void hop_post(cv_conn_t *c, counters_t *n)
{
    cv_worker_t *self = cv_net_conn_worker(c);
    hop_t *h = malloc(sizeof *h);
    if (!h)
        return;
    h->n = n;
    h->to = cv_net_worker(n->net, 1 - cv_net_worker_index(self));
    h->task.run = hop_run;
    cv_net_post(self, h->to, &h->task);
}

static int on_data(cv_conn_t *c, const char *data, size_t len)
{
    counters_t *n = cv_net_conn_user(c);
    atomic_fetch_add(cv_net_conn_is_busy(c) ? &n->busy_reads : &n->calm_reads, 1);
    atomic_fetch_add(&n->bytes, len);
    if (len == 3 && memcmp(data, "BIG", 3) == 0) {
        write_chunk(c, n);
        return 0;
    }
    if (len == 3 && memcmp(data, "HOP", 3) == 0) {
        hop_post(c, n);
        return 0;
    }
    if (len == 5 && memcmp(data, "STALL", 5) == 0) {
        static char a[STALL_BYTES];
        memset(a, 'a', sizeof a);
        return cv_net_conn_write(c, a, sizeof a) == 0 ? 0 : -1;
    }
    if (len == 5 && memcmp(data, "PROBE", 5) == 0) {
        static const char b[PROBE_BYTES] = {'b'};
        if (cv_net_conn_write(c, b, sizeof b) != 0)
            return -1;
        cv_net_conn_notify_drained(c);
        return 0;
    }
    if (len == 3 && memcmp(data, "NOW", 3) == 0) {
        cv_net_conn_notify_drained(c); /* nothing queued: due at once */
        return 0;
    }
    return cv_net_conn_write(c, data, len) == 0 ? 0 : -1;
}

static void on_close(cv_conn_t *c)
{
    counters_t *n = cv_net_conn_user(c);
    atomic_fetch_add(&n->closes, 1);
}

static void on_quiet(cv_conn_t *c)
{
    counters_t *n = cv_net_conn_user(c);
    atomic_fetch_add(&n->quiets, 1);
}

static void on_nothing(cv_conn_t *c)
{
    (void)c;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Waits up to secs for *v to reach want; returns whether it did. */
static int wait_for(atomic_int *v, int want, double secs)
{
    double end = now_s() + secs;
    while (atomic_load(v) < want && now_s() < end)
        sleep_ms(10);
    return atomic_load(v) >= want;
}

/* A port nothing listens on right now (the kernel's choice for port 0). */
static unsigned free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    unsigned port = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int connect_to(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* A fixed receive buffer (no autotuning): what the kernel can hold for a peer that
       does not read stays far below the 20 MiB of test_drained's stream. */
    int rcvbuf = 256 * 1024;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends text and reads the same bytes back (5 s at most); returns whether they came. */
static int echo(int fd, const char *text)
{
    size_t len = strlen(text), got = 0;
    char buf[256];
    if (len > sizeof buf || send(fd, text, len, MSG_NOSIGNAL) != (ssize_t)len)
        return 0;
    double end = now_s() + 5.0;
    while (got < len && now_s() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, buf + got, len - got, 0);
        if (r <= 0)
            return 0;
        got += (size_t)r;
    }
    return got == len && memcmp(buf, text, len) == 0;
}

static void test_echo_quiet_busy(cv_net_t *net, unsigned port, counters_t *n)
{
    (void)net;
    int fd = connect_to(port);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(wait_for(&n->opens, 1, 5.0));

    /* One burst: not busy (nothing came in the tick window before). */
    CHECK(echo(fd, "hello"));
    CHECK(atomic_load(&n->calm_reads) >= 1);
    CHECK(atomic_load(&n->busy_reads) == 0);

    /* Quiet for a whole tick: on_quiet, once, however long the quiet lasts. */
    CHECK(wait_for(&n->quiets, 1, 6.0));
    sleep_ms(2500);
    CHECK(atomic_load(&n->quiets) == 1);

    /* Sending every 100 ms for 3 s: busy from the second tick window on, never quiet. */
    double end = now_s() + 3.0;
    int echoed = 1;
    while (now_s() < end) {
        echoed &= echo(fd, "tick");
        sleep_ms(100);
    }
    CHECK(echoed);
    CHECK(atomic_load(&n->busy_reads) > 0);
    CHECK(atomic_load(&n->quiets) == 1);

    /* Quiet again: a second on_quiet. */
    CHECK(wait_for(&n->quiets, 2, 6.0));
    CHECK(atomic_load(&n->closes) == 0);

    close(fd);
    CHECK(wait_for(&n->closes, 1, 5.0));
}

/* Reads the whole "BIG" stream (checking every byte) and returns whether it all came. */
static int read_stream(int fd)
{
    static unsigned char buf[65536];
    size_t want = (size_t)BIG_CHUNKS * CHUNK, got = 0;
    double end = now_s() + 30.0;
    while (got < want && now_s() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0)
            return 0;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != (unsigned char)((got + (size_t)i) % 251))
                return 0;
        got += (size_t)r;
    }
    return got == want;
}

static void test_drained(unsigned port, counters_t *n)
{
    int fd = connect_to(port);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(wait_for(&n->opens, 2, 5.0));

    /* Nothing queued: on_drained comes at once. */
    CHECK(send(fd, "NOW", 3, MSG_NOSIGNAL) == 3);
    CHECK(wait_for(&n->drains, 1, 5.0));

    /* 20 MiB asked for while the peer does not read: the kernel's buffers fill, then the
       writer is held back (no more drains) instead of the queue overflowing. */
    CHECK(send(fd, "BIG", 3, MSG_NOSIGNAL) == 3);
    sleep_ms(1000);
    int held = atomic_load(&n->drains);
    sleep_ms(500);
    CHECK(atomic_load(&n->drains) == held);
    CHECK(atomic_load(&n->chunks) < BIG_CHUNKS);
    CHECK(atomic_load(&n->overflow) == 0);

    /* Reading lets it all through, in order. */
    CHECK(read_stream(fd));
    CHECK(atomic_load(&n->chunks) == BIG_CHUNKS);
    CHECK(atomic_load(&n->overflow) == 0);
    CHECK(atomic_load(&n->closes) == 1);
    close(fd);
    CHECK(wait_for(&n->closes, 2, 5.0));
}

/* A request made while an earlier send is still in flight is answered only once the bytes
   queued with the request have left too, not when that earlier send completes (then they
   would still sit in the output queue). */
static void test_drained_after_earlier_output(unsigned port, counters_t *n)
{
    static char buf[65536];
    size_t want = STALL_BYTES + PROBE_BYTES, got = 0;
    int fd = connect_to(port);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    int opens = atomic_load(&n->opens);
    CHECK(send(fd, "STALL", 5, MSG_NOSIGNAL) == 5);
    sleep_ms(300);
    int drains = atomic_load(&n->drains);
    CHECK(send(fd, "PROBE", 5, MSG_NOSIGNAL) == 5);
    sleep_ms(300);
    CHECK(atomic_load(&n->drains) == drains); /* nothing has left: not yet */
    double end = now_s() + 10.0;
    while (got < want && now_s() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    CHECK(got == want);
    CHECK(wait_for(&n->drains, drains + 1, 5.0));
    /* Nothing queued and no send in flight when it ran. */
    CHECK(atomic_load(&n->drained_mem) == atomic_load(&n->fresh_mem));
    CHECK(opens >= 1);
    close(fd);
}

/* Each hop must run on the other ring well before that ring's one-second tick would have
   drained its inbox anyway: a lost wake-up shows as a hop that waits for the tick. */
static void test_cross_ring_post(unsigned port, counters_t *n)
{
    int fd = connect_to(port);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    for (int i = 1; i <= 20; i++) {
        CHECK(send(fd, "HOP", 3, MSG_NOSIGNAL) == 3);
        if (!wait_for(&n->hops, i, 0.5)) {
            CHECK(!"a task posted to the other ring did not run within 0.5 s");
            break;
        }
        sleep_ms(20); /* let the other ring fall asleep again */
    }
    CHECK(atomic_load(&n->hops_astray) == 0);
    close(fd);
}

/* Timers (cv_net_timer_arm): armed on ring 0 by a task posted from this thread. */
typedef struct timer_probe_s {
    cv_net_timer_t timer;
    cv_worker_t *ring;        /* where it must run */
    unsigned delay_ms;        /* each arming's delay */
    int rearm;                /* arm again from run, this many times */
    uint64_t armed_ms;        /* when it was last armed */
    _Atomic uint64_t late_ms; /* how long after its due time the last run came */
    atomic_int runs, early, astray, stopped_runs;
} timer_probe_t;

static void probe_arm(timer_probe_t *p, cv_worker_t *w);

static void probe_run(cv_net_task_t *t, cv_worker_t *w)
{
    timer_probe_t *p = (timer_probe_t *)((char *)t - offsetof(timer_probe_t, timer.task));
    uint64_t now = cv_clock_ms();
    if (w != p->ring)
        atomic_fetch_add(&p->astray, 1);
    if (now < p->armed_ms + p->delay_ms)
        atomic_fetch_add(&p->early, 1);
    atomic_store(&p->late_ms, now - (p->armed_ms + p->delay_ms));
    if (cv_net_worker_stopped(w))
        atomic_fetch_add(&p->stopped_runs, 1);
    atomic_fetch_add(&p->runs, 1);
    if (p->rearm-- > 0)
        probe_arm(p, w);
}

static void probe_arm(timer_probe_t *p, cv_worker_t *w)
{
    p->armed_ms = cv_clock_ms();
    p->timer.task.run = probe_run;
    cv_net_timer_arm(w, &p->timer, p->delay_ms);
}

typedef struct arm_task_s {
    cv_net_task_t task;
    timer_probe_t *probes;
    size_t n;
} arm_task_t;

static void arm_all(cv_net_task_t *t, cv_worker_t *w)
{
    arm_task_t *a = (arm_task_t *)((char *)t - offsetof(arm_task_t, task));
    for (size_t i = 0; i < a->n; i++)
        probe_arm(&a->probes[i], w);
}

/* A timer runs on its ring, never before its delay and within about a tick after it; one
   that re-arms itself from its run waits for the next tick each time (it cannot spin the
   tick's loop); one still armed when the ring stops runs from cv_net_drain, which tells it
   the ring has stopped. Runs the stop itself. */
static void test_timers_then_stop(cv_net_t *net)
{
    cv_worker_t *ring = cv_net_worker(net, 0);
    timer_probe_t p[4] = {
        {.delay_ms = 1500}, /* runs at the second or third tick */
        {.delay_ms = 0},    /* the next tick */
        {.delay_ms = 0, .rearm = 2},
        {.delay_ms = 600000}, /* still armed at the stop */
    };
    arm_task_t a = {.probes = p, .n = 4};

    for (size_t i = 0; i < 4; i++)
        p[i].ring = ring;
    a.task.run = arm_all;
    cv_net_post(NULL, ring, &a.task);
    CHECK(wait_for(&p[0].runs, 1, 4.0));
    CHECK(wait_for(&p[2].runs, 3, 5.0));
    CHECK(atomic_load(&p[1].runs) == 1);
    CHECK(atomic_load(&p[2].runs) == 3); /* re-armed twice, then done */
    CHECK(atomic_load(&p[3].runs) == 0);
    for (size_t i = 0; i < 3; i++) {
        CHECK(atomic_load(&p[i].early) == 0);
        CHECK(atomic_load(&p[i].astray) == 0);
        CHECK(atomic_load(&p[i].stopped_runs) == 0);
        CHECK(atomic_load(&p[i].late_ms) <= 2500);
    }
    cv_net_stop(net);
    CHECK(atomic_load(&p[3].runs) == 0);
    (void)cv_net_drain(net);
    CHECK(atomic_load(&p[3].runs) == 1);
    CHECK(atomic_load(&p[3].stopped_runs) == 1);
}

static cv_net_t *start_net(cv_config_t **cfg, unsigned port, unsigned workers, counters_t *n)
{
    cv_buf_t err = CV_BUF_INIT;
    cv_net_t *net = NULL;
    char text[512];

    snprintf(text, sizeof text,
             "hosts:\n  - name: localhost\n"
             "listeners:\n  - type: c2s\n    address: 127.0.0.1\n    port: %u\n    tls: none\n"
             "workers: %u\n"
             "limits:\n  max_output_queue: 16MiB\n",
             port, workers);
    if (cv_config_load_mem(cfg, "t.yml", text, strlen(text), NULL, 0, &err) != 0) {
        printf("FAIL config: %s\n", err.data ? err.data : "?");
        failures++;
        goto out;
    }
    cv_net_opts_t opts = {.config = *cfg, .tls = NULL};
    opts.ops.on_open = on_open;
    opts.ops.on_data = on_data;
    opts.ops.on_close = on_close;
    opts.ops.on_timeout = on_nothing;
    opts.ops.on_shutdown = on_nothing;
    opts.ops.on_quiet = on_quiet;
    opts.ops.on_drained = on_drained;
    opts.ops.arg = n;
    CHECK_RC(cv_net_create(&net, &opts), 0);
    if (net)
        n->net = net;
    if (net && cv_net_start(net) != 0) {
        CHECK(!"cv_net_start failed");
        cv_net_destroy(net);
        net = NULL;
    }
out:
    cv_buf_free(&err);
    return net;
}

int main(void)
{
    counters_t n, n2;
    cv_config_t *cfg = NULL, *cfg2 = NULL;
    unsigned port = free_port(), port2 = free_port();

    memset(&n, 0, sizeof n);
    memset(&n2, 0, sizeof n2);
    CHECK(port != 0 && port2 != 0);
    cv_net_t *net = start_net(&cfg, port, 1, &n);
    if (net) {
        test_echo_quiet_busy(net, port, &n);
        test_drained(port, &n);
        test_drained_after_earlier_output(port, &n);
        cv_net_stop(net);
        (void)cv_net_drain(net);
        cv_net_destroy(net);
    }
    cv_net_t *net2 = start_net(&cfg2, port2, 2, &n2);
    if (net2) {
        test_cross_ring_post(port2, &n2);
        test_timers_then_stop(net2);
        (void)cv_net_drain(net2);
        cv_net_destroy(net2);
    }
    cv_config_free(cfg);
    cv_config_free(cfg2);
    if (failures == 0)
        printf("test_net: ok\n");
    return failures ? 1 : 0;
}
