/*
 * XMPP stream parsing on libxml2's SAX2 push parser.
 *
 * Positions. libxml2 reports no byte offsets to SAX callbacks, but its input cursor is
 * exact for UTF-8 input (the only input accepted past the stream header): the bytes it
 * has used are input->consumed + (input->cur - input->base). When an end tag's callback
 * runs, the cursor is just past the '>', so a pause or a stream close can report exactly
 * how many bytes the caller may drop. All positions below count bytes given to the
 * current libxml2 context, synthetic header included.
 *
 * Bounded memory. Input is handed to libxml2 in slices of FEED_SLICE bytes; after each
 * slice the bytes fed since the current stanza began (or, between stanzas, since the
 * last complete event) are checked against max_stanza_bytes, so a giant text node or
 * start tag is cut off after at most one slice beyond the limit. libxml2 interns every
 * element and attribute name in a per-context dictionary that never shrinks; the
 * context is therefore rebuilt at a stanza boundary once the dictionary or the input
 * buffer has grown (REBUILD_*), exactly as after cv_xml_stream_trim.
 */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/dict.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include "corvid/buf.h"
#include "corvid/xml_stream.h"

#define FEED_SLICE 4096
#define SCRATCH_BYTES 2048
#define TEXT_KEEP 1024
#define REBUILD_DICT_NAMES 1024
#define REBUILD_STANZA_BYTES 16384
/* Heap of a libxml2 2.9.14 push context after a stream header, measured with mallinfo2
 * (context, SAX copy, dictionary, name/node/namespace stacks, input buffer). */
#define CTXT_ESTIMATE 15000
/* Bytes per dictionary name beyond that: hash slot plus string pool share. */
#define DICT_ENTRY_ESTIMATE 48

enum { PH_HEADER, PH_OPEN, PH_CLOSED, PH_FAILED };
enum { HALT_NONE, HALT_PAUSE, HALT_REBUILD, HALT_CLOSE };

struct cv_xml_stream_s {
    cv_xml_limits_t lim;
    cv_xml_stream_cb_t cb;
    xmlParserCtxtPtr ctxt; /* NULL until the first byte, after trim, pause or close */
    cv_stanza_t *scratch;  /* the stanza being built; reused, freed by trim */
    cv_xml_node_t *cur;    /* innermost open element of that stanza */
    cv_buf_t text;         /* character data not yet made into a text node */
    char *hdr;             /* synthetic stream header rebuilding the namespace scope */
    size_t hdr_len, hdr_cap;
    size_t fed;          /* bytes given to ctxt */
    size_t slice_base;   /* fed before the slice being parsed */
    size_t mark;         /* position after the last complete event between stanzas */
    size_t stanza_start; /* position where the current stanza began (at most) */
    size_t halt_pos;     /* position of a pause, rebuild or close */
    unsigned level;      /* open elements, the stream root included */
    int rc;              /* returned by feed once failed or stopped */
    int lx_code;         /* first libxml2 error (warnings excluded), 0 if none */
    int lx_domain;
    cv_stream_err_t err;
    uint8_t phase;
    uint8_t halt;
    uint8_t bom;        /* UTF-8 byte-order-mark bytes seen; 3 once decided */
    uint8_t rebuilding; /* parsing the synthetic header: no callbacks */
    uint8_t in_parse;   /* inside xmlParseChunk */
};

int cv_xml_lib_init(void)
{
    xmlInitParser();
    return 0;
}

static size_t ctxt_pos(const cv_xml_stream_t *s)
{
    xmlParserInputPtr in = s->ctxt ? s->ctxt->input : NULL;
    if (!in || !in->base || !in->cur || in->cur < in->base)
        return s->fed;
    size_t pos = (size_t)in->consumed + (size_t)(in->cur - in->base);
    return pos < s->fed ? pos : s->fed;
}

/* In start-element callbacks libxml2's cursor still points at the closing '>' or "/>". */
static size_t start_tag_end(const cv_xml_stream_t *s)
{
    size_t pos = ctxt_pos(s);
    const xmlChar *cur = s->ctxt->input ? s->ctxt->input->cur : NULL;
    if (cur && cur[0] == '>')
        pos += 1;
    else if (cur && cur[0] == '/' && cur[1] == '>')
        pos += 2;
    return pos < s->fed ? pos : s->fed;
}

static size_t since(size_t pos, size_t from)
{
    return pos > from ? pos - from : 0;
}

