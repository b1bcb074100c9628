# Module "sasl": base64, SCRAM credentials and the SASL server mechanisms.
add_library(cv_base64 STATIC core/base64.c)
target_link_libraries(cv_base64 PUBLIC cv_core)

add_library(cv_sasl STATIC router/scram.c router/sasl.c)
target_link_libraries(cv_sasl PUBLIC cv_base64 cv_jid cv_core cv_wolfssl PkgConfig::IDN)

cv_unit_test(test_sasl_base64 SOURCES tests/unit/test_base64.c LIBS cv_base64)
cv_unit_test(test_sasl_scram SOURCES tests/unit/test_sasl_scram.c LIBS cv_sasl)
cv_unit_test(test_sasl_mech SOURCES tests/unit/test_sasl_mech.c LIBS cv_sasl)
cv_fuzz_target(fuzz_sasl tests/fuzz/fuzz_sasl.c cv_sasl)

# The tests and the fuzzer reach the module's private hooks (router/sasl_int.h).
foreach(t test_sasl_scram test_sasl_mech fuzz_sasl replay_fuzz_sasl)
  if(TARGET ${t})
    target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/router)
  endif()
endforeach()
