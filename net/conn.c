/*
 * A connection's life on its ring: input (through TLS when active), the output queue with
 * one send per loop turn, and teardown. Everything here runs on the owning ring thread.
 *
 * Output is double-buffered: `out` collects what the protocol layer writes during a loop
 * turn; at the end of the turn it is swapped with `sending` and handed to the kernel in
 * one send. While that send is in flight, new output collects in `out` again, so stanzas
 * leave in the order they were written and the kernel never sees a buffer we modify.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "corvid/clock.h"
#include "corvid/log.h"
#include "net_int.h"

/* Output buffers are released as soon as they are empty, so an idle connection holds
   none; a busy one pays a malloc per send, not per stanza. */
#define CV_NET_KEEP_BUF 0u

struct io_uring_sqe *cv__net_sqe(cv_worker_t *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
    if (!sqe) {
        /* The submission queue is full: hand it to the kernel and take a fresh slot. */
        io_uring_submit(&w->ring);
        sqe = io_uring_get_sqe(&w->ring);
    }
    CV_ASSERT(sqe != NULL);
    return sqe;
}

void cv_net_conn_set_user(cv_conn_t *c, void *user)
{
    c->user = user;
}

void *cv_net_conn_user(const cv_conn_t *c)
{
    return c->user;
}

cv_worker_t *cv_net_conn_worker(const cv_conn_t *c)
{
    return c->w;
}

int cv_net_conn_is_tls(const cv_conn_t *c)
{
    return c->tls != NULL;
}

cv_tls_conn_t *cv_net_conn_tls(const cv_conn_t *c)
{
    return c->tls;
}

const char *cv_net_conn_peer(const cv_conn_t *c)
{
    cv_worker_t *w = c->w;
    if (!inet_ntop(c->family, c->addr, w->peer_text, sizeof w->peer_text))
        strcpy(w->peer_text, "?");
    return w->peer_text;
}

int cv_net_conn_peer_is_loopback(const cv_conn_t *c)
{
    static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (c->family == AF_INET)
        return c->addr[0] == 127;
    return memcmp(c->addr, v6_loopback, 16) == 0;
}

int cv_net_conn_is_busy(const cv_conn_t *c)
{
    return c->active && c->was_active;
}

size_t cv_net_conn_memory(const cv_conn_t *c)
{
    return sizeof *c + c->out.cap + c->sending.cap;
}

void cv_net_conn_set_deadline(cv_conn_t *c, unsigned ms)
{
    c->deadline_ms = ms ? cv_clock_ms() + ms : 0;
}

void cv__net_conn_mark_dirty(cv_conn_t *c)
{
    if (c->dirty)
        return;
    c->dirty = 1;
    c->dirty_next = c->w->dirty;
    c->w->dirty = c;
}

/* Moves ciphertext produced by TLS (handshake records, encrypted output) to `out`. */
static int conn_take_cipher(cv_conn_t *c)
{
    cv_buf_t *cipher = cv_tls_conn_cipher_out(c->tls);
    int rc = 0;
    if (cipher->len == 0)
        return 0;
    if (c->out.len == 0 && c->out.cap <= cipher->cap) {
        /* Nothing queued yet: swap buffers instead of copying. */
        cv_buf_t tmp = c->out;
        c->out = *cipher;
        *cipher = tmp;
        cv_buf_clear(cipher);
    } else {
        rc = cv_buf_append(&c->out, cipher->data, cipher->len);
        cv_buf_clear(cipher);
    }
    cv__net_conn_mark_dirty(c);
    return rc;
}

int cv_net_conn_write(cv_conn_t *c, const void *data, size_t len)
{
    size_t limit = c->w->net->opts.config->max_output_queue;
    int rc;
    if (c->peer_gone)
        return CV_ECLOSED;
    if (c->out.len + len > limit)
        return CV_ELIMIT;
    if (c->tls) {
        c->trimmed = 0;
        rc = cv_tls_conn_write(c->tls, data, len);
        if (rc == 0)
            rc = conn_take_cipher(c);
    } else {
        rc = cv_buf_append(&c->out, data, len);
        cv__net_conn_mark_dirty(c);
    }
    return rc;
}

