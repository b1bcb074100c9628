/*
 * The generic half of the configuration: YAML text to a small tree of maps, lists and
 * scalars that remembers where each node came from, plus "--set path=value" overrides
 * applied to that tree. The schema (config.c) never sees libyaml.
 *
 * Anchors and aliases are rejected outright: expanding them is the classic
 * "billion laughs" amplification, and a server configuration has no need for them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "corvid/config.h"
#include "config_int.h"

typedef struct cv_config_parser_s {
    cv__config_diag_t *d;
    const cv__config_src_t *src;
    const char *data;
    size_t len;
    yaml_parser_t yp;
    size_t nodes;
} cv_config_parser_t;

void cv__config_error(cv__config_diag_t *d, const cv__config_src_t *src, uint32_t line,
                      const char *fmt, ...)
{
    d->nerrors++;
    if (!d->err || d->nerrors > CV__CONFIG_MAX_ERRORS + 1)
        return;
    if (d->nerrors == CV__CONFIG_MAX_ERRORS + 1) {
        /* A document full of mistakes must not produce an unbounded report. */
        (void)cv_buf_append_str(d->err, "too many errors; stopping the report here\n");
        return;
    }
    char esc[CV__CONFIG_ESC_CAP];
    int rc = 0;
    switch (src->kind) {
    case CV__CONFIG_SRC_DOC:
        /* Line 0 means the problem concerns the whole file (unreadable, too large). */
        if (line)
            rc = cv_buf_printf(d->err, "%s:%u: ", src->text, line);
        else
            rc = cv_buf_printf(d->err, "%s: ", src->text);
        break;
    case CV__CONFIG_SRC_OVERRIDE:
        rc = cv_buf_printf(
            d->err, "--set %s: ", cv__config_escape(esc, sizeof esc, src->text, strlen(src->text)));
        break;
    case CV__CONFIG_SRC_DEFAULT: rc = cv_buf_append_str(d->err, "built-in default: "); break;
    }
    if (rc < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    char line_buf[512];
    int n = vsnprintf(line_buf, sizeof line_buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (cv_buf_append_str(d->err, line_buf) < 0)
        return;
    (void)cv_buf_append(d->err, "\n", 1);
}

const char *cv__config_escape(char *dst, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    CV_ASSERT(cap >= 8);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        /* Leave room for the longest escape plus "..." and the NUL. */
        if (o + 4 + 4 > cap) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
    return dst;
}

int cv__config_is_null(const cv__config_node_t *n)
{
    if (n->kind != CV__CONFIG_SCALAR || !n->plain)
        return 0;
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

static cv__config_node_t *node_new(cv__config_kind_t kind, const cv__config_src_t *src,
                                   uint32_t line)
{
    cv__config_node_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->src = src;
    n->line = line;
    return n;
}

cv__config_node_t *cv__config_map_new(const cv__config_src_t *src, uint32_t line)
{
    return node_new(CV__CONFIG_MAP, src, line);
}

static cv__config_node_t *scalar_new(const cv__config_src_t *src, uint32_t line, const char *s,
                                     size_t len, int plain)
{
    cv__config_node_t *n = node_new(CV__CONFIG_SCALAR, src, line);
    if (!n)
        return NULL;
    n->text = malloc(len + 1);
    if (!n->text) {
        free(n);
        return NULL;
    }
    memcpy(n->text, s, len);
    n->text[len] = '\0';
    n->len = len;
    n->plain = plain;
    return n;
}

void cv__config_node_free(cv__config_node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        free(n->ent[i].key);
        cv__config_node_free(n->ent[i].val);
    }
    free(n->ent);
    free(n->text);
    free(n);
}

/* Appends an entry; on success the node owns key and val. Returns 0 or CV_ENOMEM. */
static int node_push(cv__config_node_t *n, char *key, const cv__config_src_t *key_src,
                     uint32_t key_line, cv__config_node_t *val)
{
    if (n->n == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 4;
        cv__config_entry_t *e = realloc(n->ent, cap * sizeof *e);
        if (!e)
            return CV_ENOMEM;
        n->ent = e;
        n->cap = cap;
    }
    n->ent[n->n++] = (cv__config_entry_t){key, key_src, key_line, val};
    return 0;
}

const cv__config_entry_t *cv__config_map_find(const cv__config_node_t *map, const char *key)
{
    if (map->kind != CV__CONFIG_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->ent[i].key, key) == 0)
            return &map->ent[i];
    }
    return NULL;
}

static uint32_t line_of(size_t line0)
{
    return line0 >= UINT32_MAX ? UINT32_MAX : (uint32_t)line0 + 1;
}

