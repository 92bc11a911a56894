// Process-wide logging set-up for the operator: one line per event, text
// for people or JSON for log pipelines.
//
// Lines about a probe go through the typed API below, so that in JSON mode
// the probe's namespace, name, reason, step, server and location are separate fields
// a log system can filter on:
//
//   telemetry::info({.namespace_ = ns, .name = name, .reason = "AuthFailed"},
//                   "Failure in {}", took);
//
// Any other spdlog call still works and gives a line with only "msg".
#pragma once

#include <spdlog/logger.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace imapprobe::telemetry {

// format: "text" | "json"; level: spdlog level name. The logger writes to
// `sink` (stderr when null) and becomes spdlog's default logger.
std::shared_ptr<spdlog::logger> setup_logging(const std::string& format, const std::string& level,
                                              spdlog::sink_ptr sink = nullptr);

// What a line is about. Empty fields are left out of the line. The views
// need only live for the duration of the call.
struct LogFields {
  std::string_view namespace_{};  // the probe's namespace
  std::string_view name{};        // the probe's name
  std::string_view reason{};      // a run's or Event's reason (AuthFailed, Recovered, ...)
  std::string_view step{};        // the session step concerned (login, fetch, ...)
  std::string_view server{};      // the IMAP server a run checked, host:port
  std::string_view location{};    // the operator's location (multi-location deployments)
};

namespace detail {

// The structured payload handed to spdlog, decoded by the formatters that
// setup_logging installs: kPayloadMarker, then each field in LogFields order
// as <decimal length> kLengthEnd <bytes>, then the message. Lengths (rather
// than separators) make any byte in a value or message safe.
inline constexpr char kPayloadMarker = '\x1e';
inline constexpr char kLengthEnd = '\x1f';
inline constexpr std::size_t kFieldCount = 6;

inline void append_field(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out += kLengthEnd;
  out += value;
}

inline std::string encode(const LogFields& f, std::string_view message) {
  std::string out;
  out.reserve(1 + f.namespace_.size() + f.name.size() + f.reason.size() + f.step.size() +
              f.server.size() + f.location.size() + 2 * kFieldCount + message.size());
  out += kPayloadMarker;
  append_field(out, f.namespace_);
  append_field(out, f.name);
  append_field(out, f.reason);
  append_field(out, f.step);
  append_field(out, f.server);
  append_field(out, f.location);
  out += message;
  return out;
}

}  // namespace detail

// Header-only, so that any module (kube, controller) can log with fields
// while linking only spdlog; the formatters live in logging.cpp.
inline void log(spdlog::level::level_enum level, const LogFields& fields,
                std::string_view message) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  const std::string payload = detail::encode(fields, message);
  logger->log(level, spdlog::string_view_t(payload.data(), payload.size()));
}

template <typename... Args>
void log(spdlog::level::level_enum level, const LogFields& fields,
         spdlog::format_string_t<Args...> format, Args&&... args) {
  if (!spdlog::default_logger_raw()->should_log(level)) return;
  const std::string message = fmt::format(format, std::forward<Args>(args)...);
  telemetry::log(level, fields, std::string_view(message));
}

template <typename... Args>
void debug(const LogFields& fields, spdlog::format_string_t<Args...> format, Args&&... args) {
  telemetry::log(spdlog::level::debug, fields, format, std::forward<Args>(args)...);
}

template <typename... Args>
void info(const LogFields& fields, spdlog::format_string_t<Args...> format, Args&&... args) {
  telemetry::log(spdlog::level::info, fields, format, std::forward<Args>(args)...);
}

template <typename... Args>
void warn(const LogFields& fields, spdlog::format_string_t<Args...> format, Args&&... args) {
  telemetry::log(spdlog::level::warn, fields, format, std::forward<Args>(args)...);
}

template <typename... Args>
void error(const LogFields& fields, spdlog::format_string_t<Args...> format, Args&&... args) {
  telemetry::log(spdlog::level::err, fields, format, std::forward<Args>(args)...);
}

}  // namespace imapprobe::telemetry
