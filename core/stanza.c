/*
 * The stanza tree: arena, builders, queries, clone and serializer.
 *
 * Arena layout. Each block is one malloc: a header, then free space that is used from
 * both ends. Structures (nodes, attribute arrays, the cv_stanza_t itself) are taken from
 * the low end, always in multiples of ARENA_ALIGN so the low end stays aligned; strings
 * are taken from the high end and need no alignment. This makes the size of a tree
 * computable in advance (sum of structures + sum of strings), which cv_stanza_clone uses
 * to build a copy in one block of exactly that size.
 */
#include <string.h>

#include "corvid/stanza.h"
#include "corvid/xmpp.h"

#define ARENA_ALIGN sizeof(void *)
#define ARENA_MIN_BLOCK 256

_Static_assert(sizeof(cv_xml_node_t) % ARENA_ALIGN == 0, "node size keeps arena alignment");
_Static_assert(sizeof(cv_xml_attr_t) % ARENA_ALIGN == 0, "attr size keeps arena alignment");
_Static_assert(_Alignof(cv_xml_node_t) <= ARENA_ALIGN, "node alignment");

typedef struct arena_blk_s {
    struct arena_blk_s *next; /* older block */
    char *lo;                 /* first free byte, ARENA_ALIGN-aligned */
    char *hi;                 /* one past the last free byte */
    size_t size;              /* bytes of this malloc */
} arena_blk_t;

struct cv_stanza_s {
    cv_mpsc_node_t node; /* queue link for whoever holds the stanza (cv_stanza_node) */
    cv_xml_node_t *root;
    arena_blk_t *blk; /* newest block; the chain ends with the block holding this struct */
    size_t bytes;     /* heap bytes of all blocks */
};

_Static_assert(sizeof(arena_blk_t) % ARENA_ALIGN == 0, "block header keeps alignment");
_Static_assert(sizeof(cv_stanza_t) % ARENA_ALIGN == 0, "stanza header keeps alignment");

/* Shared constants for the most common namespace values, so trees need not copy them. */
static const char ns_none[] = "";
static const char ns_xml[] = CV_NS_XML;

static size_t align_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

