// Client and WatchLoop against a scripted HTTP server on loopback: request
// shape, error mapping, token rotation, watch streaming and stopping, and
// the list/watch/relist protocol (410 is hard to provoke on a real server).
#include "kube/client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "kube/events.hpp"
#include "kube/watch_loop.hpp"
#include "support/fake_server.hpp"
#include "unit/kube/fake_http.hpp"

namespace imapprobe::kube {
namespace {
using imapprobe::testing::FakeServer;
using imapprobe::testing::Peer;
using namespace std::chrono;
using namespace testing;

std::uint16_t closed_port() { return imapprobe::testing::unused_loopback_port(); }

TEST(KubeClient, NotFoundStatusBecomesApiError) {
  RequestLog log;
  FakeServer server(
      log.answering(http_response(404, "Not Found",
                                  R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                                  R"("message":"configmaps \"x\" not found","reason":"NotFound",)"
                                  R"("details":{"name":"x","kind":"configmaps"},"code":404})")));
  Client client(plain_config(server.port()));
  try {
    client.get("/api/v1/namespaces/ns/configmaps/x");
    FAIL() << "no ApiError";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_TRUE(e.not_found());
    EXPECT_EQ(e.reason(), "NotFound");
    EXPECT_EQ(e.api_message(), "configmaps \"x\" not found");
    EXPECT_STREQ(
        e.what(),
        "GET /api/v1/namespaces/ns/configmaps/x: 404 NotFound: configmaps \"x\" not found");
  }
  const auto reqs = log.all();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer static-token");
  EXPECT_EQ(reqs[0].header("accept"), "application/json");
  const auto counts = client.request_counts();
  EXPECT_EQ(counts.at({"GET", 404}), 1u);
}

TEST(KubeClient, ConnectionFailureIsStatusZero) {
  Client client(plain_config(closed_port()), seconds(5));
  try {
    client.get("/version");
    FAIL() << "no ApiError";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 0);
    EXPECT_FALSE(e.api_message().empty());
    EXPECT_EQ(std::string(e.what()).rfind("GET /version: no response: ", 0), 0u) << e.what();
  }
  EXPECT_EQ(client.request_counts().at({"GET", 0}), 1u);
}

TEST(KubeClient, RequestTimeoutApplies) {
  FakeServer server([](Peer& peer) {
    HttpRequest req;
    read_request(peer, req);
    std::this_thread::sleep_for(milliseconds(1500));  // never answers in time
  });
  Client client(plain_config(server.port()), milliseconds(500));
  const auto start = steady_clock::now();
  try {
    client.get("/slow");
    FAIL() << "no ApiError";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 0);
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  EXPECT_LT(steady_clock::now() - start, milliseconds(1400));
}

TEST(KubeClient, PatchContentTypesAndApplyQuery) {
  RequestLog log;
  FakeServer server(log.answering(http_response(200, "OK", R"({"kind":"ConfigMap"})")));
  Client client(plain_config(server.port()));
  const nlohmann::json body = {{"data", {{"k", "v"}}}};
  EXPECT_EQ(client.patch("/p1", body, PatchType::Merge)["kind"], "ConfigMap");
  client.patch("/p2", body, PatchType::StrategicMerge);
  client.patch("/p3", nlohmann::json::array(), PatchType::Json);
  client.patch("/p4", body, PatchType::Apply, "imap probe/op");
  client.patch("/p5?dryRun=All", body, PatchType::Apply, "mgr");
  const auto reqs = log.all();
  ASSERT_EQ(reqs.size(), 5u);
  for (const auto& r : reqs) EXPECT_EQ(r.method, "PATCH");
  EXPECT_EQ(reqs[0].header("content-type"), "application/merge-patch+json");
  EXPECT_EQ(reqs[1].header("content-type"), "application/strategic-merge-patch+json");
  EXPECT_EQ(reqs[2].header("content-type"), "application/json-patch+json");
  EXPECT_EQ(reqs[3].header("content-type"), "application/apply-patch+yaml");
  EXPECT_EQ(reqs[3].target, "/p4?fieldManager=imap%20probe%2Fop&force=true");
  EXPECT_EQ(reqs[4].target, "/p5?dryRun=All&fieldManager=mgr&force=true");
  EXPECT_EQ(client.request_counts().at({"PATCH", 200}), 5u);
}

