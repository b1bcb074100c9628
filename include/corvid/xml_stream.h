/*
 * corvid/xml_stream.h — incremental parsing of one XMPP stream into stanzas.
 *
 * Owns, per stream: a libxml2 push parser (SAX2) while the stream is busy, the namespace
 * declarations of the stream header (to rebuild the parser after it was dropped), a
 * scratch arena in which the stanza being received is built, and the limits. Each
 * complete first-level child of <stream:stream> is handed to the caller as an owned
 * cv_stanza_t (one exact-size block).
 *
 * Security (RFC 6120 §11.1): no DTD, no entity declarations or references other than the
 * five predefined ones and character references, no processing instructions other than
 * the XML declaration, no comments, no network access, no entity substitution; stanza
 * bytes, depth and attribute count are limited. Every violation ends the stream with a
 * stream error condition and never crashes, leaks or grows memory without bound.
 *
 * Threads: a stream belongs to the thread that owns its connection; no function may be
 * called concurrently on one stream, different streams are independent. Callbacks run
 * inside cv_xml_stream_feed on the calling thread and must not call feed, reset, trim or
 * destroy on their own stream (they return 1 or a negative value instead).
 * cv_xml_lib_init must run once on the main thread before worker threads start.
 */
#ifndef CORVID_XML_STREAM_H
#define CORVID_XML_STREAM_H

#include "corvid/core.h"
#include "corvid/stanza.h"
#include "corvid/xmpp.h"

/* Defaults used for limit fields left at 0. */
#define CV_XML_DEFAULT_MAX_STANZA_BYTES (256u * 1024u)
#define CV_XML_DEFAULT_MAX_DEPTH 48u
#define CV_XML_DEFAULT_MAX_ATTRS 64u

typedef struct cv_xml_limits_s {
    /* Raw bytes of one first-level element, tags included. Also bounds the stream header
     * and any run of bytes the parser holds between stanzas. */
    size_t max_stanza_bytes;
    /* Element depth inside a stanza; the stanza element itself is depth 1. */
    unsigned max_depth;
    /* Attributes plus namespace declarations on one element. */
    unsigned max_attrs;
} cv_xml_limits_t;

typedef struct cv_xml_stream_cb_s {
    void *ctx;
    /* <stream:stream ...> opened. attrs are the header's attributes (to, from, version,
     * id, xml:lang, ...), valid only during the call; ns_default is the default namespace
     * declared on it (e.g. jabber:client) or ""; ns_stream the namespace of the element
     * itself (the caller sends invalid-namespace unless it is CV_NS_STREAM). A root
     * element not named "stream" is refused by the parser with invalid-namespace before
     * this is called. Return <0 to stop. NULL: accept. */
    int (*on_stream_open)(void *ctx, const char *ns_stream, const char *ns_default,
                          const cv_xml_attr_t *attrs, uint32_t nattrs);
    /* A complete first-level child. Takes ownership of st whatever it returns. Return <0
     * to stop parsing (e.g. the caller closed the stream); return 1 to PAUSE: nothing more
     * is delivered and cv_xml_stream_feed returns with *consumed set to the bytes used up
     * to the end of this stanza, so the caller can restart the stream (STARTTLS, SASL
     * success) and feed the rest. Feeding the rest without a reset continues the same
     * stream. NULL: stanzas are freed. */
    int (*on_stanza)(void *ctx, cv_stanza_t *st);
    /* </stream:stream> received. Nothing after it is parsed. NULL allowed. */
    void (*on_stream_close)(void *ctx);
} cv_xml_stream_cb_t;

typedef struct cv_xml_stream_s cv_xml_stream_t;

/* Thread: main, once, before workers start (libxml2's global initialization is not
 * thread-safe). Returns 0. */
int cv_xml_lib_init(void);

/* Thread: connection owner. lim NULL or zero fields take the defaults; cb is copied.
 * Returns 0 or -CV_ENOMEM; *out is owned by the caller (cv_xml_stream_destroy). */
int cv_xml_stream_create(cv_xml_stream_t **out, const cv_xml_limits_t *lim,
                         const cv_xml_stream_cb_t *cb);

/*
 * Thread: connection owner. Parses len bytes, calling the callbacks. Returns 0 when all
 * bytes were used, when a callback paused, or when </stream:stream> ended the stream; in
 * every case *consumed (may be NULL) tells how many bytes were used. Errors:
 * -CV_EPROTO (the peer broke XML or XMPP framing rules), -CV_ELIMIT (a limit was passed)
 * or -CV_ENOMEM, with cv_xml_stream_error() telling the condition to send:
 *   not-well-formed, restricted-xml (DTD/DOCTYPE, entity declarations, entity references
 *   other than the five predefined and character references, processing instructions
 *   other than the XML declaration, comments), policy-violation (stanza bigger than
 *   max_stanza_bytes, deeper than max_depth, more than max_attrs attributes),
 *   bad-namespace-prefix (undeclared prefix), unsupported-encoding (non-UTF-8
 *   encoding declared or byte-order mark), invalid-xml (non-whitespace text between
 *   stanzas), invalid-namespace (root element not named "stream"),
 *   resource-constraint (out of memory).
 * The negative value a callback returned is returned as is (error stays CV_SE_NONE).
 * After an error or a stop the stream accepts only reset, trim and destroy (feed returns
 * the same code again); after </stream:stream> feed returns -CV_ECLOSED.
 */
int cv_xml_stream_feed(cv_xml_stream_t *s, const char *data, size_t len, size_t *consumed);

/* Thread: connection owner. The stream error condition of the last failure, or
 * CV_SE_NONE. */
cv_stream_err_t cv_xml_stream_error(const cv_xml_stream_t *s);

/* Thread: connection owner. Stream restart (RFC 6120 §4.3.3, after STARTTLS and SASL):
 * forgets all state and expects a new XML declaration / stream header. Also clears an
 * error. Returns 0. */
int cv_xml_stream_reset(cv_xml_stream_t *s);

/*
 * Thread: connection owner. When the connection is idle between stanzas, drops the
 * libxml2 context (~16 KB) and the scratch space, keeping only the header's namespace
 * declarations; the next feed rebuilds the context by parsing a synthetic stream header
 * first. Returns 0 (trimmed, or nothing to trim) or CV_AGAIN when the parser is inside a
 * stanza or holds part of one (trim again later).
 */
int cv_xml_stream_trim(cv_xml_stream_t *s);

/* Thread: connection owner. Approximate heap bytes held by the stream (the libxml2
 * context is counted by a measured estimate). */
size_t cv_xml_stream_memory(const cv_xml_stream_t *s);

/* Thread: connection owner. NULL allowed. Not from inside a callback. */
void cv_xml_stream_destroy(cv_xml_stream_t *s);

#endif