static arena_blk_t *blk_new(size_t data)
{
    if (data > SIZE_MAX / 2)
        return NULL;
    size_t size = sizeof(arena_blk_t) + data;
    arena_blk_t *b = malloc(size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->lo = (char *)(b + 1);
    b->hi = (char *)b + size;
    b->size = size;
    return b;
}

/* A stanza whose first block has room for data bytes after the stanza header. */
#define CV_STANZA_SLACK 256u

static cv_stanza_t *stanza_alloc(size_t data)
{
    if (data > SIZE_MAX / 2)
        return NULL;
    arena_blk_t *b = blk_new(sizeof(cv_stanza_t) + data);
    if (!b)
        return NULL;
    cv_stanza_t *st = (cv_stanza_t *)b->lo;
    b->lo += sizeof(cv_stanza_t);
    st->root = NULL;
    st->blk = b;
    st->bytes = b->size;
    return st;
}

static int arena_grow(cv_stanza_t *st, size_t need)
{
    /* Doubling the total keeps the number of blocks logarithmic in the tree size. */
    size_t data = st->bytes;
    if (need > SIZE_MAX / 4)
        return CV_ENOMEM;
    if (data < need)
        data = need;
    if (data < ARENA_MIN_BLOCK)
        data = ARENA_MIN_BLOCK;
    arena_blk_t *b = blk_new(data);
    if (!b)
        return CV_ENOMEM;
    b->next = st->blk;
    st->blk = b;
    st->bytes += b->size;
    return 0;
}

void *cv__xml_arena_obj(cv_stanza_t *st, size_t n)
{
    n = align_up(n);
    if ((size_t)(st->blk->hi - st->blk->lo) < n && arena_grow(st, n) < 0)
        return NULL;
    void *p = st->blk->lo;
    st->blk->lo += n;
    memset(p, 0, n);
    return p;
}

char *cv__xml_arena_strbuf(cv_stanza_t *st, size_t n)
{
    if (n >= SIZE_MAX / 4)
        return NULL;
    if ((size_t)(st->blk->hi - st->blk->lo) < n + 1 && arena_grow(st, n + 1) < 0)
        return NULL;
    st->blk->hi -= n + 1;
    st->blk->hi[n] = '\0';
    return st->blk->hi;
}

static const char *arena_str(cv_stanza_t *st, const char *s, size_t n)
{
    char *p = cv__xml_arena_strbuf(st, n);
    if (p && n)
        memcpy(p, s, n);
    return p;
}

int cv__xml_stanza_scratch(cv_stanza_t **out, size_t cap)
{
    cv_stanza_t *st = stanza_alloc(cap);
    if (!st)
        return CV_ENOMEM;
    *out = st;
    return 0;
}

void cv__xml_stanza_clear(cv_stanza_t *st)
{
    arena_blk_t *b = st->blk;
    while (b->next) {
        arena_blk_t *next = b->next;
        free(b);
        b = next;
    }
    /* b is the first block: it holds st right after its header. */
    st->blk = b;
    st->bytes = b->size;
    st->root = NULL;
    b->lo = (char *)(b + 1) + sizeof(cv_stanza_t);
    b->hi = (char *)b + b->size;
}

void cv__xml_stanza_set_root(cv_stanza_t *st, cv_xml_node_t *root)
{
    st->root = root;
}

void cv__xml_node_append(cv_xml_node_t *parent, cv_xml_node_t *child)
{
    child->parent = parent;
    child->next = NULL;
    if (parent->last_child)
        parent->last_child->next = child;
    else
        parent->children = child;
    parent->last_child = child;
}

cv_mpsc_node_t *cv_stanza_node(cv_stanza_t *st)
{
    return &st->node;
}

cv_stanza_t *cv_stanza_of_node(cv_mpsc_node_t *n)
{
    /* node is the first member. */
    return (cv_stanza_t *)n;
}

cv_xml_node_t *cv_stanza_root(cv_stanza_t *st)
{
    return st->root;
}

size_t cv_stanza_memory(const cv_stanza_t *st)
{
    return st ? st->bytes : 0;
}

void cv_stanza_free(cv_stanza_t *st)
{
    if (!st)
        return;
    /* The block holding st is freed last, by the same walk; st is not read after. */
    arena_blk_t *b = st->blk;
    while (b) {
        arena_blk_t *next = b->next;
        free(b);
        b = next;
    }
}

/* ---- validation of builder input ---- */

/* Decodes one UTF-8 sequence at s (n bytes available). Returns its length, 0 if invalid
 * (overlong forms, surrogates and values above U+10FFFF are invalid). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c = s[0];
    size_t len;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2;
        min = 0x80;
        c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        min = 0x800;
        c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

static int xml_char_ok(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* Valid UTF-8 made only of XML 1.0 characters. */
static int text_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t c;
        size_t n = utf8_decode(p + i, len - i, &c);
        if (n == 0 || !xml_char_ok(c))
            return 0;
        i += n;
    }
    return 1;
}

int cv__xml_text_valid(const char *s, size_t len)
{
    return text_ok(s, len);
}

/* A conservative XML NCName check: ASCII letters, digits, '-', '.', '_' and any
 * non-ASCII character; not starting with a digit, '-' or '.'. */
static int ncname_ok(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            continue;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return 0;
    }
    return text_ok(s, len);
}

/* Attribute names accepted by the builders: an NCName other than "xmlns", or
 * "xml:<NCName>". Sets *ns to the attribute's namespace. */
