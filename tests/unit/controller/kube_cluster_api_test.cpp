// KubeClusterApi's requests against a scripted HTTP server: the shape of a
// status write as the API server receives it.
#include "controller/kube_cluster_api.hpp"

#include <gtest/gtest.h>

#include "kube/events.hpp"
#include "support/fake_server.hpp"
#include "unit/kube/fake_http.hpp"

namespace imapprobe::controller {
namespace {
using imapprobe::testing::FakeServer;
using namespace kube::testing;

// The status apply goes to the status subresource as the operator's field
// manager, forced, and asks the API server not to parse the body a second
// time for field validation (fieldValidation=Ignore): the server's default
// (Warn) costs it a strict YAML parse of every status write.
TEST(KubeClusterApi, StatusIsAppliedWithoutASecondValidationParse) {
  RequestLog log;
  FakeServer server(log.answering(http_response(200, "OK", R"({"kind":"ImapProbe"})")));
  kube::Client client(plain_config(server.port()));
  kube::EventRecorder events(client, "imapprobe-operator", "test");
  KubeClusterApi api(client, events);
  api.apply_status(ProbeRef{"mail", "corp", "u-1"}, {{"observedGeneration", 1}});
  KubeClusterApi location_api(client, events, nullptr,
                              StatusApplier{"imapprobe-location-eu", false});
  location_api.apply_status(ProbeRef{"mail", "corp", "u-1"}, {{"observedGeneration", 1}});

  const auto reqs = log.all();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "PATCH");
  EXPECT_EQ(reqs[0].header("content-type"), "application/apply-patch+yaml");
  EXPECT_EQ(reqs[0].target,
            "/apis/imapprobe.dev/v1alpha1/namespaces/mail/imapprobes/corp/status"
            "?fieldValidation=Ignore&fieldManager=imapprobe-operator&force=true");
  EXPECT_EQ(reqs[1].target,
            "/apis/imapprobe.dev/v1alpha1/namespaces/mail/imapprobes/corp/status"
            "?fieldValidation=Ignore&fieldManager=imapprobe-location-eu");
}

}  // namespace
}  // namespace imapprobe::controller
