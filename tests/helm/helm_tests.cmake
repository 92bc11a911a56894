# Helm chart and Dockerfile tests (tests/helm). Included from tests/CMakeLists.txt.
#
# helm_chart: lint/template/schema, promtool alert tests, server dry runs,
# helm install/upgrade/uninstall and the RBAC can-i proof against a real
# kube-apiserver (tests/kube/cluster.sh). The first run builds helm from the
# Go module proxy (tests/helm/build-helm.sh, ~3-4 min cold) and, if needed,
# kube-apiserver/kubectl.
add_test(NAME helm_chart COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/helm/chart_test.sh)
set_tests_properties(helm_chart PROPERTIES LABELS "integration;kube;helm" TIMEOUT 1200)

# helm_dockerfile: operator/Dockerfile checked without a container engine;
# the runtime package list against `ldd` of the imapprobe binary built here.
add_test(NAME helm_dockerfile
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/helm/dockerfile_test.sh $<TARGET_FILE:imapprobe>)
set_tests_properties(helm_dockerfile PROPERTIES LABELS "integration;docker" TIMEOUT 300)

# operator_rbac: the real operator with a token for the chart's ServiceAccount
# makes a probe Ready; with `get secrets` removed it reports Stalled/SecretUnreadable.
add_test(NAME operator_rbac
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/helm/operator_rbac_test.sh $<TARGET_FILE:imapprobe>)
set_tests_properties(operator_rbac PROPERTIES LABELS "e2e;kube;helm;dovecot" TIMEOUT 600)

# image: operator/Dockerfile built with buildah on a debootstrap base and run
# with podman as the non-root user, read-only, without capabilities
# (`imapprobe version`, `imapprobe check` against Dovecot). Says "CANNOT" and
# passes when this machine cannot build or run images at all.
add_test(NAME image_build_and_run
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/image/image_test.sh)
set_tests_properties(image_build_and_run PROPERTIES LABELS "integration;docker;dovecot" TIMEOUT 2400)
