#include <string.h>

#include "corvid/base64.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 character, or -1 (which also covers '=' and every whitespace). */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int cv_base64_encode(const void *in, size_t len, cv_buf_t *out)
{
    const uint8_t *p = in;
    size_t olen = cv_base64_encoded_len(len);
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return CV_ENOMEM;
    int rc = cv_buf_reserve(out, olen);
    if (rc < 0)
        return rc;
    char *o = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = b64_alphabet[(v >> 6) & 63];
        *o++ = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = b64_alphabet[(v >> 6) & 63];
        *o++ = '=';
    }
    out->len += olen;
    out->data[out->len] = '\0';
    return 0;
}

int cv_base64_decode(const char *in, size_t len, cv_buf_t *out)
{
    const unsigned char *s = (const unsigned char *)in;
    if (len == 0)
        return 0;
    if (len % 4 != 0)
        return CV_EINVAL;
    size_t pad = 0;
    if (s[len - 1] == '=')
        pad = (s[len - 2] == '=') ? 2 : 1;
    size_t olen = len / 4 * 3 - pad;
    int rc = cv_buf_reserve(out, olen);
    if (rc < 0)
        return rc;
    uint8_t *o = (uint8_t *)out->data + out->len;
    rc = CV_EINVAL;
    size_t full = pad ? len - 4 : len;
    for (size_t i = 0; i < full; i += 4) {
        int a = b64_value(s[i]), b = b64_value(s[i + 1]);
        int c = b64_value(s[i + 2]), d = b64_value(s[i + 3]);
        if ((a | b | c | d) < 0)
            goto out;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        *o++ = (uint8_t)(v >> 16);
        *o++ = (uint8_t)(v >> 8);
        *o++ = (uint8_t)v;
    }
    if (pad) {
        const unsigned char *q = s + len - 4;
        int a = b64_value(q[0]), b = b64_value(q[1]);
        int c = pad == 1 ? b64_value(q[2]) : 0;
        if ((a | b | c) < 0)
            goto out;
        /* The bits below the last encoded byte must be zero (RFC 4648 §3.5): otherwise
           several encodings would decode to one value. */
        if (pad == 2 && (b & 0x0f) != 0)
            goto out;
        if (pad == 1 && (c & 0x03) != 0)
            goto out;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        *o++ = (uint8_t)(v >> 16);
        if (pad == 1)
            *o++ = (uint8_t)(v >> 8);
    }
    out->len += olen;
    rc = 0;
out:
    /* On error the partial output is dropped; restore the terminator it overwrote. */
    out->data[out->len] = '\0';
    return rc;
}

int cv_base64_decode_sasl(const char *in, size_t len, cv_buf_t *out)
{
    if (len == 1 && in[0] == '=')
        return 0;
    return cv_base64_decode(in, len, out);
}