static void fail(cv_xml_stream_t *s, cv_stream_err_t err, int rc)
{
    if (s->phase == PH_FAILED)
        return;
    s->phase = PH_FAILED;
    s->err = err;
    s->rc = rc;
    if (s->in_parse)
        xmlStopParser(s->ctxt);
}

static void halt(cv_xml_stream_t *s, int kind, size_t pos)
{
    s->halt = (uint8_t)kind;
    s->halt_pos = pos;
    xmlStopParser(s->ctxt);
}

static int active(const cv_xml_stream_t *s)
{
    return (s->phase == PH_HEADER || s->phase == PH_OPEN) && s->halt == HALT_NONE;
}

static cv_stream_err_t map_lx(int domain, int code)
{
    if (domain == XML_FROM_NAMESPACE) {
        switch (code) {
        case XML_NS_ERR_UNDEFINED_NAMESPACE:
        case XML_NS_ERR_XML_NAMESPACE:
        case XML_NS_ERR_EMPTY: return CV_SE_BAD_NAMESPACE_PREFIX;
        default: return CV_SE_NOT_WELL_FORMED;
        }
    }
    switch (code) {
    case XML_ERR_UNSUPPORTED_ENCODING:
    case XML_ERR_UNKNOWN_ENCODING:
    case XML_ERR_INVALID_ENCODING: return CV_SE_UNSUPPORTED_ENCODING;
    case XML_ERR_UNDECLARED_ENTITY:
    case XML_WAR_UNDECLARED_ENTITY:
    case XML_ERR_UNPARSED_ENTITY:
    case XML_ERR_ENTITY_LOOP:
    case XML_ERR_ENTITY_PE_INTERNAL:
    case XML_ERR_EXT_ENTITY_STANDALONE: return CV_SE_RESTRICTED_XML;
    case XML_ERR_NO_MEMORY: return CV_SE_RESOURCE_CONSTRAINT;
    default: return CV_SE_NOT_WELL_FORMED;
    }
}

/* A libxml2 error that did not stop the parser (namespace errors do not) ends the stream
 * at the next event. */
static int lx_pending(cv_xml_stream_t *s)
{
    if (!s->lx_code)
        return 0;
    fail(s, map_lx(s->lx_domain, s->lx_code), CV_EPROTO);
    return 1;
}

static void policy(cv_xml_stream_t *s)
{
    fail(s, CV_SE_POLICY_VIOLATION, CV_ELIMIT);
}

static void oom(cv_xml_stream_t *s)
{
    fail(s, CV_SE_RESOURCE_CONSTRAINT, CV_ENOMEM);
}

static int is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ---- tree building ---- */

static const char *arena_copy(cv_stanza_t *st, const char *s, size_t n)
{
    char *p = cv__xml_arena_strbuf(st, n);
    if (p && n)
        memcpy(p, s, n);
    return p;
}

/*
 * Fills a from libxml2's five-pointer attribute record (local, prefix, URI, value,
 * value end). With entity substitution off, libxml2 hands '&' in values on as "&#38;"
 * (for a later re-parse by its tree builder); that is decoded here. Any other '&' would
 * be an unexpanded entity reference, which the getEntity handler already refused.
 * Returns 0, CV_ENOMEM or CV_EPROTO.
 */
static int fill_attr(cv_stanza_t *st, cv_xml_attr_t *a, const xmlChar **rec)
{
    const char *local = (const char *)rec[0], *prefix = (const char *)rec[1];
    const char *uri = (const char *)rec[2];
    const char *v = (const char *)rec[3], *end = (const char *)rec[4];
    size_t ll = strlen(local), pl = prefix ? strlen(prefix) : 0;
    size_t vl = (size_t)(end - v);

    char *name = cv__xml_arena_strbuf(st, prefix ? pl + 1 + ll : ll);
    char *val = cv__xml_arena_strbuf(st, vl);
    if (!name || !val)
        return CV_ENOMEM;
    if (prefix) {
        memcpy(name, prefix, pl);
        name[pl] = ':';
        memcpy(name + pl + 1, local, ll);
    } else {
        memcpy(name, local, ll);
    }
    size_t o = 0;
    for (size_t i = 0; i < vl;) {
        if (v[i] == '&') {
            if (vl - i < 5 || memcmp(v + i, "&#38;", 5) != 0)
                return CV_EPROTO;
            val[o++] = '&';
            i += 5;
        } else {
            val[o++] = v[i++];
        }
    }
    val[o] = '\0';
    a->name = name;
    a->value = val;
    if (!uri || !uri[0])
        a->ns = "";
    else if (strcmp(uri, CV_NS_XML) == 0)
        a->ns = CV_NS_XML;
    else if (!(a->ns = arena_copy(st, uri, strlen(uri))))
        return CV_ENOMEM;
    return 0;
}