static int attr_name_ok(const char *name, const char **ns)
{
    size_t len = strlen(name);
    if (len > 4 && memcmp(name, "xml:", 4) == 0) {
        *ns = ns_xml;
        return ncname_ok(name + 4, len - 4);
    }
    *ns = ns_none;
    if (strcmp(name, "xmlns") == 0)
        return 0;
    return ncname_ok(name, len);
}

/* ---- builders ---- */

static const char *ns_intern(cv_stanza_t *st, const cv_xml_node_t *parent, const char *ns)
{
    if (!ns)
        return parent ? parent->ns : ns_none;
    if (ns[0] == '\0')
        return ns_none;
    if (parent && strcmp(parent->ns, ns) == 0)
        return parent->ns;
    return arena_str(st, ns, strlen(ns));
}

static cv_xml_node_t *elem_new(cv_stanza_t *st, cv_xml_node_t *parent, const char *name,
                               const char *ns)
{
    cv_xml_node_t *n = cv__xml_arena_obj(st, sizeof(*n));
    if (!n)
        return NULL;
    n->name = arena_str(st, name, strlen(name));
    n->ns = ns_intern(st, parent, ns);
    if (!n->name || !n->ns)
        return NULL;
    if (parent)
        cv__xml_node_append(parent, n);
    return n;
}

int cv_stanza_new(cv_stanza_t **out, const char *name, const char *ns)
{
    if (!out || !name || !ncname_ok(name, strlen(name)) || (ns && !text_ok(ns, strlen(ns))))
        return CV_EINVAL;
    int rc = CV_ENOMEM;
    cv_stanza_t *st = stanza_alloc(512);
    if (!st)
        goto out;
    st->root = elem_new(st, NULL, name, ns);
    if (!st->root)
        goto out;
    *out = st;
    st = NULL;
    rc = 0;
out:
    cv_stanza_free(st);
    return rc;
}

cv_xml_node_t *cv_stanza_add_child(cv_stanza_t *st, cv_xml_node_t *parent, const char *name,
                                   const char *ns)
{
    if (!st || !parent || !parent->name || !name || !ncname_ok(name, strlen(name)) ||
        (ns && !text_ok(ns, strlen(ns))))
        return NULL;
    return elem_new(st, parent, name, ns);
}

int cv_stanza_set_attr(cv_stanza_t *st, cv_xml_node_t *node, const char *name, const char *value)
{
    const char *ans;
    if (!st || !node || !node->name || !name || !attr_name_ok(name, &ans) ||
        (value && !text_ok(value, strlen(value))))
        return CV_EINVAL;
    uint32_t i;
    for (i = 0; i < node->nattrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0)
            break;
    if (!value) {
        if (i < node->nattrs) {
            memmove(&node->attrs[i], &node->attrs[i + 1],
                    (node->nattrs - i - 1) * sizeof(cv_xml_attr_t));
            node->nattrs--;
        }
        return 0;
    }
    const char *v = arena_str(st, value, strlen(value));
    if (!v)
        return CV_ENOMEM;
    if (i < node->nattrs) {
        node->attrs[i].value = v;
        return 0;
    }
    if (node->nattrs == node->attrs_cap) {
        if (node->attrs_cap >= UINT32_MAX / 2)
            return CV_ELIMIT;
        uint32_t cap = node->attrs_cap ? node->attrs_cap * 2 : 4;
        cv_xml_attr_t *a = cv__xml_arena_obj(st, cap * sizeof(*a));
        if (!a)
            return CV_ENOMEM;
        if (node->nattrs)
            memcpy(a, node->attrs, node->nattrs * sizeof(*a));
        node->attrs = a;
        node->attrs_cap = cap;
    }
    const char *nm = arena_str(st, name, strlen(name));
    if (!nm)
        return CV_ENOMEM;
    node->attrs[node->nattrs].name = nm;
    node->attrs[node->nattrs].value = v;
    node->attrs[node->nattrs].ns = ans;
    node->nattrs++;
    return 0;
}

