# CRD schema, defaults, CEL validation, printer columns, examples and docs,
# checked against a real kube-apiserver (tests/kube/cluster.sh; the first run
# builds it). Included from tests/CMakeLists.txt.
add_test(NAME crd_validation
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/crd_validation_test.sh)
set_tests_properties(crd_validation PROPERTIES LABELS "integration;kube" TIMEOUT 900)
