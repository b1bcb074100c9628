# Storage: the interface (storage/store.c), the group-commit writer, the roster record
# codec, and the LMDB backend (environment and accounts, per-user data).
add_library(cv_store STATIC storage/store.c storage/store_writer.c storage/roster_codec.c
                            storage/store_lmdb.c storage/store_lmdb_user.c)
target_link_libraries(cv_store PUBLIC cv_core PkgConfig::LMDB Threads::Threads)

cv_unit_test(test_store_accounts SOURCES tests/unit/test_store_accounts.c LIBS cv_store)
cv_unit_test(test_store_threads SOURCES tests/unit/test_store_threads.c LIBS cv_store
             LABELS concurrency)
cv_unit_test(test_store_user SOURCES tests/unit/test_store_user.c LIBS cv_store)
cv_unit_test(test_store_group_commit SOURCES tests/unit/test_store_group_commit.c LIBS cv_store
             LABELS concurrency)
