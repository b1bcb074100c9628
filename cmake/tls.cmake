# TLS over memory buffers (wolfSSL) and self-signed certificate generation.
add_library(cv_tls STATIC net/tls.c net/certgen.c)
target_link_libraries(cv_tls PUBLIC cv_core PkgConfig::WOLFSSL)

cv_unit_test(test_tls_conn SOURCES tests/unit/test_tls.c LIBS cv_tls)
