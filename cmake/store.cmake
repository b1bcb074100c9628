# Storage: the interface (storage/store.c) and its LMDB backend.
add_library(cv_store STATIC storage/store.c storage/store_lmdb.c)
target_link_libraries(cv_store PUBLIC cv_core PkgConfig::LMDB Threads::Threads)

cv_unit_test(test_store_accounts SOURCES tests/unit/test_store_accounts.c LIBS cv_store)
cv_unit_test(test_store_threads SOURCES tests/unit/test_store_threads.c LIBS cv_store
             LABELS concurrency)
