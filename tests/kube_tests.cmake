# Kubernetes client module: unit tests, and integration tests against a real
# kube-apiserver that the test binary starts itself (tests/kube/cluster.sh).
target_sources(imapprobe_test_support PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support/kube_cluster.cpp)

add_executable(kube_unit_tests
  unit/kube/client_test.cpp
  unit/kube/config_test.cpp
  unit/kube/detail_test.cpp
  unit/kube/tls_test.cpp)
target_link_libraries(kube_unit_tests PRIVATE imapprobe_kube imapprobe_test_support GTest::gtest_main)
gtest_discover_tests(kube_unit_tests DISCOVERY_TIMEOUT 30 PROPERTIES LABELS "kube" TIMEOUT 60)

# One API server per test binary: a single ctest entry, not one per test.
add_executable(kube_client_test integration/kube_client_test.cpp)
target_link_libraries(kube_client_test PRIVATE imapprobe_kube imapprobe_test_support GTest::gtest_main)
target_compile_definitions(kube_client_test PRIVATE IMAPPROBE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_test(NAME kube_client_test COMMAND kube_client_test)
set_tests_properties(kube_client_test PROPERTIES LABELS "integration;kube" TIMEOUT 900)
