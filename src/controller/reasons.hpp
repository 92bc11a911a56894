// Every reason the controller itself writes on a condition or an Event, as
// named constants (the engine's run reasons are probe::Reason). Each has a
// row in docs/reasons.md; a unit test fails when one is missing there.
#pragma once

#include <string_view>

namespace imapprobe::controller::reasons {

// Ready
inline constexpr const char* kReporting = "Reporting";
inline constexpr const char* kSuspended = "Suspended";
// Ready=Unknown and Reconciling=True: a generation seen, its first run not done
inline constexpr const char* kPending = "Pending";
// Stalled=False while the probe runs
inline constexpr const char* kRunning = "Running";
// Stalled=True / Ready=False: the user must fix something
inline constexpr const char* kInvalidSpec = "InvalidSpec";
inline constexpr const char* kSecretNotFound = "SecretNotFound";
inline constexpr const char* kSecretKeyMissing = "SecretKeyMissing";
inline constexpr const char* kSecretUnreadable = "SecretUnreadable";
inline constexpr const char* kInvalidSecretData = "InvalidSecretData";
inline constexpr const char* kInvalidCABundle = "InvalidCABundle";
inline constexpr const char* kInvalidClientCertificate = "InvalidClientCertificate";
// Available
inline constexpr const char* kSucceeded = "Succeeded";
inline constexpr const char* kFailureBelowThreshold = "FailureBelowThreshold";
inline constexpr const char* kNotRun = "NotRun";
// Degraded
inline constexpr const char* kAsExpected = "AsExpected";
inline constexpr const char* kProbeFailing = "ProbeFailing";
inline constexpr const char* kOverBaseline = "OverBaseline";
// Events
inline constexpr const char* kRecovered = "Recovered";
// Multi-location verdict (verdict.hpp)
inline constexpr const char* kPartialOutage = "PartialOutage";
inline constexpr const char* kNoLocationReporting = "NoLocationReporting";
inline constexpr const char* kOutagePending = "OutagePending";

inline constexpr std::string_view kAll[] = {kReporting,
                                            kSuspended,
                                            kPending,
                                            kRunning,
                                            kInvalidSpec,
                                            kSecretNotFound,
                                            kSecretKeyMissing,
                                            kSecretUnreadable,
                                            kInvalidSecretData,
                                            kInvalidCABundle,
                                            kInvalidClientCertificate,
                                            kSucceeded,
                                            kFailureBelowThreshold,
                                            kNotRun,
                                            kAsExpected,
                                            kProbeFailing,
                                            kOverBaseline,
                                            kRecovered,
                                            kPartialOutage,
                                            kNoLocationReporting,
                                            kOutagePending};

}  // namespace imapprobe::controller::reasons
