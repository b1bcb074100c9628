/*
 * Self-signed certificate generation with wolfCrypt (CERT_GEN, KEY_GEN and ALT_NAMES are
 * compiled into Debian's wolfSSL 5.5.4, so no external tool is needed). Used at start-up
 * so that a fresh installation serves TLS out of the box.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/wc_port.h>

#include "corvid/log.h"
#include "corvid/tls.h"

#define CERTGEN_DAYS 3650
#define CERTGEN_SERIAL_LEN 16
#define CERTGEN_DER_MAX 4096
#define CERTGEN_PEM_MAX 8192

/* Letters, digits, '-', '.', '_' and a leading "*.": what a dNSName may hold (IDNs as A-labels). */
static int certgen_host_ok(const char *host)
{
    size_t i;
    size_t n = strlen(host);

    if (n == 0 || n > 253)
        return 0;
    i = (n > 2 && host[0] == '*' && host[1] == '.') ? 2 : 0;
    for (; i < n; i++) {
        char ch = host[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_'))
            return 0;
    }
    return 1;
}

/* Writes a DER length (below 65536) and returns the number of bytes used. */
static size_t certgen_der_len(uint8_t *p, size_t len)
{
    if (len < 0x80) {
        p[0] = (uint8_t)len;
        return 1;
    }
    if (len <= 0xff) {
        p[0] = 0x81;
        p[1] = (uint8_t)len;
        return 2;
    }
    p[0] = 0x82;
    p[1] = (uint8_t)(len >> 8);
    p[2] = (uint8_t)len;
    return 3;
}

/* GeneralNames ::= SEQUENCE { dNSName [2] IMPLICIT IA5String } with one name. */
static int certgen_san(Cert *cert, const char *host)
{
    uint8_t inner[8];
    uint8_t outer[8];
    size_t hl = strlen(host);
    size_t il;
    size_t ol;
    size_t total;

    inner[0] = 0x82;
    il = 1 + certgen_der_len(inner + 1, hl);
    outer[0] = 0x30;
    ol = 1 + certgen_der_len(outer + 1, il + hl);
    total = ol + il + hl;
    if (total > sizeof(cert->altNames))
        return CV_EINVAL;
    memcpy(cert->altNames, outer, ol);
    memcpy(cert->altNames + ol, inner, il);
    memcpy(cert->altNames + ol + il, host, hl);
    cert->altNamesSz = (int)total;
    return 0;
}

/* Creates every missing parent directory of path. */
static int certgen_mkparents(const char *path)
{
    char *dir = strdup(path);
    char *p;
    int rc = 0;

    if (dir == NULL)
        return CV_ENOMEM;
    for (p = dir + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            cv_error("tls: cannot create directory %s: %s", dir, strerror(errno));
            rc = CV_ETLS;
            break;
        }
        *p = '/';
    }
    free(dir);
    return rc;
}