TEST(KubeClient, TokenFileIsReReadWhenItChanges) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("kube-token-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto token_path = dir / "token";
  std::ofstream(token_path) << "first-token\n";

  RequestLog log;
  FakeServer server(log.answering(http_response(200, "OK", "{}")));
  ClusterConfig cfg = plain_config(server.port());
  cfg.token.clear();
  cfg.token_file = token_path.string();
  Client client(cfg);
  client.get("/a");
  client.get("/b");
  std::ofstream(token_path, std::ios::trunc) << "second-token";
  // Same-second rewrites can keep the mtime on coarse file systems.
  std::filesystem::last_write_time(token_path,
                                   std::filesystem::last_write_time(token_path) + seconds(2));
  client.get("/c");
  const auto reqs = log.all();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer first-token");
  EXPECT_EQ(reqs[1].header("authorization"), "Bearer first-token");
  EXPECT_EQ(reqs[2].header("authorization"), "Bearer second-token");
  std::filesystem::remove_all(dir);
}

TEST(KubeClient, WatchDeliversEventsSplitAcrossChunks) {
  std::unique_ptr<FakeServer> server;
  server = std::make_unique<FakeServer>([&](Peer& peer) {
    HttpRequest req;
    if (!read_request(peer, req)) return;
    peer.send(stream_headers());
    const std::string events =
        R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}})"
        "\n"
        R"({"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"6"}}})"
        "\n";
    // Cut in the middle of a JSON document, as a real transport may.
    peer.send(chunk(events.substr(0, 30)));
    std::this_thread::sleep_for(milliseconds(100));
    peer.send(chunk(events.substr(30)));
    peer.send(last_chunk());
  });
  Client client(plain_config(server->port()));
  std::vector<std::string> seen;
  client.watch(
      "/api/v1/configmaps?watch=1",
      [&](const std::string& type, const nlohmann::json& obj) {
        seen.push_back(type + " " + obj["metadata"]["resourceVersion"].get<std::string>());
        return true;
      },
      std::stop_token{});
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED 5", "MODIFIED 6"}));
  EXPECT_EQ(client.request_counts().at({"WATCH", 200}), 1u);
}

TEST(KubeClient, WatchHttpErrorIsThrown) {
  FakeServer server([&](Peer& peer) {
    HttpRequest req;
    if (!read_request(peer, req)) return;
    peer.send(http_response(
        410, "Gone", R"({"kind":"Status","reason":"Expired","message":"too old","code":410})"));
  });
  Client client(plain_config(server.port()));
  try {
    client.watch(
        "/api/v1/configmaps?watch=1&resourceVersion=1",
        [](const std::string&, const nlohmann::json&) { return true; }, std::stop_token{});
    FAIL() << "no ApiError";
  } catch (const ApiError& e) {
    EXPECT_TRUE(e.gone());
    EXPECT_EQ(e.status(), 410);
  }
  EXPECT_EQ(client.request_counts().at({"WATCH", 410}), 1u);
}

TEST(KubeClient, StopInterruptsASilentWatchPromptly) {
  std::unique_ptr<FakeServer> server;
  server = std::make_unique<FakeServer>([&](Peer& peer) {
    HttpRequest req;
    if (!read_request(peer, req)) return;
    peer.send(stream_headers());
    peer.send(chunk(R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"
                    "\n"));
    hold_open(*server);
  });
  Client client(plain_config(server->port()));
  std::stop_source stop;
  std::atomic<int> events{0};
  std::jthread stopper([&] {
    std::this_thread::sleep_for(milliseconds(500));
    stop.request_stop();
  });
  const auto start = steady_clock::now();
  client.watch(
      "/api/v1/configmaps?watch=1&timeoutSeconds=300",
      [&](const std::string&, const nlohmann::json&) {
        ++events;
        return true;
      },
      stop.get_token());
  const auto took = steady_clock::now() - start;
  EXPECT_EQ(events, 1);
  EXPECT_GE(took, milliseconds(450));
  EXPECT_LT(took, milliseconds(2500));
}

