# Scanner core unit tests (no root needed) and the privileged namespace tests.
add_executable(scan_core_test ${_pcs_test_dir}/scan_core_test.cpp)
target_link_libraries(scan_core_test PRIVATE portcullis_scan_core portcullis_warnings
  GTest::gtest_main)
set_target_properties(scan_core_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${_pcs_test_bin})
gtest_discover_tests(scan_core_test PROPERTIES LABELS "unit-scanner")
# (one label: gtest_discover_tests in CMake 3.25 flattens a label list; ctest -L unit and
# ctest -L scanner both match it as a regular expression)

# Idle scan logic (no root). The prefix lets `ctest -R idle` pick these with the lab test.
add_executable(idle_scan_core_test ${_pcs_test_dir}/idle_scan_core_test.cpp)
target_link_libraries(idle_scan_core_test PRIVATE portcullis_scan_core portcullis_warnings
  GTest::gtest_main)
set_target_properties(idle_scan_core_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${_pcs_test_bin})
gtest_discover_tests(idle_scan_core_test TEST_PREFIX "idle_scan." PROPERTIES LABELS "unit-scanner")

# The shell tests need the scanner and the listener built; ctest does not build, so a plain
# `cmake --build` (all) or the scanner targets must have run first.
add_test(NAME scanner_lab
  COMMAND ${PCS_BASH} ${_pcs_test_dir}/lab_scan_test.sh $<TARGET_FILE:portcullis-scan>
          $<TARGET_FILE:pcs_lab_listener>)
set_tests_properties(scanner_lab PROPERTIES LABELS "privileged;scanner" SKIP_RETURN_CODE 77
  TIMEOUT 900 RUN_SERIAL TRUE)

add_test(NAME scanner_many_targets
  COMMAND ${PCS_BASH} ${_pcs_test_dir}/many_targets_test.sh $<TARGET_FILE:portcullis-scan>
          $<TARGET_FILE:pcs_lab_listener>)
set_tests_properties(scanner_many_targets PROPERTIES LABELS "privileged;scanner"
  SKIP_RETURN_CODE 77 TIMEOUT 900 RUN_SERIAL TRUE)

add_test(NAME scanner_idle_scan
  COMMAND ${PCS_BASH} ${_pcs_test_dir}/idle_scan_test.sh $<TARGET_FILE:portcullis-scan>
          $<TARGET_FILE:pcs_lab_listener> $<TARGET_FILE:pcs_lab_zombie>)
set_tests_properties(scanner_idle_scan PROPERTIES LABELS "privileged;scanner"
  SKIP_RETURN_CODE 77 TIMEOUT 600 RUN_SERIAL TRUE)

add_executable(arp_test ${_pcs_test_dir}/arp_test.cpp)
target_link_libraries(arp_test PRIVATE portcullis_scan_core portcullis_warnings GTest::gtest_main)
set_target_properties(arp_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${_pcs_test_bin})
gtest_discover_tests(arp_test PROPERTIES LABELS "unit-scanner")
