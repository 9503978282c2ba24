# Scanner and packet-library tests. Included (deferred) from scanner/CMakeLists.txt at the end of
# the top-level directory; paths use CMAKE_CURRENT_LIST_DIR because the including scope is the
# top level.
include(GoogleTest)
set(_pcs_test_dir ${CMAKE_CURRENT_LIST_DIR})
set(_pcs_test_bin ${PROJECT_BINARY_DIR}/scanner/tests)

add_executable(packet_test ${_pcs_test_dir}/packet_test.cpp)
target_link_libraries(packet_test PRIVATE portcullis_packet portcullis_warnings GTest::gtest_main)
set_target_properties(packet_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${_pcs_test_bin})
gtest_discover_tests(packet_test PROPERTIES LABELS "unit;scanner")