static int fill_attrs(cv_xml_stream_t *s, cv_xml_attr_t **out, int nb, const xmlChar **recs)
{
    *out = NULL;
    if (nb == 0)
        return 0;
    cv_xml_attr_t *a = cv__xml_arena_obj(s->scratch, (size_t)nb * sizeof(*a));
    if (!a)
        return CV_ENOMEM;
    for (int i = 0; i < nb; i++) {
        int rc = fill_attr(s->scratch, &a[i], recs + 5 * i);
        if (rc < 0)
            return rc;
    }
    *out = a;
    return 0;
}

static void fail_rc(cv_xml_stream_t *s, int rc)
{
    if (rc == CV_ENOMEM)
        oom(s);
    else
        fail(s, CV_SE_RESTRICTED_XML, CV_EPROTO);
}

static int flush_text(cv_xml_stream_t *s)
{
    if (s->text.len == 0)
        return 0;
    cv_xml_node_t *n = cv__xml_arena_obj(s->scratch, sizeof(*n));
    if (!n || !(n->text = arena_copy(s->scratch, s->text.data, s->text.len)))
        return CV_ENOMEM;
    n->text_len = s->text.len;
    cv__xml_node_append(s->cur, n);
    cv_buf_clear(&s->text);
    return 0;
}

/* ---- the stream header ---- */

static int save_header(cv_xml_stream_t *s, const char *local, const char *prefix, int nb_ns,
                       const xmlChar **nss)
{
    cv_buf_t b = CV_BUF_INIT;
    int rc = cv_buf_append(&b, "<", 1);
    if (rc == 0 && prefix)
        rc = cv_buf_printf(&b, "%s:", prefix);
    if (rc == 0)
        rc = cv_buf_append_str(&b, local);
    for (int i = 0; rc == 0 && i < nb_ns; i++) {
        const char *p = (const char *)nss[2 * i], *u = (const char *)nss[2 * i + 1];
        rc = p ? cv_buf_printf(&b, " xmlns:%s='", p) : cv_buf_append_str(&b, " xmlns='");
        if (rc == 0 && u)
            rc = cv_xml_escape_append(&b, u, strlen(u));
        if (rc == 0)
            rc = cv_buf_append(&b, "'", 1);
    }
    if (rc == 0)
        rc = cv_buf_append(&b, ">", 1);
    if (rc == 0 && b.len > INT_MAX)
        rc = CV_ELIMIT;
    if (rc < 0) {
        cv_buf_free(&b);
        return rc;
    }
    free(s->hdr);
    s->hdr = b.data;
    s->hdr_len = b.len;
    s->hdr_cap = b.cap;
    return 0;
}

static int encoding_ok(const cv_xml_stream_t *s)
{
    xmlParserCtxtPtr c = s->ctxt;
    if (c->input && c->input->buf && c->input->buf->encoder)
        return 0;
    const char *enc =
        (const char *)(c->input && c->input->encoding ? c->input->encoding : c->encoding);
    return !enc || strcasecmp(enc, "UTF-8") == 0 || strcasecmp(enc, "UTF8") == 0;
}

