# Module "subfsm": the RFC 6121 subscription state machine (pure functions, no deps).
add_library(cv_subfsm STATIC router/subfsm.c)
target_link_libraries(cv_subfsm PUBLIC cv_core)

cv_unit_test(test_subfsm_tables SOURCES tests/unit/test_subfsm.c LIBS cv_subfsm)
