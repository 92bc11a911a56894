#include "telemetry/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdio>
#include <optional>

namespace imapprobe::telemetry {
namespace {

// The JSON keys of LogFields, in encoding order.
constexpr std::array<std::string_view, detail::kFieldCount> kFieldKeys = {
    "namespace", "name", "reason", "step", "server", "location"};

struct Decoded {
  std::array<std::string_view, detail::kFieldCount> fields;
  std::string_view message;
};

// The inverse of detail::encode; nullopt for a plain payload (any spdlog call
// not made through the typed API) or a malformed one, which are then shown
// as they are.
std::optional<Decoded> decode(std::string_view payload) {
  if (payload.empty() || payload.front() != detail::kPayloadMarker) return std::nullopt;
  payload.remove_prefix(1);
  Decoded d;
  for (auto& field : d.fields) {
    std::size_t length = 0;
    std::size_t i = 0;
    for (; i < payload.size() && payload[i] >= '0' && payload[i] <= '9'; ++i) {
      length = length * 10 + static_cast<std::size_t>(payload[i] - '0');
      if (length > payload.size()) return std::nullopt;
    }
    if (i == 0 || i >= payload.size() || payload[i] != detail::kLengthEnd) return std::nullopt;
    payload.remove_prefix(i + 1);
    if (length > payload.size()) return std::nullopt;
    field = payload.substr(0, length);
    payload.remove_prefix(length);
  }
  d.message = payload;
  return d;
}

// Text as a JSON string body: messages quote API errors verbatim
// (`secrets "x" is forbidden`), so they must be escaped, not pasted.
void append_json_escaped(std::string_view text, spdlog::memory_buf_t& dest) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      dest.push_back('\\');
      dest.push_back(c);
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      dest.append(buf, buf + 6);
    } else {
      dest.push_back(c);
    }
  }
}

void append(std::string_view text, spdlog::memory_buf_t& dest) {
  dest.append(text.data(), text.data() + text.size());
}

// `"msg":"..."`, then `,"namespace":"..."` and so on for each field set.
class JsonMessageAndFields : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const auto decoded = decode(payload);
    append(R"("msg":")", dest);
    append_json_escaped(decoded ? decoded->message : payload, dest);
    dest.push_back('"');
    if (!decoded) return;
    for (std::size_t i = 0; i < detail::kFieldCount; ++i) {
      if (decoded->fields[i].empty()) continue;
      append(R"(,")", dest);
      append(kFieldKeys[i], dest);
      append(R"(":")", dest);
      append_json_escaped(decoded->fields[i], dest);
      dest.push_back('"');
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageAndFields>();
  }
};

// A field value as it reads in text mode: bare when it is one plain word,
// quoted and escaped otherwise (spaces, quotes, control characters).
void append_text_value(std::string_view value, spdlog::memory_buf_t& dest) {
  bool bare = true;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || c == '"' || c == '\\' || c == '=' || u == 0x7f) bare = false;
  }
  if (bare) return append(value, dest);
  dest.push_back('"');
  append_json_escaped(value, dest);
  dest.push_back('"');
}

// `probe <namespace>/<name>: <message> reason=... step=... server=...`;
// a plain payload as it is.
class TextMessageAndFields : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const auto decoded = decode(payload);
    if (!decoded) return append(payload, dest);
    const std::string_view ns = decoded->fields[0];
    const std::string_view name = decoded->fields[1];
    if (!name.empty()) {
      append("probe ", dest);
      if (!ns.empty()) {
        append(ns, dest);
        dest.push_back('/');
      }
      append(name, dest);
      append(": ", dest);
    }
    append(decoded->message, dest);
    for (std::size_t i = 0; i < detail::kFieldCount; ++i) {
      const std::string_view value = decoded->fields[i];
      // Namespace and name are in the prefix unless there is no name.
      if (value.empty() || i == 1 || (i == 0 && !name.empty())) continue;
      dest.push_back(' ');
      append(kFieldKeys[i], dest);
      dest.push_back('=');
      append_text_value(value, dest);
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<TextMessageAndFields>();
  }
};

}  // namespace

std::shared_ptr<spdlog::logger> setup_logging(const std::string& format, const std::string& level,
                                              spdlog::sink_ptr sink) {
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("imapprobe", sink);
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (format == "json") {
    formatter->add_flag<JsonMessageAndFields>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%*})");
  } else {
    formatter->add_flag<TextMessageAndFields>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %*");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return logger;
}

}  // namespace imapprobe::telemetry