static void stream_open(cv_xml_stream_t *s, const char *local, const char *prefix, const char *uri,
                        int nb_ns, const xmlChar **nss, int nb_attrs, const xmlChar **attrs)
{
    size_t pos = start_tag_end(s);
    if (!s->rebuilding) {
        /* Prosody and others answer a root that is not <stream> the same way. */
        if (strcmp(local, "stream") != 0) {
            fail(s, CV_SE_INVALID_NAMESPACE, CV_EPROTO);
            return;
        }
        if (!encoding_ok(s)) {
            fail(s, CV_SE_UNSUPPORTED_ENCODING, CV_EPROTO);
            return;
        }
        int rc = save_header(s, local, prefix, nb_ns, nss);
        if (rc < 0) {
            oom(s);
            return;
        }
        if (!s->scratch && cv__xml_stanza_scratch(&s->scratch, SCRATCH_BYTES) < 0) {
            oom(s);
            return;
        }
        cv_xml_attr_t *a;
        rc = fill_attrs(s, &a, nb_attrs, attrs);
        if (rc < 0) {
            cv__xml_stanza_clear(s->scratch);
            fail_rc(s, rc);
            return;
        }
        const char *ns_default = "";
        for (int i = 0; i < nb_ns; i++)
            if (!nss[2 * i] && nss[2 * i + 1])
                ns_default = (const char *)nss[2 * i + 1];
        s->phase = PH_OPEN;
        rc = 0;
        if (s->cb.on_stream_open)
            rc = s->cb.on_stream_open(s->cb.ctx, uri ? uri : "", ns_default, a, (uint32_t)nb_attrs);
        cv__xml_stanza_clear(s->scratch);
        if (rc < 0) {
            fail(s, CV_SE_NONE, rc);
            return;
        }
    }
    s->phase = PH_OPEN;
    s->level = 1;
    s->mark = pos;
}

/* ---- SAX handlers ---- */

static void sx_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                     int nb_ns, const xmlChar **nss, int nb_attrs, int nb_defaulted,
                     const xmlChar **attrs)
{
    cv_xml_stream_t *s = ctx;
    if (!active(s) || lx_pending(s))
        return;
    /* libxml2 reports an undeclared prefix as a recoverable error and goes on with a
     * NULL URI; the serror handler saw it, but check the result too. */
    int bad_prefix = prefix && !uri;
    for (int i = 0; i < nb_attrs; i++)
        bad_prefix |= attrs[5 * i + 1] && !attrs[5 * i + 2];
    if (bad_prefix) {
        fail(s, CV_SE_BAD_NAMESPACE_PREFIX, CV_EPROTO);
        return;
    }
    if (nb_defaulted) {
        fail(s, CV_SE_RESTRICTED_XML, CV_EPROTO);
        return;
    }
    if ((size_t)nb_attrs + (size_t)nb_ns > s->lim.max_attrs) {
        policy(s);
        return;
    }
    if (s->level == 0) {
        stream_open(s, (const char *)local, (const char *)prefix, (const char *)uri, nb_ns, nss,
                    nb_attrs, attrs);
        return;
    }
    /* The new element's depth inside its stanza is s->level (the stanza itself: 1). */
    if (s->level > s->lim.max_depth) {
        policy(s);
        return;
    }
    if (s->level == 1) {
        s->stanza_start = s->mark;
        if (!s->scratch && cv__xml_stanza_scratch(&s->scratch, SCRATCH_BYTES) < 0) {
            oom(s);
            return;
        }
    } else if (flush_text(s) < 0) {
        oom(s);
        return;
    }
    if (since(start_tag_end(s), s->stanza_start) > s->lim.max_stanza_bytes) {
        policy(s);
        return;
    }
    cv_xml_node_t *parent = s->level == 1 ? NULL : s->cur;
    cv_xml_node_t *n = cv__xml_arena_obj(s->scratch, sizeof(*n));
    if (!n ||
        !(n->name = arena_copy(s->scratch, (const char *)local, strlen((const char *)local)))) {
        oom(s);
        return;
    }
    if (!uri || !uri[0])
        n->ns = "";
    else if (parent && strcmp(parent->ns, (const char *)uri) == 0)
        n->ns = parent->ns;
    else if (!(n->ns = arena_copy(s->scratch, (const char *)uri, strlen((const char *)uri)))) {
        oom(s);
        return;
    }
    int rc = fill_attrs(s, &n->attrs, nb_attrs, attrs);
    if (rc < 0) {
        fail_rc(s, rc);
        return;
    }
    n->nattrs = n->attrs_cap = (uint32_t)nb_attrs;
    if (parent)
        cv__xml_node_append(parent, n);
    else
        cv__xml_stanza_set_root(s->scratch, n);
    s->cur = n;
    s->level++;
}

