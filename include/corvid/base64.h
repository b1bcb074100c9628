/*
 * corvid/base64.h — strict base64 (RFC 4648 §4, standard alphabet, padded).
 *
 * Owns nothing: pure functions over caller memory, callable from any thread. The decoder
 * accepts only canonical input (RFC 4648 §3.5 trailing bits zero, exact padding, no
 * whitespace or line breaks) because XMPP SASL payloads forbid anything else
 * (RFC 6120 §6.4.2) and because two spellings of one value would make comparisons of
 * encoded data unreliable.
 */
#ifndef CORVID_BASE64_H
#define CORVID_BASE64_H

#include "corvid/buf.h"

/* Length of the encoding of len bytes (padding included, no NUL). */
static inline size_t cv_base64_encoded_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

/* Thread: any. Appends the encoding of in[0..len) to out (which stays NUL-terminated).
   Returns 0 or CV_ENOMEM (negative); out is unchanged on error. */
int cv_base64_encode(const void *in, size_t len, cv_buf_t *out);

/* Thread: any. Appends the bytes encoded by in[0..len) to out. The empty string decodes to
   nothing. Returns 0, CV_EINVAL on any non-canonical input (bad character, length not a
   multiple of 4, misplaced or missing padding, non-zero trailing bits, whitespace) or
   CV_ENOMEM; out is unchanged on error. A lone "=" is rejected: see
   cv_base64_decode_sasl. */
int cv_base64_decode(const char *in, size_t len, cv_buf_t *out);

/* Thread: any. Decodes the text content of an XMPP SASL element (<auth>, <response>):
   "=" means an empty payload (RFC 6120 §6.4.2) and is the only way to spell one besides
   an absent text; everything else goes through cv_base64_decode. Returns as
   cv_base64_decode. The caller distinguishes "no text" (no initial response) from "="
   itself, before calling, if it needs to. */
int cv_base64_decode_sasl(const char *in, size_t len, cv_buf_t *out);

#endif
