/* Fuzzes the server side of TLS as a client's bytes reach it: the ClientHello peek that
   picks a host by SNI (several hosts configured), then wolfSSL's handshake and record
   parsing behind cv_tls_conn_feed / cv_tls_conn_read.
   Input: byte 0 = how the rest is cut into feeds (1..256 bytes each, 0 = all at once);
   the rest is the client's byte stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corvid/tls.h"

/* Read-only after LLVMFuzzerInitialize. */
static cv_tls_ctx_t *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Two hosts with fresh self-signed certificates, so SNI selection has a choice. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const hosts[] = {"example.org", "other.example"};
    char dir[] = "/tmp/cv-fuzz-tls.XXXXXX";
    char cert[128], key[128];

    (void)argc;
    (void)argv;
    if (!mkdtemp(dir) || cv_tls_ctx_create(&ctx) < 0)
        abort();
    for (size_t i = 0; i < 2; i++) {
        snprintf(cert, sizeof cert, "%s/%s.crt", dir, hosts[i]);
        snprintf(key, sizeof key, "%s/%s.key", dir, hosts[i]);
        if (cv_tls_selfsigned_ensure(cert, key, hosts[i]) < 0 ||
            cv_tls_ctx_add_host(ctx, hosts[i], cert, key) < 0)
            abort();
        unlink(cert);
        unlink(key);
    }
    rmdir(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_tls_conn_t *c = NULL;
    cv_buf_t plain = CV_BUF_INIT;
    size_t cut, off = 1;

    if (size < 1 || cv_tls_conn_create(&c, ctx) < 0)
        return 0;
    cut = data[0] ? data[0] : size;
    while (off < size) {
        size_t n = size - off < cut ? size - off : cut;
        int rc = cv_tls_conn_feed(c, data + off, n);
        if (rc == 0)
            rc = cv_tls_conn_read(c, &plain);
        cv_buf_clear(cv_tls_conn_cipher_out(c));
        off += n;
        if (rc < 0)
            break; /* errors are sticky: nothing more is read */
    }
    (void)cv_tls_conn_trim(c);
    cv_tls_conn_free(c);
    cv_buf_free(&plain);
    return 0;
}