int cv_stanza_add_text(cv_stanza_t *st, cv_xml_node_t *parent, const char *text, size_t len)
{
    if (!st || !parent || !parent->name || (len && !text) || !text_ok(text, len))
        return CV_EINVAL;
    if (len == 0)
        return 0;
    cv_xml_node_t *last = parent->last_child;
    if (last && !last->name) {
        /* Keep the invariant "no adjacent text nodes": the old copy is left in the arena,
         * which only builders pay for. */
        if (last->text_len > SIZE_MAX / 4 - len)
            return CV_ENOMEM;
        char *p = cv__xml_arena_strbuf(st, last->text_len + len);
        if (!p)
            return CV_ENOMEM;
        memcpy(p, last->text, last->text_len);
        memcpy(p + last->text_len, text, len);
        last->text = p;
        last->text_len += len;
        return 0;
    }
    cv_xml_node_t *n = cv__xml_arena_obj(st, sizeof(*n));
    if (!n)
        return CV_ENOMEM;
    n->text = arena_str(st, text, len);
    if (!n->text)
        return CV_ENOMEM;
    n->text_len = len;
    cv__xml_node_append(parent, n);
    return 0;
}

/* ---- clone ---- */

/* Namespace strings that need no copy. Element namespaces are never the XML namespace
 * in practice, so only attributes pay for that comparison. */
static const char *ns_static(const char *ns, int attr)
{
    if (!ns || ns[0] == '\0')
        return ns_none;
    if (attr && (ns == ns_xml || strcmp(ns, CV_NS_XML) == 0))
        return ns_xml;
    return NULL;
}

/*
 * Copies the subtree at src into dst, or, with dst NULL, only adds up in *size the arena
 * bytes the copy takes. Both modes make the same decisions so the sizes agree exactly.
 * Iterative so that tree depth never matters.
 */
static int tree_copy(const cv_xml_node_t *src, cv_stanza_t *dst, size_t *size, cv_xml_node_t **root)
{
    const cv_xml_node_t *n = src;
    cv_xml_node_t *cp = NULL; /* copy of n's parent */
    size_t sz = 0;
    while (n) {
        cv_xml_node_t *c = NULL;
        sz += sizeof(cv_xml_node_t);
        if (dst) {
            c = cv__xml_arena_obj(dst, sizeof(*c));
            if (!c)
                return CV_ENOMEM;
            if (cp)
                cv__xml_node_append(cp, c);
            else
                *root = c;
        }
        if (!n->name) {
            sz += n->text_len + 1;
            if (dst) {
                c->text = arena_str(dst, n->text, n->text_len);
                if (!c->text)
                    return CV_ENOMEM;
                c->text_len = n->text_len;
            }
        } else {
            size_t len = strlen(n->name);
            sz += len + 1;
            if (dst && !(c->name = arena_str(dst, n->name, len)))
                return CV_ENOMEM;
            const char *ns = ns_static(n->ns, 0);
            if (!ns && n != src && strcmp(n->parent->ns, n->ns) == 0) {
                if (dst)
                    ns = cp->ns;
                else
                    ns = n->ns;
            }
            if (!ns) {
                len = strlen(n->ns);
                sz += len + 1;
                if (dst && !(ns = arena_str(dst, n->ns, len)))
                    return CV_ENOMEM;
            }
            if (dst)
                c->ns = ns;
            if (n->nattrs) {
                sz += n->nattrs * sizeof(cv_xml_attr_t);
                if (dst) {
                    c->attrs = cv__xml_arena_obj(dst, n->nattrs * sizeof(cv_xml_attr_t));
                    if (!c->attrs)
                        return CV_ENOMEM;
                    c->nattrs = c->attrs_cap = n->nattrs;
                }
            }
            for (uint32_t i = 0; i < n->nattrs; i++) {
                const cv_xml_attr_t *a = &n->attrs[i];
                size_t nl = strlen(a->name), vl = strlen(a->value);
                const char *ans = ns_static(a->ns, 1);
                sz += nl + 1 + vl + 1;
                if (!ans)
                    sz += strlen(a->ns) + 1;
                if (dst) {
                    cv_xml_attr_t *d = &c->attrs[i];
                    d->name = arena_str(dst, a->name, nl);
                    d->value = arena_str(dst, a->value, vl);
                    d->ns = ans ? ans : arena_str(dst, a->ns, strlen(a->ns));
                    if (!d->name || !d->value || !d->ns)
                        return CV_ENOMEM;
                }
            }
            if (n->children) {
                cp = c;
                n = n->children;
                continue;
            }
        }
        for (;;) {
            if (n == src) {
                n = NULL;
                break;
            }
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
            if (dst)
                cp = cp->parent;
        }
    }
    *size = sz;
    return 0;
}