int cv_net_conn_write_pieces(cv_conn_t *c, const cv_net_piece_t *pieces, size_t n)
{
    size_t limit = c->w->net->opts.config->max_output_queue;
    size_t total = 0;
    int rc = 0;

    if (c->peer_gone)
        return CV_ECLOSED;
    for (size_t i = 0; i < n; i++)
        total += pieces[i].len;
    if (c->out.len + total > limit)
        return CV_ELIMIT;
    if (!c->tls) {
        rc = cv_buf_reserve(&c->out, total); /* then no append below can fail */
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = cv_buf_append(&c->out, pieces[i].data, pieces[i].len);
        cv__net_conn_mark_dirty(c);
        return rc;
    }
    if (n == 1)
        return cv_net_conn_write(c, pieces[0].data, pieces[0].len);
    /* One record rather than one per piece: join them in the worker's scratch buffer. */
    cv_buf_clear(&c->w->joined);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = cv_buf_append(&c->w->joined, pieces[i].data, pieces[i].len);
    if (rc == 0)
        rc = cv_net_conn_write(c, c->w->joined.data, c->w->joined.len);
    if (c->w->joined.cap > 64u * 1024u)
        cv_buf_free(&c->w->joined); /* one big stanza must not pin its size for good */
    return rc;
}

int cv_net_conn_start_tls(cv_conn_t *c)
{
    cv_tls_ctx_t *ctx = c->w->net->opts.tls;
    if (c->tls)
        return CV_EPROTO;
    if (!ctx)
        return CV_EUNSUPP;
    return cv_tls_conn_create(&c->tls, ctx);
}

void cv_net_conn_close(cv_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->tls && !c->peer_gone && cv_tls_conn_shutdown(c->tls) == 0)
        (void)conn_take_cipher(c);
    cv__net_conn_mark_dirty(c);
}

void cv__net_conn_fail(cv_conn_t *c)
{
    c->peer_gone = 1;
    c->closing = 1;
    cv_buf_free(&c->out);
    cv__net_conn_mark_dirty(c);
}

void cv__net_conn_input(cv_conn_t *c, const char *data, size_t len)
{
    cv_worker_t *w = c->w;
    const cv_net_ops_t *ops = &w->net->opts.ops;
    int rc;

    if (c->closing)
        return;
    c->active = 1;
    c->quiet = 0;
    c->trimmed = 0;
    if (!c->tls) {
        if (ops->on_data(c, data, len) < 0 && !c->closing)
            cv_net_conn_close(c);
        return;
    }
    rc = cv_tls_conn_feed(c->tls, (const uint8_t *)data, len);
    if (rc == 0) {
        cv_buf_clear(&w->plain);
        rc = cv_tls_conn_read(c->tls, &w->plain);
    }
    /* Handshake records and alerts must leave even when reading failed. */
    if (conn_take_cipher(c) < 0 && rc == 0)
        rc = CV_ENOMEM;
    if (rc < 0) {
        cv_debug("conn %s: TLS: %s", cv_net_conn_peer(c), cv_strerror(rc));
        c->closing = 1; /* flush the alert, if any, then close */
        cv__net_conn_mark_dirty(c);
        return;
    }
    if (w->plain.len > 0 && ops->on_data(c, w->plain.data, w->plain.len) < 0 && !c->closing)
        cv_net_conn_close(c);
    if (w->plain.cap > 65536)
        cv_buf_free(&w->plain);
}

static void conn_submit_send(cv_conn_t *c)
{
    struct io_uring_sqe *sqe = cv__net_sqe(c->w);
    io_uring_prep_send(sqe, c->fd, c->sending.data + c->sent, c->sending.len - c->sent,
                       MSG_NOSIGNAL);
    cv__net_sqe_file(sqe, c);
    io_uring_sqe_set_data64(sqe, cv__net_ud(c, CV_OP_SEND));
    c->send_inflight = 1;
    c->inflight++;
}

/* The output asked about (cv_net_conn_notify_drained) has left. */
static void conn_drained(cv_conn_t *c)
{
    c->want_drained = 0;
    c->drain_armed = 0;
    if (!c->closing && !c->peer_gone)
        c->w->net->opts.ops.on_drained(c);
}

void cv__net_conn_on_send(cv_conn_t *c, int res)
{
    c->inflight--;
    c->send_inflight = 0;
    if (res < 0) {
        if (!c->peer_gone)
            cv_debug("conn %s: send: %s", cv_net_conn_peer(c), strerror(-res));
        cv__net_conn_fail(c);
        return;
    }
    c->sent += (size_t)res;
    if (c->sent < c->sending.len && !c->peer_gone) {
        conn_submit_send(c); /* the kernel took part of it: send the rest, in order */
        return;
    }
    c->sent = 0;
    cv_buf_clear(&c->sending);
    if (c->sending.cap > CV_NET_KEEP_BUF)
        cv_buf_free(&c->sending);
    /* What was queued before the request has been taken by the kernel. Live traffic to a
       busy connection may never leave `out` empty, hence a quarter of the limit rather
       than nothing. */
    if (c->want_drained && c->drain_armed &&
        c->out.len <= c->w->net->opts.config->max_output_queue / 4)
        conn_drained(c);
    if (c->out.len > 0 || c->closing)
        cv__net_conn_mark_dirty(c);
}

