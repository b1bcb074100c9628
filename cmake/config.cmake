# Configuration: YAML file + --set overrides, validated into cv_config_t.
add_library(cv_config STATIC core/config_yaml.c core/config.c)
target_link_libraries(cv_config PUBLIC cv_core PkgConfig::YAML)

cv_unit_test(test_config_load SOURCES tests/unit/test_config.c LIBS cv_config)
# The shipped default file must keep loading.
if(TARGET test_config_load)
  target_compile_definitions(test_config_load PRIVATE
                             CV_TEST_DEFAULT_CONF="${CMAKE_SOURCE_DIR}/conf/corvid.yml")
endif()

cv_fuzz_target(fuzz_config tests/fuzz/fuzz_config.c cv_config)