/* Writes data to path through a temporary file and a rename, so readers never see half. */
static int certgen_write(const char *path, const void *data, size_t len, mode_t mode)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof(".tmpXXXXXX"));
    const char *p = data;
    ssize_t n;
    int fd = -1;
    int rc = CV_ETLS;

    if (tmp == NULL)
        return CV_ENOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmpXXXXXX", sizeof(".tmpXXXXXX"));
    fd = mkstemp(tmp); /* created with mode 0600: the key is never readable by others */
    if (fd < 0) {
        cv_error("tls: cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) != 0) {
        cv_error("tls: chmod %s: %s", tmp, strerror(errno));
        goto out;
    }
    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cv_error("tls: write %s: %s", tmp, n < 0 ? strerror(errno) : "short write");
            goto out;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0) {
        cv_error("tls: fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        cv_error("tls: close %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        cv_error("tls: rename %s to %s: %s", tmp, path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp[plen] != '\0')
        unlink(tmp);
    free(tmp);
    return rc;
}

/* Writes the private key as "EC PRIVATE KEY" PEM, mode 0600, wiping the copies made. */
static int certgen_write_key(ecc_key *key, const char *path)
{
    uint8_t kder[256];
    uint8_t kpem[1024];
    int der_len;
    int pem_len;
    int rc = CV_ETLS;

    der_len = wc_EccKeyToDer(key, kder, sizeof(kder));
    if (der_len <= 0) {
        cv_error("tls: cannot encode the private key: %s", wc_GetErrorString(der_len));
        goto out;
    }
    pem_len = wc_DerToPem(kder, (word32)der_len, kpem, sizeof(kpem), ECC_PRIVATEKEY_TYPE);
    if (pem_len <= 0) {
        cv_error("tls: cannot encode the private key: %s", wc_GetErrorString(pem_len));
        goto out;
    }
    rc = certgen_write(path, kpem, (size_t)pem_len, 0600);
out:
    explicit_bzero(kder, sizeof(kder));
    explicit_bzero(kpem, sizeof(kpem));
    return rc;
}

int cv_tls_selfsigned_ensure(const char *cert_pem, const char *key_pem, const char *host)
{
    WC_RNG rng;
    ecc_key key;
    Cert *cert = NULL;
    uint8_t *der = NULL;
    uint8_t *pem = NULL;
    int crypt_inited = 0;
    int rng_inited = 0;
    int key_inited = 0;
    int ret;
    int der_len;
    int pem_len;
    int rc = CV_ETLS;

    if (cert_pem == NULL || key_pem == NULL || host == NULL || !certgen_host_ok(host))
        return CV_EINVAL;
    if (access(cert_pem, F_OK) == 0 && access(key_pem, F_OK) == 0)
        return 0;

    if (wolfCrypt_Init() != 0)
        goto out;
    crypt_inited = 1;
    if (wc_InitRng(&rng) != 0)
        goto out;
    rng_inited = 1;
    if (wc_ecc_init(&key) != 0)
        goto out;
    key_inited = 1;
    ret = wc_ecc_make_key_ex(&rng, 32, &key, ECC_SECP256R1);
    if (ret != 0) {
        cv_error("tls: EC key generation failed: %s", wc_GetErrorString(ret));
        goto out;
    }
    /* This build signs with timing-resistant ECC, which needs the key's own RNG. */
    if (wc_ecc_set_rng(&key, &rng) != 0)
        goto out;

    /* The Cert structure holds a 16 KB subjectAltName area: keep it off the stack. */
    rc = CV_ENOMEM;
    cert = calloc(1, sizeof(*cert));
    der = malloc(CERTGEN_DER_MAX);
    pem = malloc(CERTGEN_PEM_MAX);
    if (cert == NULL || der == NULL || pem == NULL)
        goto out;
    rc = CV_ETLS;
    if (wc_InitCert(cert) != 0)
        goto out;
    cert->sigType = CTC_SHA256wECDSA;
    cert->daysValid = CERTGEN_DAYS;
    cert->isCA = 0;
    /* A commonName is at most 64 characters (RFC 5280); longer names live in the SAN only. */
    if (strlen(host) < sizeof(cert->subject.commonName))
        strcpy(cert->subject.commonName, host);
    if (wc_RNG_GenerateBlock(&rng, cert->serial, CERTGEN_SERIAL_LEN) != 0)
        goto out;
    /* Positive and without a leading zero octet, so the INTEGER is exactly 16 bytes. */
    cert->serial[0] = (uint8_t)((cert->serial[0] & 0x7f) | 0x40);
    cert->serialSz = CERTGEN_SERIAL_LEN;
    if (certgen_san(cert, host) != 0)
        goto out;
    if (wc_SetKeyUsage(cert, "digitalSignature") != 0 ||
        wc_SetExtKeyUsage(cert, "serverAuth,clientAuth") != 0) {
        cv_error("tls: cannot set key usage extensions");
        goto out;
    }

    ret = wc_MakeCert(cert, der, CERTGEN_DER_MAX, NULL, &key, &rng);
    if (ret < 0) {
        cv_error("tls: wc_MakeCert failed: %s", wc_GetErrorString(ret));
        goto out;
    }
    der_len = wc_SignCert(cert->bodySz, cert->sigType, der, CERTGEN_DER_MAX, NULL, &key, &rng);
    if (der_len < 0) {
        cv_error("tls: wc_SignCert failed: %s", wc_GetErrorString(der_len));
        goto out;
    }

    /* Key first: a crash between the two renames leaves the certificate missing, and the
     * next start regenerates both. */
    rc = certgen_mkparents(key_pem);
    if (rc < 0)
        goto out;
    rc = certgen_mkparents(cert_pem);
    if (rc < 0)
        goto out;
    rc = certgen_write_key(&key, key_pem);
    if (rc < 0)
        goto out;
    rc = CV_ETLS;
    pem_len = wc_DerToPem(der, (word32)der_len, pem, CERTGEN_PEM_MAX, CERT_TYPE);
    if (pem_len <= 0) {
        cv_error("tls: cannot encode the certificate: %s", wc_GetErrorString(pem_len));
        goto out;
    }
    rc = certgen_write(cert_pem, pem, (size_t)pem_len, 0644);
    if (rc < 0)
        goto out;
    cv_info("tls: created self-signed certificate %s for %s (key %s)", cert_pem, host, key_pem);
    rc = 0;
out:
    if (rc == CV_ETLS && !crypt_inited)
        cv_error("tls: wolfCrypt initialisation failed");
    free(pem);
    free(der);
    free(cert);
    if (key_inited)
        wc_ecc_free(&key);
    if (rng_inited)
        wc_FreeRng(&rng);
    if (crypt_inited)
        wolfCrypt_Cleanup();
    return rc;
}
