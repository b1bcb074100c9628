# The load generator (bench/): corvid-bench, its tests and the fuzz target of its client.
add_library(cv_bench STATIC bench/hist.c bench/opts.c bench/report.c bench/scram_client.c
            bench/client.c bench/loop.c bench/scen.c)
target_include_directories(cv_bench PUBLIC ${CMAKE_SOURCE_DIR}/bench)
target_link_libraries(cv_bench PUBLIC cv_xml cv_base64 cv_core cv_wolfssl
                      PkgConfig::URING Threads::Threads m)

if(NOT CORVID_FUZZ)
  add_executable(corvid-bench bench/main.c)
  target_link_libraries(corvid-bench PRIVATE cv_bench)
endif()

cv_unit_test(test_bench_hist SOURCES tests/unit/test_bench_hist.c LIBS cv_bench)
cv_unit_test(test_bench_opts SOURCES tests/unit/test_bench_opts.c LIBS cv_bench)
cv_unit_test(test_bench_scram SOURCES tests/unit/test_bench_scram.c LIBS cv_bench)
cv_unit_test(test_bench_client SOURCES tests/unit/test_bench_client.c LIBS cv_bench)
cv_fuzz_target(fuzz_bench_client bench/fuzz_bench_client.c cv_bench)

# Durable offline stores per second through the store's group-commit writer.
if(NOT CORVID_FUZZ)
  add_executable(corvid-bench-store bench/store_offline.c)
  target_link_libraries(corvid-bench-store PRIVATE cv_store Threads::Threads)
endif()
