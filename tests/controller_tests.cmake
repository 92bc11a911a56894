imapprobe_unit_test(controller_unit_tests
  SOURCES unit/controller/metrics_test.cpp unit/controller/probe_resource_test.cpp
          unit/controller/reconciler_test.cpp unit/controller/status_policy_test.cpp
          unit/controller/run_scheduler_test.cpp unit/controller/status_writer_test.cpp
          unit/controller/credentials_test.cpp unit/controller/probe_status_test.cpp
          unit/controller/shared_value_test.cpp unit/controller/kube_cluster_api_test.cpp
          unit/controller/reasons_test.cpp unit/controller/write_policy_test.cpp
          unit/controller/secret_cache_test.cpp unit/controller/shard_assignment_test.cpp
          unit/controller/shard_coordinator_test.cpp unit/controller/verdict_test.cpp
  LIBS imapprobe_controller_kube imapprobe_test_support yaml-cpp)
target_compile_definitions(controller_unit_tests PRIVATE IMAPPROBE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# Its own binary: it replaces the global operator new/delete to follow
# which blocks outlive a steady run's updates.
imapprobe_unit_test(controller_steady_memory_tests
  SOURCES unit/controller/steady_memory_test.cpp
  LIBS imapprobe_controller)

# The operator binary end to end: real kube-apiserver, real Dovecot, kubectl.
target_sources(imapprobe_test_support PRIVATE support/process.cpp)
# One binary per suite, running the imapprobe binary it depends on.
function(imapprobe_operator_e2e_test name timeout)
  add_executable(${name} e2e/${name}.cpp)
  target_link_libraries(${name} PRIVATE imapprobe_test_support imapprobe_encoding
    nlohmann_json::nlohmann_json GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    IMAPPROBE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    IMAPPROBE_BINARY="$<TARGET_FILE:imapprobe>")
  add_dependencies(${name} imapprobe)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "e2e;kube;dovecot" TIMEOUT ${timeout})
endfunction()
imapprobe_operator_e2e_test(operator_e2e_test 1200)

# Sharding end to end: replicas of one location split the probes, hand
# them over on a kill, a scale-up and a clean stop (real API server, real
# Dovecot, several operator processes).
imapprobe_operator_e2e_test(operator_shard_e2e_test 900)
# Three locations, each reaching Dovecot through a proxy of its own (a
# private /etc/hosts per process); the forged write goes through kube::Client.
imapprobe_operator_e2e_test(operator_locations_e2e_test 600)
target_link_libraries(operator_locations_e2e_test PRIVATE imapprobe_kube)

imapprobe_unit_test(telemetry_unit_tests
  SOURCES unit/telemetry/telemetry_test.cpp
  LIBS imapprobe_telemetry imapprobe_test_support nlohmann_json::nlohmann_json)
