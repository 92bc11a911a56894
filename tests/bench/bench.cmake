# The benchmark (tests/bench/README in docs/benchmarks.md): included from
# tests/CMakeLists.txt. tests/bench/run.sh also injects it with
# -DCMAKE_PROJECT_INCLUDE when tests/CMakeLists.txt does not include it yet;
# the guard keeps a second inclusion from defining the target twice.
include_guard(GLOBAL)

# The probe engine's cost per probe against a real Dovecot (run.sh part a).
add_executable(imapprobe_bench ${CMAKE_CURRENT_LIST_DIR}/engine_bench.cpp)
# Linked by name: also valid before src/probe has been added (project include).
target_link_libraries(imapprobe_bench PRIVATE imapprobe_probe)
# Explicit: as a project include this runs before the top level sets them.
set_target_properties(imapprobe_bench PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
  CXX_EXTENSIONS OFF)
target_compile_options(imapprobe_bench PRIVATE -Wall -Wextra -Wpedantic)

# CI smoke: every part of run.sh with tiny counts and no thresholds (< 2 min
# once built). Needs root for tshark's capture; starts Dovecot and a real
# kube-apiserver itself.
# BENCH_BUILD_DIR: run.sh uses the binaries of this build tree.
add_test(NAME bench_smoke
  COMMAND ${CMAKE_COMMAND} -E env BENCH_BUILD_DIR=${CMAKE_BINARY_DIR}
          bash ${CMAKE_CURRENT_LIST_DIR}/run.sh --smoke)
set_tests_properties(bench_smoke PROPERTIES LABELS "bench;kube;dovecot" TIMEOUT 600)

# The /metrics page against prometheus-cpp (run.sh part d), when Debian's
# prometheus-cpp-dev is installed (run.sh installs it for the bench).
find_package(prometheus-cpp CONFIG QUIET)
if(prometheus-cpp_FOUND)
  add_executable(imapprobe_metrics_bench ${CMAKE_CURRENT_LIST_DIR}/metrics_bench.cpp)
  target_link_libraries(imapprobe_metrics_bench PRIVATE imapprobe_controller prometheus-cpp::core)
  set_target_properties(imapprobe_metrics_bench PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
    CXX_EXTENSIONS OFF)
  target_compile_options(imapprobe_metrics_bench PRIVATE -Wall -Wextra -Wpedantic)
endif()
