# Kubernetes client module: unit tests, and integration tests against a real
# kube-apiserver that the test binary starts itself (tests/kube/cluster.sh).
target_sources(imapprobe_test_support PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support/kube_cluster.cpp)

# Unit tests: the client against in-process fake HTTP servers on loopback.
imapprobe_unit_test(kube_unit_tests
  SOURCES unit/kube/client_test.cpp unit/kube/config_test.cpp unit/kube/detail_test.cpp
          unit/kube/tls_test.cpp
  LIBS imapprobe_kube imapprobe_test_support)

# One API server per test binary: a single ctest entry, not one per test.
add_executable(kube_client_test integration/kube_client_test.cpp)
target_link_libraries(kube_client_test PRIVATE imapprobe_kube imapprobe_test_support GTest::gtest_main)
target_compile_definitions(kube_client_test PRIVATE IMAPPROBE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_test(NAME kube_client_test COMMAND kube_client_test)
set_tests_properties(kube_client_test PROPERTIES LABELS "integration;kube" TIMEOUT 900)

# kube_cluster_smoke: tests/kube/smoke.sh, the self-test of cluster.sh itself
# (build, start/stop/restart, two clusters at once, tokens, RBAC, a 45 s
# watch), so that the harness the other kube tests rely on is checked in CI.
# Builds kube-apiserver/kubectl first if needed (tests/run.sh builds them
# before any test). Servers on loopback only, stopped on exit.
add_test(NAME kube_cluster_smoke COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/kube/smoke.sh)
set_tests_properties(kube_cluster_smoke PROPERTIES LABELS "integration;kube" TIMEOUT 600)