static void stanza_done(cv_xml_stream_t *s)
{
    size_t pos = ctxt_pos(s);
    size_t bytes = since(pos, s->stanza_start);
    if (bytes > s->lim.max_stanza_bytes) {
        policy(s);
        return;
    }
    cv_stanza_t *st = NULL;
    int rc = cv_stanza_clone(s->cur, &st);
    cv__xml_stanza_clear(s->scratch);
    s->cur = NULL;
    if (s->text.cap > TEXT_KEEP)
        cv_buf_free(&s->text);
    s->mark = pos;
    if (rc < 0) {
        oom(s);
        return;
    }
    rc = 0;
    if (s->cb.on_stanza)
        rc = s->cb.on_stanza(s->cb.ctx, st);
    else
        cv_stanza_free(st);
    if (rc < 0) {
        fail(s, CV_SE_NONE, rc);
    } else if (rc == 1) {
        halt(s, HALT_PAUSE, pos);
    } else if ((bytes > REBUILD_STANZA_BYTES || xmlDictSize(s->ctxt->dict) > REBUILD_DICT_NAMES) &&
               pos > s->slice_base) {
        /* Only when this slice made progress, so the rebuild loop always advances. */
        halt(s, HALT_REBUILD, pos);
    }
}

static void sx_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    cv_xml_stream_t *s = ctx;
    if (!active(s) || lx_pending(s))
        return;
    if (s->level <= 1) {
        s->level = 0;
        halt(s, HALT_CLOSE, ctxt_pos(s));
        s->phase = PH_CLOSED;
        if (s->cb.on_stream_close)
            s->cb.on_stream_close(s->cb.ctx);
        return;
    }
    if (flush_text(s) < 0) {
        oom(s);
        return;
    }
    s->level--;
    if (s->level > 1)
        s->cur = s->cur->parent;
    else
        stanza_done(s);
}

static void sx_chars(void *ctx, const xmlChar *ch, int len)
{
    cv_xml_stream_t *s = ctx;
    if (!active(s) || lx_pending(s) || len <= 0)
        return;
    if (s->level <= 1) {
        /* Between stanzas only whitespace (keepalives) is allowed. The stream element
         * has element-only content, so other text is invalid rather than malformed. */
        for (int i = 0; i < len; i++) {
            if (!is_ws(ch[i])) {
                fail(s, CV_SE_INVALID_XML, CV_EPROTO);
                return;
            }
        }
        size_t end = ctxt_pos(s) + (size_t)len;
        if (end > s->fed)
            end = s->fed;
        if (end > s->mark)
            s->mark = end;
        return;
    }
    if (s->text.len + (size_t)len > s->lim.max_stanza_bytes) {
        policy(s);
        return;
    }
    if (cv_buf_append(&s->text, ch, (size_t)len) < 0)
        oom(s);
}

/* libxml2 2.9.14 checks CDATA content only for XML characters, letting overlong UTF-8
 * forms through, which would make the tree (and its serialization) invalid. */
static void sx_cdata(void *ctx, const xmlChar *ch, int len)
{
    cv_xml_stream_t *s = ctx;
    if (!active(s) || len <= 0)
        return;
    if (!cv__xml_text_valid((const char *)ch, (size_t)len)) {
        fail(s, CV_SE_NOT_WELL_FORMED, CV_EPROTO);
        return;
    }
    sx_chars(ctx, ch, len);
}

static void restricted(cv_xml_stream_t *s)
{
    fail(s, CV_SE_RESTRICTED_XML, CV_EPROTO);
}

static void sx_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext_id,
                               const xmlChar *sys_id)
{
    restricted(ctx);
}

static void sx_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *pub_id,
                           const xmlChar *sys_id, xmlChar *content)
{
    restricted(ctx);
}

/* Only called for names other than the five predefined entities, which libxml2 resolves
 * itself before asking. */
static xmlEntityPtr sx_get_entity(void *ctx, const xmlChar *name)
{
    restricted(ctx);
    return NULL;
}

static void sx_reference(void *ctx, const xmlChar *name)
{
    restricted(ctx);
}

static xmlParserInputPtr sx_resolve_entity(void *ctx, const xmlChar *pub_id, const xmlChar *sys_id)
{
    restricted(ctx);
    return NULL;
}

static void sx_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    restricted(ctx);
}

static void sx_comment(void *ctx, const xmlChar *value)
{
    restricted(ctx);
}

/* Records the first error and keeps libxml2 from printing anything. The parser is not
 * stopped from here: libxml2 may still be in the middle of a token. */
static void sx_serror(void *ctx, xmlErrorPtr e)
{
    cv_xml_stream_t *s = ctx;
    if (!s || !e || e->level == XML_ERR_WARNING || s->lx_code)
        return;
    s->lx_code = e->code ? e->code : XML_ERR_INTERNAL_ERROR;
    s->lx_domain = e->domain;
}