TEST(KubeWatchLoop, PagesListsWatchesAndRelistsOnGone) {
  RequestLog log;
  std::atomic<int> lists{0};
  std::unique_ptr<FakeServer> server;
  server = std::make_unique<FakeServer>([&](Peer& peer) {
    HttpRequest req;
    if (!read_request(peer, req)) return;
    log.add(req);
    const bool watch = req.target.find("watch=1") != std::string::npos;
    if (!watch) {
      const int n = ++lists;
      if (n == 1) {
        peer.send(http_response(200, "OK",
                                R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"100",)"
                                R"("continue":"tok+/="},"items":[{"metadata":{"name":"a"}}]})"));
      } else if (n == 2) {
        peer.send(http_response(200, "OK",
                                R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"100"},)"
                                R"("items":[{"metadata":{"name":"b"}}]})"));
      } else {
        peer.send(http_response(
            200, "OK",
            R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"200"},"items":[)"
            R"({"metadata":{"name":"a"}},{"metadata":{"name":"b"}},{"metadata":{"name":"c"}}]})"));
      }
      return;
    }
    peer.send(stream_headers());
    if (req.target.find("resourceVersion=100") != std::string::npos) {
      peer.send(chunk(
          R"({"type":"ADDED","object":{"metadata":{"name":"c","resourceVersion":"101"}}})"
          "\n"
          R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"105"}}})"
          "\n"
          R"({"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"106"}}})"
          "\n"
          R"({"type":"ERROR","object":{"kind":"Status","status":"Failure",)"
          R"j("message":"too old resource version: 106 (150)","reason":"Expired","code":410}})j"
          "\n"));
      peer.send(last_chunk());
      return;
    }
    hold_open(*server);
  });

  Client client(plain_config(server->port()));
  std::mutex mu;
  std::vector<std::size_t> syncs;
  std::vector<std::string> upserts, deletes;
  WatchLoop::Options options;
  options.page_size = 1;
  options.watch_timeout_seconds = 30;
  WatchLoop loop(client, "/api/v1/namespaces/ns/configmaps",
                 {[&](const std::vector<nlohmann::json>& items) {
                    std::lock_guard lock(mu);
                    syncs.push_back(items.size());
                  },
                  [&](const nlohmann::json& o) {
                    std::lock_guard lock(mu);
                    upserts.push_back(o["metadata"]["name"]);
                  },
                  [&](const nlohmann::json& o) {
                    std::lock_guard lock(mu);
                    deletes.push_back(o["metadata"]["name"]);
                  },
                  {},
                  {}},
                 options);
  std::stop_source stop;
  std::jthread runner([&] { loop.run(stop.get_token()); });
  const auto deadline = steady_clock::now() + seconds(10);
  while (steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (syncs.size() >= 2) break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::this_thread::sleep_for(milliseconds(300));  // the second watch is open
  const auto stop_at = steady_clock::now();
  stop.request_stop();
  runner.join();
  EXPECT_LT(steady_clock::now() - stop_at, seconds(2));

  std::lock_guard lock(mu);
  EXPECT_EQ(syncs, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(upserts, (std::vector<std::string>{"c"}));
  EXPECT_EQ(deletes, (std::vector<std::string>{"a"}));
  EXPECT_EQ(loop.relists(), 1u);
  EXPECT_EQ(loop.watch_restarts(), 0u);
  EXPECT_TRUE(loop.synced());

  const auto reqs = log.all();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[0].target, "/api/v1/namespaces/ns/configmaps?limit=1");
  EXPECT_EQ(reqs[1].target, "/api/v1/namespaces/ns/configmaps?limit=1&continue=tok%2B%2F%3D");
  EXPECT_EQ(reqs[2].target,
            "/api/v1/namespaces/ns/configmaps?watch=1&allowWatchBookmarks=true&"
            "resourceVersion=100&timeoutSeconds=30");
  EXPECT_EQ(reqs[3].target, "/api/v1/namespaces/ns/configmaps?limit=1");
  EXPECT_EQ(reqs[4].target,
            "/api/v1/namespaces/ns/configmaps?watch=1&allowWatchBookmarks=true&"
            "resourceVersion=200&timeoutSeconds=30");
}

