/*
 * corvid/stanza.h — the stanza tree: a compact, owned XML element tree.
 *
 * Owns: one arena per stanza. Every node, attribute array and string of a stanza lives in
 * that arena (a chain of heap blocks; a stanza produced by the stream parser or by
 * cv_stanza_clone is one block sized exactly to the tree), so a stanza costs one malloc
 * and is released at once by cv_stanza_free. There is no per-node allocation and no
 * reference counting.
 *
 * Threads: a stanza belongs to one thread at a time (whoever holds the pointer: the
 * connection's ring owner after parsing, then the session actor that routes it). Handing
 * it over hands over ownership. The functions below keep no shared state, so any thread
 * may call them on the stanzas it owns. Queries and the serializer never modify a tree,
 * so several threads may read one tree at the same time if no thread modifies it.
 *
 * Tree invariants (kept by the parser and by the builders): an element's ns is never NULL
 * ("" for no namespace); text nodes have name == NULL and ns == NULL; two text nodes are
 * never adjacent (consecutive character data is merged) and never empty; all strings are
 * NUL-terminated, valid UTF-8 made only of XML 1.0 characters.
 */
#ifndef CORVID_STANZA_H
#define CORVID_STANZA_H

#include "corvid/buf.h"
#include "corvid/mpsc.h"
#include "corvid/core.h"

typedef struct cv_xml_attr_s {
    /* Qualified name as written, e.g. "to" or "xml:lang". Namespace declarations (xmlns,
     * xmlns:p) are never attributes: they are resolved into the ns of nodes and attrs. */
    const char *name;
    const char *value; /* unescaped */
    /* Namespace URI of a prefixed attribute ("xml:lang" -> CV_NS_XML); "" when the name
     * has no prefix. The serializer re-declares the prefix where needed. */
    const char *ns;
} cv_xml_attr_t;

typedef struct cv_xml_node_s cv_xml_node_t;
struct cv_xml_node_s {
    cv_xml_node_t *parent, *next, *children, *last_child;
    const char *name; /* local name; NULL for a text node */
    const char *ns;   /* resolved namespace URI, "" if none; NULL for text */
    const char *text; /* text nodes only: unescaped character data, NUL-terminated */
    size_t text_len;
    cv_xml_attr_t *attrs;
    uint32_t nattrs;
    uint32_t attrs_cap; /* capacity of attrs; builders grow it inside the arena */
};

/* The arena plus its root element. Opaque. */
typedef struct cv_stanza_s cv_stanza_t;

/* Thread: owner. Returns the root element (NULL only for an internal scratch arena). */
cv_xml_node_t *cv_stanza_root(cv_stanza_t *st);

/* A queue link inside the stanza, so the holder can queue it (e.g. on an actor's
   mailbox, corvid/mpsc.h) without allocating; and back from the link to the stanza. */
cv_mpsc_node_t *cv_stanza_node(cv_stanza_t *st);
cv_stanza_t *cv_stanza_of_node(cv_mpsc_node_t *n);

/*
 * Builders (used by the server to make replies). Names are validated (an element name is
 * a local name without ':'; an attribute name is a local name or "xml:<local>"); values
 * and text must be valid UTF-8 made of XML characters, so whatever a builder accepts
 * serializes to well-formed XML.
 */

/* Thread: any. Creates a stanza whose root element is name in namespace ns (NULL = "").
 * On success *out is owned by the caller. Returns 0, -CV_EINVAL or -CV_ENOMEM. */
int cv_stanza_new(cv_stanza_t **out, const char *name, const char *ns);
/* Thread: owner of st. Appends an element child to parent (an element of st). ns NULL
 * means the parent's namespace. Returns the child, or NULL on OOM or invalid input. */
cv_xml_node_t *cv_stanza_add_child(cv_stanza_t *st, cv_xml_node_t *parent, const char *name,
                                   const char *ns);
/* Thread: owner of st. Sets name=value on node, replacing an existing value; value NULL
 * removes the attribute (0 if it was absent). Returns 0, -CV_EINVAL or -CV_ENOMEM. */
