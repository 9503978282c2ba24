# portcullis-scan: core library (unit-tested without root) and the executable.
add_library(portcullis_scan_core STATIC
  src/arp_ping.cpp
  src/classify.cpp
  src/cli.cpp
  src/connect_engine.cpp
  src/idle_scan.cpp
  src/manual.cpp
  src/net_util.cpp
  src/next_hop.cpp
  src/probe_template.cpp
  src/output.cpp
  src/port_spec.cpp
  src/raw_engine.cpp
  src/scanner.cpp
  src/services.cpp
  src/siphash.cpp
  src/targets.cpp
  src/timing.cpp
  src/types.cpp)
target_include_directories(portcullis_scan_core PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/src)
target_link_libraries(portcullis_scan_core
  PUBLIC portcullis_packet portcullis_cli_docs CLI11::CLI11 nlohmann_json::nlohmann_json Threads::Threads
         PkgConfig::LIBPCAP
  PRIVATE portcullis_warnings)

add_executable(portcullis-scan src/main.cpp)
target_link_libraries(portcullis-scan PRIVATE portcullis_scan_core portcullis_warnings)

# portcullis-scan(1) and its bash completion, printed by the built program from its options.
portcullis_generated_docs(portcullis-scan 1)

# The scanner's bench target (scanner/bench/scan_bench.sh): a host that answers in XDP, so the
# bench measures the scanner rather than the target's kernel. Built with the scanner; run only
# by the bench.
if(COMMAND bpf_object)
  bpf_object(xdp_responder bench/xdp_responder.bpf.c DEPENDS ${CMAKE_CURRENT_LIST_DIR}/bench/xdp_responder.h)
  add_executable(xdp_responder bench/xdp_responder.cpp)
  target_include_directories(xdp_responder PRIVATE ${CMAKE_CURRENT_LIST_DIR}/bench)
  target_link_libraries(xdp_responder PRIVATE xdp_responder_skel portcullis_warnings)
endif()
add_executable(send_paths bench/send_paths.cpp)
target_link_libraries(send_paths PRIVATE portcullis_packet portcullis_warnings)
