// A status as the operator writes it, every field present: shared by the
// tests of the status model and of the status writer.
#pragma once

#include <nlohmann/json.hpp>

namespace imapprobe::controller::testing {

inline const nlohmann::json kFullStatus = nlohmann::json::parse(R"({
  "observedGeneration": 4,
  "conditions": [
    {"type": "Ready", "status": "True", "reason": "Reporting", "message": "probe ran",
     "observedGeneration": 4, "lastTransitionTime": "2026-11-30T10:00:00Z"},
    {"type": "Available", "status": "False", "reason": "AuthFailed", "message": "login failed",
     "observedGeneration": 4, "lastTransitionTime": "2026-11-30T10:05:00Z"}
  ],
  "lastRun": {"time": "2026-11-30T10:05:00Z", "outcome": "Failure", "reason": "AuthFailed",
              "message": "login as probe failed", "failedStep": "login",
              "durations": {"connect": "1.2ms", "login": "40.0ms", "total": "1.204s"},
              "messages": 12, "remoteAddress": "127.0.0.1:993",
              "families": [
                {"family": "IPv4", "outcome": "Success", "reason": "Succeeded",
                 "remoteAddress": "127.0.0.1:993", "total": "20.0ms"},
                {"family": "IPv6", "outcome": "Failure", "reason": "AuthFailed",
                 "remoteAddress": "[::1]:993", "total": "1.204s"}],
              "delivery": {"latency": "812.0ms", "queueId": "4C2B1E0A3F", "foundIn": "INBOX",
                           "smtpAddress": "127.0.0.1:587"},
              "content": {"messageCount": 12, "newestMessageAge": "26h0m5s",
                          "quota": {"resource": "STORAGE", "usage": 850, "limit": 1000,
                                    "percent": 85.0}}},
  "certificate": {"subject": "CN=imap.example.com", "issuer": "CN=Example CA",
                  "notBefore": "2026-01-01T00:00:00Z", "notAfter": "2027-01-01T00:00:00Z",
                  "daysRemaining": 31, "verified": true, "tlsVersion": "TLSv1.3",
                  "cipher": "TLS_AES_256_GCM_SHA384", "dnsNames": ["imap.example.com"]},
  "consecutiveFailures": 2,
  "consecutiveSuccesses": 0,
  "lastSuccessTime": "2026-11-30T09:59:00Z",
  "lastFailureTime": "2026-11-30T10:05:00Z",
  "nextRunTime": "2026-11-30T10:06:00Z",
  "baseline": {"connect": "1.1ms", "login": "35.5ms", "total": "50.0ms", "samples": 30}
})");

}  // namespace imapprobe::controller::testing