TEST(KubeWatchLoop, BacksOffAndRewatchesFromTheLastResourceVersion) {
  RequestLog log;
  std::atomic<int> watches{0};
  std::unique_ptr<FakeServer> server;
  server = std::make_unique<FakeServer>([&](Peer& peer) {
    HttpRequest req;
    if (!read_request(peer, req)) return;
    log.add(req);
    if (req.target.find("watch=1") == std::string::npos) {
      peer.send(http_response(200, "OK", R"({"metadata":{"resourceVersion":"7"},"items":[]})"));
      return;
    }
    const int n = ++watches;
    if (n == 1) {
      peer.send(stream_headers());
      peer.send(chunk(R"({"type":"ADDED","object":{"metadata":{"name":"x","resourceVersion":"8"}}})"
                      "\n"));
      return;  // connection dropped mid-stream, no last chunk
    }
    if (n == 2) {
      peer.send(http_response(500, "Internal Server Error",
                              R"({"kind":"Status","reason":"InternalError","message":"boom"})"));
      return;
    }
    peer.send(stream_headers());
    hold_open(*server);
  });
  Client client(plain_config(server->port()));
  WatchLoop::Options options;
  options.initial_backoff = milliseconds(50);
  options.max_backoff = milliseconds(200);
  WatchLoop loop(client, "/apis/g/v1/things", {}, options);
  std::stop_source stop;
  std::jthread runner([&] { loop.run(stop.get_token()); });
  const auto deadline = steady_clock::now() + seconds(10);
  while (watches < 3 && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  stop.request_stop();
  runner.join();
  EXPECT_EQ(watches, 3);
  EXPECT_EQ(loop.relists(), 0u);
  EXPECT_EQ(loop.watch_restarts(), 2u);
  const auto reqs = log.all();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_NE(reqs[1].target.find("resourceVersion=7"), std::string::npos);
  EXPECT_NE(reqs[2].target.find("resourceVersion=8"), std::string::npos);
  EXPECT_NE(reqs[3].target.find("resourceVersion=8"), std::string::npos);
}

// A list whose continue token expires once (410): the list starts over.
// Runs a WatchLoop with `handlers` against it until it has synced; returns
// the requests the server saw.
std::vector<HttpRequest> run_list_with_expired_continue(WatchLoop::Handlers handlers) {
  RequestLog log;
  std::atomic<int> lists{0};
  std::unique_ptr<FakeServer> server;
  server = std::make_unique<FakeServer>([&](Peer& peer) {
    HttpRequest req;
    if (!read_request(peer, req)) return;
    log.add(req);
    if (req.target.find("watch=1") != std::string::npos) {
      peer.send(stream_headers());
      hold_open(*server);
      return;
    }
    const int n = ++lists;
    if (req.target.find("continue=") == std::string::npos) {
      peer.send(http_response(200, "OK",
                              R"({"metadata":{"resourceVersion":")" + std::to_string(n) +
                                  R"(","continue":"c)" + std::to_string(n) +
                                  R"("},"items":[{"metadata":{"name":"p1"}}]})"));
    } else if (n == 2) {
      peer.send(http_response(
          410, "Gone",
          R"({"kind":"Status","reason":"Expired","message":"continue token expired","code":410})"));
    } else {
      peer.send(http_response(
          200, "OK",
          R"({"metadata":{"resourceVersion":"3"},"items":[{"metadata":{"name":"p2"}}]})"));
    }
  });
  Client client(plain_config(server->port()));
  WatchLoop loop(client, "/api/v1/things", std::move(handlers));
  std::stop_source stop;
  std::jthread runner([&] { loop.run(stop.get_token()); });
  const auto deadline = steady_clock::now() + seconds(10);
  while (!loop.synced() && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::this_thread::sleep_for(milliseconds(200));
  stop.request_stop();
  runner.join();
  return log.all();
}