void cv_net_conn_notify_drained(cv_conn_t *c)
{
    c->want_drained = 1;
    /* Nothing queued: the bytes before the request are in the send in flight, if any. */
    c->drain_armed = c->out.len == 0;
    cv__net_conn_mark_dirty(c); /* with nothing queued or in flight, the flush tells */
}

/* Output is flushed and the connection is closing: stop the socket in both directions,
   which also ends the multishot recv. A shutdown rather than a cancel, so the peer gets
   our last bytes and a FIN, not a reset. */
void cv__net_conn_shutdown_socket(cv_conn_t *c)
{
    struct io_uring_sqe *sqe;
    if (c->shut)
        return;
    c->shut = 1;
    sqe = cv__net_sqe(c->w);
    io_uring_prep_shutdown(sqe, c->fd, SHUT_RDWR);
    cv__net_sqe_file(sqe, c);
    io_uring_sqe_set_data64(sqe, cv__net_ud(c, CV_OP_SHUTDOWN));
    c->inflight++;
}

void cv__net_conn_on_shutdown(cv_conn_t *c, int res)
{
    c->inflight--;
    if (res < 0 && res != -ENOTCONN)
        cv_debug("conn %s: shutdown: %s", cv_net_conn_peer(c), strerror(-res));
    cv__net_conn_maybe_free(c);
}

static void conn_flush_one(cv_conn_t *c)
{
    if (c->send_inflight)
        return; /* the send completion marks it dirty again */
    if (c->want_drained && c->out.len == 0)
        conn_drained(c); /* may queue output: sent below */
    if (c->out.len > 0 && !c->peer_gone) {
        cv_buf_t tmp = c->sending;
        c->sending = c->out;
        c->out = tmp;
        c->sent = 0;
        c->drain_armed |= c->want_drained; /* this send carries what came before the ask */
        conn_submit_send(c);
        if (c->out.cap > CV_NET_KEEP_BUF)
            cv_buf_free(&c->out);
        return;
    }
    if (c->closing) {
        cv__net_conn_shutdown_socket(c);
        cv__net_conn_maybe_free(c);
    }
}

void cv__net_flush(cv_worker_t *w)
{
    while (w->dirty) {
        cv_conn_t *c = w->dirty;
        w->dirty = c->dirty_next;
        c->dirty = 0;
        c->dirty_next = NULL;
        conn_flush_one(c);
    }
}

static void conn_unlink(cv_conn_t *c)
{
    cv_worker_t *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
}

/* Closes c's socket: no operation references it any more. With direct descriptors,
   emptying the slot drops the table's reference and the slot is free again; once the
   ring is gone, its table went with it. */
static void conn_release_socket(cv_conn_t *c)
{
    cv_worker_t *w = c->w;
    int empty = -1, rc;

    if (!w->direct) {
        if (close(c->fd) < 0)
            cv_debug("close: %s", strerror(errno));
        return;
    }
    if (w->ring_ready) {
        rc = io_uring_register_files_update(&w->ring, (unsigned)c->fd, &empty, 1);
        if (rc < 0)
            cv_warn("conn %s: releasing socket slot %d: %s", cv_net_conn_peer(c), c->fd,
                    strerror(-rc));
    }
    w->free_slots[w->nfree++] = (unsigned)c->fd;
}

static void conn_free(cv_conn_t *c)
{
    const cv_net_ops_t *ops = &c->w->net->opts.ops;
    ops->on_close(c);
    conn_unlink(c);
    conn_release_socket(c);
    if (c->tls)
        cv_tls_conn_free(c->tls);
    cv_buf_free(&c->out);
    cv_buf_free(&c->sending);
    if (c->held)
        cv_buf_free(&c->held->bytes);
    free(c->held);
    free(c);
}

void cv__net_conn_maybe_free(cv_conn_t *c)
{
    /* A dirty connection is still on the dirty list: free it when that entry is handled. */
    if (!c->closing || c->inflight > 0 || c->dirty)
        return;
    if (!c->shut) {
        cv__net_conn_shutdown_socket(c);
        if (c->inflight > 0)
            return;
    }
    conn_free(c);
}

void cv__net_conn_free_all(cv_worker_t *w)
{
    /* The ring is gone: no SQE references any connection any more. */
    while (w->conns) {
        cv_conn_t *c = w->conns;
        c->inflight = 0;
        conn_free(c);
    }
}