/* Reports libyaml's own diagnosis of the text. */
static int report_yaml_error(cv_config_parser_t *p)
{
    const yaml_parser_t *yp = &p->yp;
    if (yp->error == YAML_MEMORY_ERROR)
        return CV_ENOMEM;
    const char *problem = yp->problem ? yp->problem : "unknown problem";
    size_t line0 = yp->problem_mark.line;
    if (yp->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset, not a mark: count the lines before it. */
        size_t off = yp->problem_offset < p->len ? yp->problem_offset : p->len;
        line0 = 0;
        for (size_t i = 0; i < off; i++)
            line0 += p->data[i] == '\n';
    }
    if (yp->context)
        cv__config_error(p->d, p->src, line_of(line0), "syntax error: %s (%s at line %u)", problem,
                         yp->context, line_of(yp->context_mark.line));
    else
        cv__config_error(p->d, p->src, line_of(line0), "syntax error: %s", problem);
    return CV_ECONFIG;
}

static int next_event(cv_config_parser_t *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&p->yp, ev))
        return report_yaml_error(p);
    return 0;
}

static int reject_anchor(cv_config_parser_t *p, const yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT: anchor = ev->data.scalar.anchor; break;
    case YAML_SEQUENCE_START_EVENT: anchor = ev->data.sequence_start.anchor; break;
    case YAML_MAPPING_START_EVENT: anchor = ev->data.mapping_start.anchor; break;
    case YAML_ALIAS_EVENT: anchor = ev->data.alias.anchor; break;
    default: break;
    }
    if (!anchor && ev->type != YAML_ALIAS_EVENT)
        return 0;
    cv__config_error(p->d, p->src, line_of(ev->start_mark.line),
                     "anchors and aliases (&name, *name) are not supported");
    return CV_ECONFIG;
}

static int parse_node(cv_config_parser_t *p, yaml_event_t *ev, unsigned depth,
                      cv__config_node_t **out);

/* Parses the entries of a map or list whose start event was just consumed. */
static int parse_children(cv_config_parser_t *p, cv__config_node_t *n, unsigned depth)
{
    yaml_event_t ev;
    char esc[CV__CONFIG_ESC_CAP];
    int rc;
    for (;;) {
        rc = next_event(p, &ev);
        if (rc < 0)
            return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        char *key = NULL;
        uint32_t key_line = line_of(ev.start_mark.line);
        if (n->kind == CV__CONFIG_MAP) {
            if (ev.type != YAML_SCALAR_EVENT) {
                rc = reject_anchor(p, &ev);
                if (rc == 0) {
                    cv__config_error(p->d, p->src, key_line, "map keys must be plain scalars");
                    rc = CV_ECONFIG;
                }
                yaml_event_delete(&ev);
                return rc;
            }
            const char *k = (const char *)ev.data.scalar.value;
            size_t klen = ev.data.scalar.length;
            rc = reject_anchor(p, &ev);
            if (rc == 0 && memchr(k, '\0', klen)) {
                cv__config_error(p->d, p->src, key_line, "map key contains a NUL character");
                rc = CV_ECONFIG;
            }
            if (rc == 0 && n->n >= CV__CONFIG_MAX_MAP_KEYS) {
                cv__config_error(p->d, p->src, key_line, "map has more than %u keys",
                                 CV__CONFIG_MAX_MAP_KEYS);
                rc = CV_ECONFIG;
            }
            const cv__config_entry_t *dup = rc == 0 ? cv__config_map_find(n, k) : NULL;
            if (dup) {
                cv__config_error(p->d, p->src, key_line, "duplicate key \"%s\" (first at line %u)",
                                 cv__config_escape(esc, sizeof esc, k, klen), dup->key_line);
                rc = CV_ECONFIG;
            }
            if (rc == 0 && !(key = strdup(k)))
                rc = CV_ENOMEM;
            yaml_event_delete(&ev);
            if (rc < 0)
                return rc;
            rc = next_event(p, &ev);
            if (rc < 0) {
                free(key);
                return rc;
            }
        }
        cv__config_node_t *val = NULL;
        rc = parse_node(p, &ev, depth + 1, &val);
        if (rc == 0)
            rc = node_push(n, key, p->src, key_line, val);
        if (rc < 0) {
            free(key);
            cv__config_node_free(val);
            return rc;
        }
    }
}

