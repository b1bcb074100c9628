# TLS over memory buffers (wolfSSL) and self-signed certificate generation.
#
# CORVID_WOLFSSL=bundled (default): a static wolfSSL that scripts/wolfssl.sh builds from
# Debian's source package with only the features Corvid uses (docs/tls.md). One build,
# in CORVID_WOLFSSL_DIR, serves every build directory, sanitizer and fuzz builds included
# (the library itself is not instrumented, as Debian's shared one was not).
# CORVID_WOLFSSL=system: Debian's libwolfssl-dev, as packaged.
set(CORVID_WOLFSSL bundled CACHE STRING "wolfSSL to link: 'bundled' or 'system'")
set_property(CACHE CORVID_WOLFSSL PROPERTY STRINGS bundled system)
set(CORVID_WOLFSSL_DIR ${CMAKE_SOURCE_DIR}/build-wolfssl
    CACHE PATH "Where scripts/wolfssl.sh keeps the bundled wolfSSL")

add_library(cv_wolfssl INTERFACE)
if(CORVID_WOLFSSL STREQUAL "bundled")
  # The script does nothing when its build is current, so every configure run asks it;
  # editing the script (its options) reconfigures, which rebuilds the library.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               ${CMAKE_SOURCE_DIR}/scripts/wolfssl.sh)
  execute_process(COMMAND ${CMAKE_SOURCE_DIR}/scripts/wolfssl.sh ${CORVID_WOLFSSL_DIR}
                  RESULT_VARIABLE wolfssl_rc)
  set(wolfssl_prefix ${CORVID_WOLFSSL_DIR}/prefix)
  if(NOT wolfssl_rc EQUAL 0 OR NOT EXISTS ${wolfssl_prefix}/lib/libwolfssl.a)
    message(FATAL_ERROR "scripts/wolfssl.sh could not build the bundled wolfSSL "
                        "(or configure with -DCORVID_WOLFSSL=system and libwolfssl-dev)")
  endif()
  add_library(cv_wolfssl_static STATIC IMPORTED)
  set_target_properties(cv_wolfssl_static PROPERTIES
    IMPORTED_LOCATION ${wolfssl_prefix}/lib/libwolfssl.a
    INTERFACE_INCLUDE_DIRECTORIES ${wolfssl_prefix}/include)
  target_link_libraries(cv_wolfssl INTERFACE cv_wolfssl_static Threads::Threads)
  target_compile_definitions(cv_wolfssl INTERFACE CORVID_WOLFSSL_BUNDLED=1)
elseif(CORVID_WOLFSSL STREQUAL "system")
  pkg_check_modules(WOLFSSL REQUIRED IMPORTED_TARGET wolfssl)
  target_link_libraries(cv_wolfssl INTERFACE PkgConfig::WOLFSSL)
else()
  message(FATAL_ERROR "CORVID_WOLFSSL must be 'bundled' or 'system'")
endif()

add_library(cv_tls STATIC net/tls.c net/certgen.c)
target_link_libraries(cv_tls PUBLIC cv_core cv_wolfssl)

cv_unit_test(test_tls_conn SOURCES tests/unit/test_tls.c LIBS cv_tls)
cv_fuzz_target(fuzz_tls tests/fuzz/fuzz_tls.c cv_tls)
