# Scanner and packet-library tests. Included (deferred) from scanner/CMakeLists.txt at the end of
# the top-level directory; paths use CMAKE_CURRENT_LIST_DIR because the including scope is the
# top level.
include(GoogleTest)
set(_pcs_test_dir ${CMAKE_CURRENT_LIST_DIR})
set(_pcs_test_bin ${PROJECT_BINARY_DIR}/scanner/tests)
find_program(PCS_BASH bash REQUIRED)

add_executable(packet_test ${_pcs_test_dir}/packet_test.cpp)
target_link_libraries(packet_test PRIVATE portcullis_packet portcullis_warnings GTest::gtest_main)
set_target_properties(packet_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${_pcs_test_bin})
gtest_discover_tests(packet_test PROPERTIES LABELS "unit-scanner")
# (one label: gtest_discover_tests in CMake 3.25 flattens a label list; ctest -L unit and
# ctest -L scanner both match it as a regular expression)

# Lab helper: TCP/UDP services for the namespace integration tests.
add_executable(pcs_lab_listener ${_pcs_test_dir}/lab_listener.cpp)
target_link_libraries(pcs_lab_listener PRIVATE portcullis_warnings)
set_target_properties(pcs_lab_listener PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${_pcs_test_bin})

# Lab helper: an idle-scan zombie (a user-space host with one global IP ID counter).
add_executable(pcs_lab_zombie ${_pcs_test_dir}/lab_zombie.cpp)
target_link_libraries(pcs_lab_zombie PRIVATE portcullis_packet portcullis_warnings)
set_target_properties(pcs_lab_zombie PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${_pcs_test_bin})

if(TARGET portcullis_scan_core AND EXISTS ${_pcs_test_dir}/scan_tests.cmake)
  include(${_pcs_test_dir}/scan_tests.cmake)
endif()
