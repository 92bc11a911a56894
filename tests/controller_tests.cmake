add_executable(controller_unit_tests
  unit/controller/probe_resource_test.cpp
  unit/controller/reconciler_test.cpp
  unit/controller/status_policy_test.cpp)
target_link_libraries(controller_unit_tests PRIVATE imapprobe_controller GTest::gtest_main)
gtest_discover_tests(controller_unit_tests DISCOVERY_TIMEOUT 30)