TEST(KubeWatchLoop, ExpiredContinueTokenRestartsTheList) {
  std::atomic<std::size_t> synced_items{0};
  const auto reqs = run_list_with_expired_continue(
      {[&](const std::vector<nlohmann::json>& items) { synced_items = items.size(); },
       {},
       {},
       {},
       {}});
  EXPECT_EQ(synced_items, 2u);  // p1 from the restarted list and p2, not p1 twice
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[0].target, "/api/v1/things?limit=500");
  EXPECT_EQ(reqs[1].target, "/api/v1/things?limit=500&continue=c1");
  EXPECT_EQ(reqs[2].target, "/api/v1/things?limit=500");
  EXPECT_EQ(reqs[3].target, "/api/v1/things?limit=500&continue=c3");
  EXPECT_NE(reqs[4].target.find("resourceVersion=3&"), std::string::npos) << reqs[4].target;
}

// Streamed: pages as they arrive (a restarted list repeats some), then the
// keys of the one complete list.
TEST(KubeWatchLoop, AStreamedListHandsOverPagesThenTheCompleteKeys) {
  std::mutex mu;
  std::vector<std::string> paged;
  std::vector<std::string> listed;
  bool sync_called = false;
  run_list_with_expired_continue({[&](const std::vector<nlohmann::json>&) { sync_called = true; },
                                  {},
                                  {},
                                  [&](std::vector<nlohmann::json> page) {
                                    std::lock_guard lock(mu);
                                    for (const auto& o : page)
                                      paged.push_back(o["metadata"]["name"]);
                                  },
                                  [&](const std::vector<std::string>& keys) {
                                    std::lock_guard lock(mu);
                                    listed = keys;
                                  }});
  std::lock_guard lock(mu);
  EXPECT_EQ(paged, (std::vector<std::string>{"p1", "p1", "p2"}));
  EXPECT_EQ(listed, (std::vector<std::string>{"/p1", "/p2"}));
  EXPECT_FALSE(sync_called);
}

TEST(KubeEventRecorder, RepeatsPatchTheSeriesAndAGoneEventIsRecreated) {
  RequestLog log;
  std::atomic<int> patches{0};
  FakeServer server([&](Peer& peer) {
    HttpRequest req;
    if (!read_request(peer, req)) return;
    log.add(req);
    if (req.method == "PATCH" && ++patches == 2) {
      peer.send(http_response(404, "Not Found", R"({"kind":"Status","reason":"NotFound"})"));
      return;
    }
    peer.send(http_response(req.method == "POST" ? 201 : 200, "OK", "{}"));
  });
  Client client(plain_config(server.port()));
  EventRecorder recorder(client, "imapprobe.dev/test", "instance-1");
  const ObjectRef ref{"imapprobe.dev/v1alpha1", "ImapProbe", "ns", "probe-a", "uid-1"};
  recorder.emit(ref, "Warning", "ProbeFailed", "Probe", "one");    // POST
  recorder.emit(ref, "Warning", "ProbeFailed", "Probe", "two");    // PATCH count 2
  recorder.emit(ref, "Warning", "ProbeFailed", "Probe", "three");  // PATCH 404, POST
  recorder.emit(ref, "Normal", "ProbeSucceeded", "Probe", "ok");   // other key: POST
  recorder.series_window = std::chrono::minutes(0);
  recorder.emit(ref, "Normal", "ProbeSucceeded", "Probe", "ok");  // window passed: POST
  const auto reqs = log.all();
  ASSERT_EQ(reqs.size(), 6u);
  std::vector<std::string> methods;
  for (const auto& r : reqs) methods.push_back(r.method);
  EXPECT_EQ(methods, (std::vector<std::string>{"POST", "PATCH", "PATCH", "POST", "POST", "POST"}));
  EXPECT_EQ(reqs[0].target, "/apis/events.k8s.io/v1/namespaces/ns/events");
  EXPECT_EQ(reqs[1].target.rfind("/apis/events.k8s.io/v1/namespaces/ns/events/probe-a.", 0), 0u)
      << reqs[1].target;
  EXPECT_EQ(reqs[1].header("content-type"), "application/merge-patch+json");
}

}  // namespace
}  // namespace imapprobe::kube
