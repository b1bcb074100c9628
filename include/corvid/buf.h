/*
 * corvid/buf.h — a growable byte buffer.
 *
 * Owns its heap block. Not thread-safe: a buffer belongs to whoever holds it (one ring
 * thread for a connection's output, one worker for a serialization). The data is always
 * followed by a NUL byte so text can be passed to C string functions.
 */
#ifndef CORVID_BUF_H
#define CORVID_BUF_H

#include "corvid/core.h"

typedef struct cv_buf_s {
    char *data; /* NULL until the first append */
    size_t len; /* bytes in use, not counting the trailing NUL */
    size_t cap; /* allocated bytes */
} cv_buf_t;

#define CV_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Returns 0 or -CV_ENOMEM. Grows geometrically. */
int cv_buf_reserve(cv_buf_t *b, size_t extra);
int cv_buf_append(cv_buf_t *b, const void *data, size_t len);
int cv_buf_append_str(cv_buf_t *b, const char *s);
/* Appends printf-style text. Returns 0 or -CV_ENOMEM. */
int cv_buf_printf(cv_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n <= len), keeping the allocation. */
void cv_buf_consume(cv_buf_t *b, size_t n);
/* Empties the buffer, keeping the allocation. */
static inline void cv_buf_clear(cv_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}
/* Frees the allocation and returns the buffer to CV_BUF_INIT. */
void cv_buf_free(cv_buf_t *b);
/* cv_buf_free for secrets (passwords, credentials): zeroes the whole allocation first. */
void cv_buf_free_wiped(cv_buf_t *b);

/* A growable list of copied strings (names gathered during a store walk, to act on after
   it). Zero-initialize; cv_strlist_free releases everything. */
typedef struct cv_strlist_s {
    char **v;
    size_t n, cap;
} cv_strlist_t;

/* Appends a copy of s. Returns 0 or -CV_ENOMEM. */
int cv_strlist_add(cv_strlist_t *l, const char *s);
void cv_strlist_free(cv_strlist_t *l);

#endif