int cv_stanza_clone(const cv_xml_node_t *n, cv_stanza_t **out)
{
    size_t size = 0;
    cv_xml_node_t *root = NULL;
    cv_stanza_t *st = NULL;
    if (!n || !n->name || !out)
        return CV_EINVAL;
    int rc = tree_copy(n, NULL, &size, NULL);
    if (rc < 0)
        goto out;
    /* Room for what the router adds to almost every stanza (the stamped 'from' and its
       attribute slot), so that stamping does not grow the arena with a second block. */
    st = stanza_alloc(size + CV_STANZA_SLACK);
    rc = st ? tree_copy(n, st, &size, &root) : CV_ENOMEM;
    if (rc < 0)
        goto out;
    /* The measuring pass and the copying pass must agree, or the copy spilled. */
    CV_ASSERT(st->blk->next == NULL && (size_t)(st->blk->hi - st->blk->lo) == CV_STANZA_SLACK);
    st->root = root;
    *out = st;
    st = NULL;
out:
    cv_stanza_free(st);
    return rc;
}

/* ---- queries ---- */

const char *cv_xml_attr(const cv_xml_node_t *n, const char *name)
{
    if (!n || !name)
        return NULL;
    for (uint32_t i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return n->attrs[i].value;
    return NULL;
}

cv_xml_node_t *cv_xml_child(const cv_xml_node_t *n, const char *name, const char *ns)
{
    for (cv_xml_node_t *c = cv_xml_first_element(n); c; c = cv_xml_next_element(c))
        if ((!name || strcmp(c->name, name) == 0) && (!ns || strcmp(c->ns, ns) == 0))
            return c;
    return NULL;
}

cv_xml_node_t *cv_xml_first_element(const cv_xml_node_t *n)
{
    if (!n)
        return NULL;
    cv_xml_node_t *c = n->children;
    while (c && !c->name)
        c = c->next;
    return c;
}

cv_xml_node_t *cv_xml_next_element(const cv_xml_node_t *n)
{
    if (!n)
        return NULL;
    cv_xml_node_t *c = n->next;
    while (c && !c->name)
        c = c->next;
    return c;
}

int cv_xml_text(const cv_xml_node_t *n, cv_buf_t *out)
{
    if (!n)
        return 0;
    for (const cv_xml_node_t *c = n->children; c; c = c->next) {
        if (!c->name) {
            int rc = cv_buf_append(out, c->text, c->text_len);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* ---- serializer ---- */

/* Escape classes: 1 always escaped, 2 escaped in attribute values only. */
static const uint8_t esc_class[256] = {
    ['&'] = 1, ['<'] = 1, ['>'] = 1, ['"'] = 1, ['\''] = 1, ['\r'] = 1, ['\n'] = 2, ['\t'] = 2,
};

static int escape(cv_buf_t *out, const char *s, size_t len, int attr)
{
    uint8_t mask = attr ? 3 : 1;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (!(esc_class[(unsigned char)s[i]] & mask))
            continue;
        const char *rep;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        case '\r': rep = "&#13;"; break;
        case '\n': rep = "&#10;"; break;
        default: rep = "&#9;"; break;
        }
        int rc = cv_buf_append(out, s + run, i - run);
        if (rc == 0)
            rc = cv_buf_append_str(out, rep);
        if (rc < 0)
            return rc;
        run = i + 1;
    }
    return cv_buf_append(out, s + run, len - run);
}

int cv_xml_escape_append(cv_buf_t *out, const char *s, size_t len)
{
    return escape(out, s, len, 1);
}

static int put_attr(cv_buf_t *out, const char *name, size_t nlen, const char *value)
{
    int rc = cv_buf_append(out, " ", 1);
    if (rc == 0)
        rc = cv_buf_append(out, name, nlen);
    if (rc == 0)
        rc = cv_buf_append(out, "='", 2);
    if (rc == 0)
        rc = escape(out, value, strlen(value), 1);
    if (rc == 0)
        rc = cv_buf_append(out, "'", 1);
    return rc;
}

/* Declares the prefixes of n's prefixed attributes (other than xml:), once each. */
static int put_attr_prefixes(cv_buf_t *out, const cv_xml_node_t *n)
{
    for (uint32_t i = 0; i < n->nattrs; i++) {
        const cv_xml_attr_t *a = &n->attrs[i];
        const char *colon = strchr(a->name, ':');
        if (!colon || !a->ns || a->ns[0] == '\0' || strcmp(a->ns, CV_NS_XML) == 0)
            continue;
        size_t plen = (size_t)(colon - a->name);
        uint32_t j;
        for (j = 0; j < i; j++)
            if (strncmp(n->attrs[j].name, a->name, plen + 1) == 0)
                break;
        if (j < i)
            continue;
        int rc = cv_buf_append(out, " xmlns:", 7);
        if (rc == 0)
            rc = cv_buf_append(out, a->name, plen);
        if (rc == 0)
            rc = cv_buf_append(out, "='", 2);
        if (rc == 0)
            rc = escape(out, a->ns, strlen(a->ns), 1);
        if (rc == 0)
            rc = cv_buf_append(out, "'", 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int put_start(cv_buf_t *out, const cv_xml_node_t *n, const char *parent_ns)
{
    const char *ns = n->ns ? n->ns : "";
    int rc = cv_buf_append(out, "<", 1);
    if (rc == 0)
        rc = cv_buf_append_str(out, n->name);
    if (rc == 0 && strcmp(ns, parent_ns) != 0)
        rc = put_attr(out, "xmlns", 5, ns);
    if (rc == 0)
        rc = put_attr_prefixes(out, n);
    for (uint32_t i = 0; rc == 0 && i < n->nattrs; i++)
        rc = put_attr(out, n->attrs[i].name, strlen(n->attrs[i].name), n->attrs[i].value);
    if (rc == 0)
        rc = cv_buf_append_str(out, n->children ? ">" : "/>");
    return rc;
}

int cv_xml_serialize(const cv_xml_node_t *root, const char *default_ns, cv_buf_t *out)
{
    size_t start = out->len;
    const cv_xml_node_t *n = root;
    int rc = 0;
    while (n && rc == 0) {
        if (!n->name) {
            rc = escape(out, n->text, n->text_len, 0);
        } else {
            const char *pns = n == root ? (default_ns ? default_ns : "") : n->parent->ns;
            rc = put_start(out, n, pns);
            if (rc == 0 && n->children) {
                n = n->children;
                continue;
            }
        }
        /* Leave n and every ancestor whose last child it was, closing their tags. */
        for (;;) {
            if (rc < 0 || n == root) {
                n = NULL;
                break;
            }
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
            rc = cv_buf_append(out, "</", 2);
            if (rc == 0)
                rc = cv_buf_append_str(out, n->name);
            if (rc == 0)
                rc = cv_buf_append(out, ">", 1);
        }
    }
    if (rc < 0 && out->data) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}