/* Consumes ev (always deleted) and what follows it up to the end of that node. */
static int parse_node(cv_config_parser_t *p, yaml_event_t *ev, unsigned depth,
                      cv__config_node_t **out)
{
    cv__config_node_t *n = NULL;
    uint32_t line = line_of(ev->start_mark.line);
    int rc = reject_anchor(p, ev);
    if (rc < 0)
        goto out;
    if (++p->nodes > CV__CONFIG_MAX_NODES) {
        cv__config_error(p->d, p->src, line, "document has more than %u nodes",
                         CV__CONFIG_MAX_NODES);
        rc = CV_ECONFIG;
        goto out;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *s = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (len > CV__CONFIG_MAX_SCALAR) {
            cv__config_error(p->d, p->src, line, "value longer than %u bytes",
                             CV__CONFIG_MAX_SCALAR);
            rc = CV_ECONFIG;
            goto out;
        }
        if (memchr(s, '\0', len)) {
            cv__config_error(p->d, p->src, line, "value contains a NUL character");
            rc = CV_ECONFIG;
            goto out;
        }
        n = scalar_new(p->src, line, s, len, ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
        rc = n ? 0 : CV_ENOMEM;
        goto out;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (depth >= CV__CONFIG_MAX_NESTING) {
            cv__config_error(p->d, p->src, line, "maps and lists nested more than %u deep",
                             CV__CONFIG_MAX_NESTING);
            rc = CV_ECONFIG;
            goto out;
        }
        n = node_new(ev->type == YAML_MAPPING_START_EVENT ? CV__CONFIG_MAP : CV__CONFIG_SEQ, p->src,
                     line);
        if (!n) {
            rc = CV_ENOMEM;
            goto out;
        }
        yaml_event_delete(ev);
        rc = parse_children(p, n, depth);
        if (rc < 0) {
            cv__config_node_free(n);
            n = NULL;
        }
        *out = n;
        return rc;
    default:
        /* libyaml only produces the events above inside a document. */
        cv__config_error(p->d, p->src, line, "syntax error: unexpected YAML event");
        rc = CV_ECONFIG;
        goto out;
    }
out:
    yaml_event_delete(ev);
    *out = n;
    return rc;
}

int cv__config_parse(cv__config_diag_t *d, const cv__config_src_t *src, const char *data,
                     size_t len, cv__config_node_t **out)
{
    cv_config_parser_t p = {.d = d, .src = src, .data = data, .len = len};
    cv__config_node_t *root = NULL;
    yaml_event_t ev;
    int rc;

    *out = NULL;
    if (!yaml_parser_initialize(&p.yp))
        return CV_ENOMEM;
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)data, len);

    rc = next_event(&p, &ev); /* STREAM-START */
    if (rc < 0)
        goto out;
    yaml_event_delete(&ev);
    rc = next_event(&p, &ev);
    if (rc < 0)
        goto out;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        goto out;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    rc = next_event(&p, &ev);
    if (rc < 0)
        goto out;
    rc = parse_node(&p, &ev, 0, &root);
    if (rc < 0)
        goto out;
    rc = next_event(&p, &ev); /* DOCUMENT-END */
    if (rc < 0)
        goto out;
    yaml_event_delete(&ev);
    rc = next_event(&p, &ev);
    if (rc < 0)
        goto out;
    if (ev.type != YAML_STREAM_END_EVENT) {
        cv__config_error(d, src, line_of(ev.start_mark.line),
                         "expected one YAML document, found a second one");
        rc = CV_ECONFIG;
    }
    yaml_event_delete(&ev);
out:
    yaml_parser_delete(&p.yp);
    if (rc < 0) {
        cv__config_node_free(root);
        root = NULL;
    }
    *out = root;
    return rc;
}

void cv__config_merge_defaults(cv__config_node_t *root, cv__config_node_t *defs)
{
    if (root->kind != CV__CONFIG_MAP || defs->kind != CV__CONFIG_MAP)
        return;
    for (size_t i = 0; i < defs->n; i++) {
        cv__config_entry_t *de = &defs->ent[i];
        cv__config_entry_t *re = (cv__config_entry_t *)cv__config_map_find(root, de->key);
        if (re && re->val->kind == CV__CONFIG_MAP) {
            cv__config_merge_defaults(re->val, de->val);
        } else if (re && cv__config_is_null(re->val)) {
            cv__config_node_free(re->val);
            re->val = de->val;
            de->val = NULL;
        } else if (!re && node_push(root, de->key, de->key_src, de->key_line, de->val) == 0) {
            de->key = NULL;
            de->val = NULL;
        }
        /* Out of memory above only loses a default list; the schema then asks for it. */
    }
}

