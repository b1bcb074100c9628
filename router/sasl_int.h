/*
 * router/sasl_int.h — shared between the SCRAM credential code and the SASL mechanisms,
 * and the hooks their unit tests need. Not part of the public API.
 */
#ifndef CORVID_SASL_INT_H
#define CORVID_SASL_INT_H

#include "corvid/sasl.h"
#include "corvid/scram.h"

/* HMAC and hash of a SCRAM family; out holds cv_scram_hash_len(h) bytes.
   Return 0, CV_EINVAL or CV_EUNSUPP (crypto failure). */
int cv__scram_hmac(cv_scram_hash_t h, const uint8_t *key, size_t key_len, const void *data,
                   size_t len, uint8_t *out);
int cv__scram_hash(cv_scram_hash_t h, const void *data, size_t len, uint8_t *out);
/* Cryptographically random bytes. Returns 0 or CV_EUNSUPP. */
int cv__scram_random(uint8_t *out, size_t len);
/* Returns 0 when a and b are equal; time depends on len only. */
int cv__scram_ct_compare(const void *a, const void *b, size_t len);
/* Wipes memory in a way the compiler may not elide. */
void cv__scram_wipe(void *p, size_t len);

/* Tests only: makes the next server-first-message use nonce (printable, no ',', at most
   64 bytes, copied) instead of 24 random bytes, so RFC example exchanges can be replayed.
   Returns 0 or CV_EINVAL. */
int cv__sasl_set_test_nonce(cv_sasl_t *s, const char *nonce);

#endif
