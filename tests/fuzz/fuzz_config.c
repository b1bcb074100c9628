/*
 * Arbitrary bytes as a configuration document, plus one override taken from the input:
 * everything after the last NUL byte (if any) is the override, the bytes before it are
 * the document. Must never crash, leak or take unbounded time.
 */
#include <stdint.h>
#include <string.h>

#include "corvid/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *doc = (const char *)data;
    size_t doclen = size;
    char *ov = NULL;
    const char *ovs[2];
    size_t nov = 0;
    const uint8_t *nul = memrchr(data, 0, size);

    if (nul) {
        doclen = (size_t)(nul - data);
        size_t ovlen = size - doclen - 1;
        ov = malloc(ovlen + 1);
        if (!ov)
            return 0;
        memcpy(ov, nul + 1, ovlen);
        ov[ovlen] = '\0';
        ovs[nov++] = ov;
    }
    /* A fixed override keeps the list-append path busy even without a NUL. */
    ovs[nov++] = "listeners.2.port=5333";

    cv_buf_t err = CV_BUF_INIT;
    cv_config_t *c = NULL;
    int rc = cv_config_load_mem(&c, "fuzz.yml", doc, doclen, ovs, nov, &err);
    if (rc == 0) {
        CV_ASSERT(c != NULL && c->nhosts > 0 && c->nlisteners > 0 && c->workers > 0);
        CV_ASSERT(c->max_stanza_size >= 10000 && c->max_output_queue >= c->max_stanza_size);
        for (size_t i = 0; i < c->nhosts; i++)
            CV_ASSERT(cv_config_host(c, c->hosts[i].name) != NULL);
    } else {
        CV_ASSERT(c == NULL);
        /* Every failure but a lack of memory explains itself. */
        CV_ASSERT(rc == CV_ENOMEM || (err.len > 0 && err.data[err.len - 1] == '\n'));
    }
    cv_config_free(c);
    cv_buf_free(&err);
    free(ov);
    return 0;
}
