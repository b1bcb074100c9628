/*
 * JID parser fuzz target: arbitrary bytes must parse or fail cleanly; a JID that parses
 * must format and parse again to the same string and the same parts (preparation is
 * idempotent), and its copies and hash must agree with it.
 */
#include <stdint.h>
#include <string.h>

#include "corvid/jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_jid_t j = CV_JID_INIT, again = CV_JID_INIT, copy = CV_JID_INIT;
    cv_buf_t one = CV_BUF_INIT, two = CV_BUF_INIT;
    int rc;

    cv_jid_t onstack;
    char buf[CV_JID_BUF_SIZE];
    int rc_buf = cv_jid_parse_buf(&onstack, (const char *)data, size, buf);

    rc = cv_jid_parse(&j, (const char *)data, size);
    /* The allocation-free parse agrees with the heap one on every input. */
    CV_ASSERT(onstack.mem == NULL);
    CV_ASSERT(rc == CV_ENOMEM || rc_buf == rc);
    CV_ASSERT(rc != 0 || rc_buf != 0 || cv_jid_full_eq(&j, &onstack));
    if (rc != 0) {
        CV_ASSERT(rc == CV_EINVAL || rc == CV_ENOMEM);
        CV_ASSERT(j.mem == NULL && j.domain == NULL);
        goto out;
    }
    CV_ASSERT(j.domain != NULL);
    CV_ASSERT(cv_jid_format_full(&j, &one) == 0);
    rc = cv_jid_parse(&again, one.data, one.len);
    CV_ASSERT(rc == 0);
    CV_ASSERT(cv_jid_full_eq(&j, &again));
    CV_ASSERT(cv_jid_format_full(&again, &two) == 0);
    CV_ASSERT(one.len == two.len && memcmp(one.data, two.data, one.len) == 0);
    CV_ASSERT(cv_jid_bare_hash(&j) == cv_jid_bare_hash(&again));
    CV_ASSERT(cv_jid_copy_bare(&copy, &j) == 0);
    CV_ASSERT(cv_jid_bare_eq(&copy, &j) && copy.resource == NULL);
    CV_ASSERT(cv_jid_bare_hash(&copy) == cv_jid_bare_hash(&j));
out:
    cv_jid_free(&copy);
    cv_jid_free(&again);
    cv_jid_free(&j);
    cv_buf_free(&one);
    cv_buf_free(&two);
    return 0;
}
