# XML: the stanza tree (core/stanza.c) and the XMPP stream parser on libxml2 (net/xml_stream.c).
add_library(cv_xml STATIC core/stanza.c net/xml_stream.c)
target_link_libraries(cv_xml PUBLIC PkgConfig::LIBXML2 cv_core)

cv_unit_test(test_xml_stanza SOURCES tests/unit/test_xml_stanza.c LIBS cv_xml)
cv_unit_test(test_xml_stream SOURCES tests/unit/test_xml_stream.c LIBS cv_xml)

cv_fuzz_target(fuzz_stream tests/fuzz/fuzz_stream.c cv_xml)
