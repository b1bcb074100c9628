# Network layer, router (C2S protocol, scheduler, session table), and the two programs.
add_library(cv_net STATIC net/worker.c net/conn.c)
target_link_libraries(cv_net PUBLIC cv_tls cv_config cv_core PkgConfig::URING Threads::Threads)

# Thread-safe building blocks of the router, testable on their own.
add_library(cv_sched STATIC router/deque.c router/sched.c router/sessions.c router/throttle.c
            router/rules.c router/routes.c router/offload.c)
target_link_libraries(cv_sched PUBLIC cv_jid cv_core Threads::Threads)

add_library(cv_router STATIC router/c2s.c router/c2s_auth.c router/c2s_bind.c router/c2s_job.c
            router/c2s_sessions.c router/mod_register.c router/route.c router/deliver.c
            router/iq.c router/mod_disco.c router/mod_roster.c router/presence.c
            router/offline.c router/mod_version.c router/mod_time.c router/mod_last.c
            router/mod_vcard.c router/mod_private.c router/mod_blocking.c router/reply.c)
target_include_directories(cv_router PRIVATE ${CMAKE_SOURCE_DIR}/net)
target_compile_definitions(cv_router PRIVATE CORVID_VERSION="${PROJECT_VERSION}")
target_link_libraries(cv_router PUBLIC cv_sched cv_subfsm cv_net cv_xml cv_sasl cv_jid cv_store cv_config
                      cv_core Threads::Threads)

add_library(cv_setup STATIC server/setup.c)
target_link_libraries(cv_setup PUBLIC cv_config cv_store cv_core)

add_executable(corvid server/main.c)
target_compile_definitions(corvid PRIVATE CORVID_VERSION="${PROJECT_VERSION}")
target_link_libraries(corvid PRIVATE cv_router cv_setup)
add_executable(corvidctl server/ctl.c)
target_link_libraries(corvidctl PRIVATE cv_setup cv_sasl cv_jid)
# jemalloc is the server's allocator; sanitizer builds keep their own.
if(CORVID_SANITIZE STREQUAL "" AND NOT CORVID_FUZZ)
  target_link_libraries(corvid PRIVATE PkgConfig::JEMALLOC)
endif()

cv_unit_test(test_throttle SOURCES tests/unit/test_throttle.c LIBS cv_sched)
cv_unit_test(test_sessions SOURCES tests/unit/test_sessions.c LIBS cv_sched LABELS concurrency)
cv_unit_test(test_mpsc SOURCES tests/unit/test_mpsc.c LIBS cv_core Threads::Threads
             LABELS concurrency)
cv_unit_test(test_deque SOURCES tests/unit/test_deque.c LIBS cv_sched LABELS concurrency)
cv_unit_test(test_sched SOURCES tests/unit/test_sched.c LIBS cv_sched LABELS concurrency)
cv_unit_test(test_offload SOURCES tests/unit/test_offload.c LIBS cv_sched LABELS concurrency)
cv_unit_test(test_rules SOURCES tests/unit/test_rules.c LIBS cv_sched)
cv_unit_test(test_routes SOURCES tests/unit/test_routes.c LIBS cv_sched)
cv_unit_test(test_net SOURCES tests/unit/test_net.c LIBS cv_net cv_config LABELS concurrency)

# Fault injection for the integration tests (tests/integration/slowsync.c): preloaded into
# the server to stretch the store's disk syncs. Never instrumented: it must load before
# anything else and only forwards.
if(NOT CORVID_FUZZ)
  add_library(cv_slowsync SHARED tests/integration/slowsync.c)
  target_compile_options(cv_slowsync PRIVATE -fno-sanitize=all)
  target_link_options(cv_slowsync PRIVATE -fno-sanitize=all)
  target_link_libraries(cv_slowsync PRIVATE ${CMAKE_DL_LIBS})
endif()