/* ---- context life cycle ---- */

static void ctxt_drop(cv_xml_stream_t *s)
{
    if (!s->ctxt)
        return;
    xmlFreeParserCtxt(s->ctxt);
    s->ctxt = NULL;
}

static int ctxt_open(cv_xml_stream_t *s)
{
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = sx_start;
    sax.endElementNs = sx_end;
    sax.characters = sx_chars;
    sax.ignorableWhitespace = sx_chars;
    sax.cdataBlock = sx_cdata;
    sax.internalSubset = sx_internal_subset;
    sax.externalSubset = sx_internal_subset;
    sax.entityDecl = sx_entity_decl;
    sax.getEntity = sx_get_entity;
    sax.getParameterEntity = sx_get_entity;
    sax.reference = sx_reference;
    sax.resolveEntity = sx_resolve_entity;
    sax.processingInstruction = sx_pi;
    sax.comment = sx_comment;
    sax.serror = sx_serror;

    s->ctxt = xmlCreatePushParserCtxt(&sax, s, NULL, 0, NULL);
    if (!s->ctxt)
        return CV_ENOMEM;
    /* No NOENT (no substitution), no DTDLOAD/DTDATTR, no HUGE. */
    xmlCtxtUseOptions(s->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    s->fed = s->mark = s->slice_base = 0;
    s->level = 0;
    s->lx_code = s->lx_domain = 0;
    if (s->phase != PH_OPEN)
        return 0;

    s->rebuilding = 1;
    s->in_parse = 1;
    s->fed = s->hdr_len;
    int r = xmlParseChunk(s->ctxt, s->hdr, (int)s->hdr_len, 0);
    s->in_parse = 0;
    s->rebuilding = 0;
    if (s->phase == PH_FAILED)
        return s->rc;
    if (r != 0 || s->lx_code || s->level != 1) {
        fail(s, CV_SE_INTERNAL_SERVER_ERROR, CV_EPROTO);
        return s->rc;
    }
    s->mark = s->fed;
    return 0;
}

/* ---- public API ---- */

int cv_xml_stream_create(cv_xml_stream_t **out, const cv_xml_limits_t *lim,
                         const cv_xml_stream_cb_t *cb)
{
    cv_xml_stream_t *s = calloc(1, sizeof(*s));
    if (!s)
        return CV_ENOMEM;
    xmlInitParser();
    if (lim)
        s->lim = *lim;
    if (!s->lim.max_stanza_bytes)
        s->lim.max_stanza_bytes = CV_XML_DEFAULT_MAX_STANZA_BYTES;
    if (!s->lim.max_depth)
        s->lim.max_depth = CV_XML_DEFAULT_MAX_DEPTH;
    if (!s->lim.max_attrs)
        s->lim.max_attrs = CV_XML_DEFAULT_MAX_ATTRS;
    if (cb)
        s->cb = *cb;
    s->phase = PH_HEADER;
    *out = s;
    return 0;
}

/* Skips a UTF-8 byte-order mark at the very start of a stream; refuses UTF-16 ones. */
static size_t skip_bom(cv_xml_stream_t *s, const char *data, size_t len)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    size_t off = 0;
    while (s->bom < 3 && off < len) {
        unsigned char c = (unsigned char)data[off];
        if (c == bom[s->bom]) {
            s->bom++;
            off++;
        } else if (s->bom == 0) {
            if (c == 0xFE || c == 0xFF)
                fail(s, CV_SE_UNSUPPORTED_ENCODING, CV_EPROTO);
            s->bom = 3;
        } else {
            fail(s, CV_SE_NOT_WELL_FORMED, CV_EPROTO);
            s->bom = 3;
        }
    }
    return off;
}

