#include <stdarg.h>
#include <string.h>

#include "corvid/buf.h"

int cv_buf_reserve(cv_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return CV_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cv_buf_append(cv_buf_t *b, const void *data, size_t len)
{
    int rc = cv_buf_reserve(b, len);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int cv_buf_append_str(cv_buf_t *b, const char *s)
{
    return cv_buf_append(b, s, strlen(s));
}

int cv_buf_printf(cv_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CV_EINVAL;
    int rc = cv_buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void cv_buf_consume(cv_buf_t *b, size_t n)
{
    CV_ASSERT(n <= b->len);
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void cv_buf_free(cv_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void cv_buf_free_wiped(cv_buf_t *b)
{
    /* volatile: the stores must happen although the memory is freed right after. */
    volatile char *p = b->data;
    for (size_t i = 0; p && i < b->cap; i++)
        p[i] = 0;
    cv_buf_free(b);
}

int cv_strlist_add(cv_strlist_t *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return CV_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = strdup(s);
    return l->v[l->n] ? (l->n++, 0) : CV_ENOMEM;
}

void cv_strlist_free(cv_strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
