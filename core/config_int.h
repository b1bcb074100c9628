/*
 * core/config_int.h — inside the config module: the generic YAML tree, command-line
 * overrides and error reporting shared by config_yaml.c (tree) and config.c (schema).
 *
 * Everything here lives for one cv_config_load call on one thread.
 */
#ifndef CORVID_CONFIG_INT_H
#define CORVID_CONFIG_INT_H

#include "corvid/core.h"
#include "corvid/buf.h"

/* Bounds that keep a hostile or mistaken document from costing unbounded time or memory. */
#define CV__CONFIG_MAX_INPUT (16u << 20) /* bytes of YAML */
#define CV__CONFIG_MAX_NODES 100000u     /* nodes per parsed document */
#define CV__CONFIG_MAX_NESTING 32u       /* maps and lists inside each other */
#define CV__CONFIG_MAX_MAP_KEYS 256u     /* keys in one map (the schema has far fewer) */
#define CV__CONFIG_MAX_SCALAR 65536u     /* bytes in one scalar */
#define CV__CONFIG_MAX_ERRORS 32u        /* messages before "too many errors" */

/* Where a node came from; messages are prefixed from it. */
typedef enum cv__config_src_kind_e {
    CV__CONFIG_SRC_DOC,      /* text = document name; messages say "name:line:" */
    CV__CONFIG_SRC_OVERRIDE, /* text = "path=value"; messages say "--set path=value:" */
    CV__CONFIG_SRC_DEFAULT,  /* built-in default lists; messages say "built-in default:" */
} cv__config_src_kind_t;

typedef struct cv__config_src_s {
    cv__config_src_kind_t kind;
    const char *text; /* borrowed; outlives the tree */
} cv__config_src_t;

typedef enum cv__config_kind_e {
    CV__CONFIG_MAP,
    CV__CONFIG_SEQ,
    CV__CONFIG_SCALAR,
} cv__config_kind_t;

typedef struct cv__config_node_s cv__config_node_t;

/* A map entry (key set) or a list element (key NULL). Owns key and val. */
typedef struct cv__config_entry_s {
    char *key;
    const cv__config_src_t *key_src;
    uint32_t key_line;
    cv__config_node_t *val;
} cv__config_entry_t;

struct cv__config_node_s {
    cv__config_kind_t kind;
    uint32_t line; /* 1-based line in its source */
    const cv__config_src_t *src;
    char *text; /* scalar only: NUL-terminated, never contains NUL itself */
    size_t len;
    int plain;               /* scalar written without quotes: only then can it mean null */
    cv__config_entry_t *ent; /* map or list: n entries */
    size_t n, cap;
};

/* Collects error lines for one load. */
typedef struct cv__config_diag_s {
    cv_buf_t *err; /* may be NULL */
    unsigned nerrors;
} cv__config_diag_t;

/* Appends "<where>: <message>\n" to d->err and counts it. Never fails (a message that
 * cannot be stored for lack of memory is dropped, but still counted). */
void cv__config_error(cv__config_diag_t *d, const cv__config_src_t *src, uint32_t line,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Writes s (len bytes) into dst (cap >= 8) with control and non-ASCII bytes escaped as
 * \xHH, quotes and backslashes escaped, cut with "..." if long. Returns dst. */
const char *cv__config_escape(char *dst, size_t cap, const char *s, size_t len);
#define CV__CONFIG_ESC_CAP 96

/* Parses one YAML document. *out is NULL for an empty document. Returns 0, CV_ECONFIG
 * (the problem was reported) or CV_ENOMEM. */
int cv__config_parse(cv__config_diag_t *d, const cv__config_src_t *src, const char *data,
                     size_t len, cv__config_node_t **out);

/* Applies src->text ("a.b.0=value") to the map root. Returns 0, CV_ECONFIG or CV_ENOMEM. */
int cv__config_apply_override(cv__config_diag_t *d, cv__config_node_t *root,
                              const cv__config_src_t *src);

/* Moves every value of the map defs whose key is absent (or null) in the map root into
 * root, recursing where both hold a map. defs is left with holes; free it afterwards. */
void cv__config_merge_defaults(cv__config_node_t *root, cv__config_node_t *defs);

/* Returns an empty map, or NULL when out of memory. */
cv__config_node_t *cv__config_map_new(const cv__config_src_t *src, uint32_t line);
void cv__config_node_free(cv__config_node_t *n);

/* Returns the entry of map whose key is key, or NULL. */
const cv__config_entry_t *cv__config_map_find(const cv__config_node_t *map, const char *key);

/* A plain empty scalar, "~" or "null" (any YAML case): the key is treated as absent. */
int cv__config_is_null(const cv__config_node_t *n);

#endif