int cv_xml_stream_feed(cv_xml_stream_t *s, const char *data, size_t len, size_t *consumed)
{
    size_t off = 0;
    if (consumed)
        *consumed = 0;
    if (s->phase == PH_FAILED)
        return s->rc;
    if (s->phase == PH_CLOSED)
        return CV_ECLOSED;
    while (off < len) {
        if (!s->ctxt) {
            /* Some clients end the old stream's last element with a newline before the
               new stream's XML declaration, which must be the first byte of a document:
               whitespace before a document (nothing of it fed yet, no BOM begun) belongs
               to no stream and is dropped, however the bytes are split. */
            if (s->phase == PH_HEADER && s->fed == 0 && s->bom == 0) {
                while (off < len && is_ws((unsigned char)data[off]))
                    off++;
                if (off == len)
                    break;
            }
            if (s->phase == PH_HEADER && s->bom < 3) {
                off += skip_bom(s, data + off, len - off);
                if (s->phase == PH_FAILED || off == len)
                    break;
            }
            int rc = ctxt_open(s);
            if (rc < 0) {
                oom(s);
                break;
            }
        }
        size_t n = len - off;
        if (n > FEED_SLICE)
            n = FEED_SLICE;
        s->slice_base = s->fed;
        s->fed += n;
        s->in_parse = 1;
        int r = xmlParseChunk(s->ctxt, data + off, (int)n, 0);
        s->in_parse = 0;
        if (s->phase == PH_FAILED)
            break;
        if (s->halt != HALT_NONE) {
            size_t used = since(s->halt_pos, s->slice_base);
            int kind = s->halt;
            off += used < n ? used : n;
            s->halt = HALT_NONE;
            ctxt_drop(s);
            if (kind == HALT_REBUILD)
                continue;
            break;
        }
        if (r != 0 || s->lx_code) {
            fail(s,
                 map_lx(s->lx_code ? s->lx_domain : XML_FROM_PARSER, s->lx_code ? s->lx_code : r),
                 CV_EPROTO);
            break;
        }
        off += n;
        size_t from = s->level >= 2 ? s->stanza_start : s->mark;
        if (since(s->fed, from) > s->lim.max_stanza_bytes) {
            policy(s);
            break;
        }
    }
    if (consumed)
        *consumed = off;
    return s->phase == PH_FAILED ? s->rc : 0;
}

cv_stream_err_t cv_xml_stream_error(const cv_xml_stream_t *s)
{
    return s->err;
}

int cv_xml_stream_reset(cv_xml_stream_t *s)
{
    ctxt_drop(s);
    free(s->hdr);
    s->hdr = NULL;
    s->hdr_len = s->hdr_cap = 0;
    if (s->scratch)
        cv__xml_stanza_clear(s->scratch);
    s->cur = NULL;
    cv_buf_clear(&s->text);
    s->fed = s->slice_base = s->mark = s->stanza_start = s->halt_pos = 0;
    s->level = 0;
    s->rc = 0;
    s->lx_code = s->lx_domain = 0;
    s->err = CV_SE_NONE;
    s->phase = PH_HEADER;
    s->halt = HALT_NONE;
    s->bom = 0;
    return 0;
}

/* Whether everything libxml2 holds but has not parsed yet is whitespace, which it would
 * only report (and we would ignore) once the next '<' arrives. */
static int held_is_ws(const cv_xml_stream_t *s)
{
    xmlParserInputPtr in = s->ctxt->input;
    if (!in || !in->cur || !in->end)
        return 1;
    for (const xmlChar *p = in->cur; p < in->end; p++)
        if (!is_ws(*p))
            return 0;
    return 1;
}

int cv_xml_stream_trim(cv_xml_stream_t *s)
{
    if (s->ctxt) {
        if (s->phase == PH_HEADER)
            return CV_AGAIN;
        if (s->phase == PH_OPEN && (s->level != 1 || !held_is_ws(s)))
            return CV_AGAIN;
        ctxt_drop(s);
    }
    cv_stanza_free(s->scratch);
    s->scratch = NULL;
    s->cur = NULL;
    cv_buf_free(&s->text);
    return 0;
}

size_t cv_xml_stream_memory(const cv_xml_stream_t *s)
{
    size_t m = sizeof(*s) + s->hdr_cap + s->text.cap + cv_stanza_memory(s->scratch);
    if (s->ctxt) {
        xmlParserInputPtr in = s->ctxt->input;
        m += CTXT_ESTIMATE + xmlDictSize(s->ctxt->dict) * DICT_ENTRY_ESTIMATE;
        if (in && in->base && in->end && in->end > in->base)
            m += (size_t)(in->end - in->base);
    }
    return m;
}

void cv_xml_stream_destroy(cv_xml_stream_t *s)
{
    if (!s)
        return;
    ctxt_drop(s);
    cv_stanza_free(s->scratch);
    cv_buf_free(&s->text);
    free(s->hdr);
    free(s);
}