int cv_stanza_set_attr(cv_stanza_t *st, cv_xml_node_t *node, const char *name, const char *value);
/* Thread: owner of st. Appends len bytes of character data to parent, merging with a
 * text node that is already the last child. len 0 is a no-op. Returns 0, -CV_EINVAL or
 * -CV_ENOMEM. */
int cv_stanza_add_text(cv_stanza_t *st, cv_xml_node_t *parent, const char *text, size_t len);
/* Thread: any. Deep-copies the element n (of any tree) into a new stanza made of one
 * block sized exactly to the copy. *out is owned by the caller. Returns 0, -CV_EINVAL
 * (n is a text node) or -CV_ENOMEM. */
int cv_stanza_clone(const cv_xml_node_t *n, cv_stanza_t **out);
/* Thread: owner. Heap bytes held by the arena. */
size_t cv_stanza_memory(const cv_stanza_t *st);
/* Thread: owner. Frees the whole tree; every node pointer into it becomes invalid.
 * NULL is allowed. */
void cv_stanza_free(cv_stanza_t *st);

/* Queries. Thread: any reader of the tree. */

/* Value of the attribute with this qualified name, or NULL if absent. */
const char *cv_xml_attr(const cv_xml_node_t *n, const char *name);
/* First element child matching name and ns; NULL for either matches any. */
cv_xml_node_t *cv_xml_child(const cv_xml_node_t *n, const char *name, const char *ns);
cv_xml_node_t *cv_xml_first_element(const cv_xml_node_t *n);
/* Next element sibling of n, skipping text. */
cv_xml_node_t *cv_xml_next_element(const cv_xml_node_t *n);
/* Appends the concatenated direct text children of n to out. Returns 0 or -CV_ENOMEM. */
int cv_xml_text(const cv_xml_node_t *n, cv_buf_t *out);

/*
 * Thread: any reader of the tree. Appends n as XML to out: elements are written without
 * prefixes, with xmlns='...' only where an element's namespace differs from its parent's
 * (for n itself: from default_ns, NULL meaning ""); prefixed attributes get an
 * xmlns:p='...' declaration on their element. Attribute values use single quotes. Text
 * and values are escaped with cv_xml_escape_append (text keeps \t and \n literal).
 * Parsing the output gives back the same tree. On error out is left as it was on entry.
 * Returns 0 or -CV_ENOMEM.
 */
int cv_xml_serialize(const cv_xml_node_t *n, const char *default_ns, cv_buf_t *out);

/*
 * Thread: any. Appends s[0..len) escaped for use in XML character data or in an
 * attribute value (either quote): & < > " ' become entity references and \t \n \r
 * character references, so attribute-value normalization cannot alter them. The input
 * is copied as is otherwise; the caller guarantees valid UTF-8. Returns 0 or -CV_ENOMEM.
 */
int cv_xml_escape_append(cv_buf_t *out, const char *s, size_t len);

/*
 * Module-internal (cv__xml_*): the stream parser builds trees straight into an arena with
 * these. Other modules use the builders above.
 */

/* An empty arena (root NULL) with room for about cap bytes, reused across stanzas. */
int cv__xml_stanza_scratch(cv_stanza_t **out, size_t cap);
/* Forgets the tree and frees every block but the first. */
void cv__xml_stanza_clear(cv_stanza_t *st);
void cv__xml_stanza_set_root(cv_stanza_t *st, cv_xml_node_t *root);
/* n bytes, zeroed, aligned for any tree structure; NULL on OOM. */
void *cv__xml_arena_obj(cv_stanza_t *st, size_t n);
/* n + 1 writable bytes for a string, [n] already NUL; NULL on OOM. */
char *cv__xml_arena_strbuf(cv_stanza_t *st, size_t n);
/* Whether s[0..len) is valid UTF-8 made only of XML 1.0 characters. */
int cv__xml_text_valid(const char *s, size_t len);
/* Links child as the last child of parent. */
void cv__xml_node_append(cv_xml_node_t *parent, cv_xml_node_t *child);

#endif
