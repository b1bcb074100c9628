# JIDs (RFC 7622): parsing, preparation with libidn (stringprep) and libidn2 (IDNA).
add_library(cv_jid STATIC core/jid.c)
target_link_libraries(cv_jid PUBLIC cv_core PkgConfig::IDN PkgConfig::IDN2)

cv_unit_test(test_jid_parse SOURCES tests/unit/test_jid.c LIBS cv_jid)
cv_fuzz_target(fuzz_jid tests/fuzz/fuzz_jid.c cv_jid)
