/*
 * libFuzzer target for the XMPP stream parser.
 *
 * The first input byte chooses where the rest is split in two feeds (low 7 bits) and
 * whether every stanza pauses the parser (high bit), so the rebuild path runs too; the
 * stream is trimmed between the two feeds. Every stanza is serialized and the result
 * re-parsed by a second stream: it must parse and serialize to the same bytes, or the
 * target aborts. Leaks are reported by the sanitizer.
 */
#include <stdint.h>
#include <string.h>

#include "corvid/buf.h"
#include "corvid/xml_stream.h"

#define HDR                                                                                        \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "        \
    "xmlns:db='jabber:server:dialback' to='example.com' version='1.0'>"

typedef struct fz_s {
    int pause;
    int check; /* 0 in the checking stream itself */
    cv_buf_t *out;
    int n;
} fz_t;

static int on_stanza(void *ctx, cv_stanza_t *st);

static void check_round_trip(const cv_buf_t *ser)
{
    /* Serialization may add namespace declarations and escapes: looser limits. */
    cv_xml_limits_t lim = {1 << 20, 32, 65};
    cv_buf_t again = CV_BUF_INIT;
    fz_t f = {0, 0, &again, 0};
    cv_xml_stream_cb_t cb = {&f, NULL, on_stanza, NULL};
    cv_xml_stream_t *s = NULL;
    size_t used = 0;
    if (cv_xml_stream_create(&s, &lim, &cb) < 0)
        abort();
    int rc = cv_xml_stream_feed(s, HDR, strlen(HDR), &used);
    if (rc == 0)
        rc = cv_xml_stream_feed(s, ser->data, ser->len, &used);
    if (rc != 0 || f.n != 1 || again.len != ser->len || memcmp(again.data, ser->data, ser->len)) {
        fprintf(stderr, "round trip failed (rc %d, %s, %d stanzas):\n%s\n%s\n", rc,
                cv_stream_err_name(cv_xml_stream_error(s)), f.n, ser->data,
                again.data ? again.data : "");
        abort();
    }
    cv_xml_stream_destroy(s);
    cv_buf_free(&again);
}

static int on_stanza(void *ctx, cv_stanza_t *st)
{
    fz_t *f = ctx;
    cv_buf_t local = CV_BUF_INIT;
    cv_buf_t *out = f->out ? f->out : &local;
    f->n++;
    if (cv_xml_serialize(cv_stanza_root(st), "jabber:client", out) < 0)
        abort();
    cv_stanza_free(st);
    if (f->check)
        check_round_trip(out);
    cv_buf_free(&local);
    return f->pause ? 1 : 0;
}

/* Feeds all of data, going on after pauses; stops at an error or the stream's end. */
static int feed_all(cv_xml_stream_t *s, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t used = 0;
        int rc = cv_xml_stream_feed(s, data + off, len - off, &used);
        if (rc < 0)
            return rc;
        if (used == 0)
            return 0;
        off += used;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fz_t f = {data[0] & 0x80, 1, NULL, 0};
    size_t split = (size_t)(data[0] & 0x7f) * (size - 1) / 127;
    const char *in = (const char *)data + 1;
    size -= 1;

    cv_xml_limits_t lim = {65536, 32, 32};
    cv_xml_stream_cb_t cb = {&f, NULL, on_stanza, NULL};
    cv_xml_stream_t *s = NULL;
    size_t used = 0;
    if (cv_xml_stream_create(&s, &lim, &cb) < 0)
        abort();
    if (cv_xml_stream_feed(s, HDR, strlen(HDR), &used) != 0)
        abort();
    int rc = feed_all(s, in, split);
    if (rc == 0) {
        rc = cv_xml_stream_trim(s);
        if (rc != 0 && rc != CV_AGAIN)
            abort();
        feed_all(s, in + split, size - split);
    }
    if (cv_xml_stream_memory(s) > 16u << 20)
        abort();
    cv_xml_stream_destroy(s);
    return 0;
}