/* Parses a list index: decimal digits only, no sign, no leading zero. */
static int parse_index(const char *s, size_t *out)
{
    size_t v = 0;
    if (!*s || (s[0] == '0' && s[1]))
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int is_index(const char *s)
{
    size_t v;
    return parse_index(s, &v) == 0;
}

#define CV_CONFIG_MAX_SEGMENTS 16

int cv__config_apply_override(cv__config_diag_t *d, cv__config_node_t *root,
                              const cv__config_src_t *src)
{
    char *path = NULL;
    cv__config_node_t *val = NULL;
    char *seg[CV_CONFIG_MAX_SEGMENTS];
    size_t nseg = 0;
    char esc[CV__CONFIG_ESC_CAP];
    int rc = 0;

    const char *eq = strchr(src->text, '=');
    if (!eq || eq == src->text) {
        cv__config_error(d, src, 0, "expected path=value, such as limits.max_depth=16");
        rc = CV_ECONFIG;
        goto out;
    }
    path = strndup(src->text, (size_t)(eq - src->text));
    if (!path) {
        rc = CV_ENOMEM;
        goto out;
    }
    for (char *s = path;;) {
        char *dot = strchr(s, '.');
        if (dot)
            *dot = '\0';
        if (!*s) {
            cv__config_error(d, src, 0, "empty path segment");
            rc = CV_ECONFIG;
            goto out;
        }
        if (nseg == CV_CONFIG_MAX_SEGMENTS) {
            cv__config_error(d, src, 0, "path has more than %d segments", CV_CONFIG_MAX_SEGMENTS);
            rc = CV_ECONFIG;
            goto out;
        }
        seg[nseg++] = s;
        if (!dot)
            break;
        s = dot + 1;
    }
    rc = cv__config_parse(d, src, eq + 1, strlen(eq + 1), &val);
    if (rc < 0)
        goto out;
    if (!val && !(val = scalar_new(src, 1, "", 0, 1))) {
        rc = CV_ENOMEM;
        goto out;
    }

    /* The path up to segment i, for messages (path is split in place, src->text is not). */
#define PREFIX(i) (int)((i) > 0 ? seg[i] - path - 1 : 0)
    /* Walk down, creating what is missing; the last segment receives val. */
    cv__config_node_t *cur = root;
    for (size_t i = 0; i < nseg; i++) {
        int last = i + 1 == nseg;
        cv__config_node_t **slot = NULL;
        if (cur->kind == CV__CONFIG_MAP) {
            cv__config_entry_t *e = (cv__config_entry_t *)cv__config_map_find(cur, seg[i]);
            if (e) {
                slot = &e->val;
            } else {
                char *key = strdup(seg[i]);
                if (!key || node_push(cur, key, src, 1, NULL) < 0) {
                    free(key);
                    rc = CV_ENOMEM;
                    goto out;
                }
                slot = &cur->ent[cur->n - 1].val;
            }
        } else if (cur->kind == CV__CONFIG_SEQ) {
            size_t idx;
            if (parse_index(seg[i], &idx) < 0 || idx > cur->n) {
                if (parse_index(seg[i], &idx) < 0)
                    cv__config_error(d, src, 0, "\"%.*s\" is a list: expected an index, got \"%s\"",
                                     PREFIX(i), src->text,
                                     cv__config_escape(esc, sizeof esc, seg[i], strlen(seg[i])));
                else
                    cv__config_error(d, src, 0,
                                     "index %zu is out of range: \"%.*s\" has %zu elements "
                                     "(use %zu to append one)",
                                     idx, PREFIX(i), src->text, cur->n, cur->n);
                rc = CV_ECONFIG;
                goto out;
            }
            if (idx == cur->n) {
                if (node_push(cur, NULL, src, 1, NULL) < 0) {
                    rc = CV_ENOMEM;
                    goto out;
                }
            }
            slot = &cur->ent[idx].val;
        } else {
            cv__config_error(d, src, 0, "cannot set \"%s\" inside \"%.*s\": it is a single value",
                             cv__config_escape(esc, sizeof esc, seg[i], strlen(seg[i])), PREFIX(i),
                             src->text);
            rc = CV_ECONFIG;
            goto out;
        }
        if (last) {
            cv__config_node_free(*slot);
            *slot = val;
            val = NULL;
            break;
        }
        if (!*slot || cv__config_is_null(*slot)) {
            /* A missing or empty parent becomes whatever the next segment needs. */
            cv__config_node_t *n =
                node_new(is_index(seg[i + 1]) ? CV__CONFIG_SEQ : CV__CONFIG_MAP, src, 1);
            if (!n) {
                rc = CV_ENOMEM;
                goto out;
            }
            cv__config_node_free(*slot);
            *slot = n;
        }
        cur = *slot;
    }
#undef PREFIX
out:
    cv__config_node_free(val);
    free(path);
    return rc;
}
