// Process-wide logging set-up for the operator: one line per event, text
// for people or JSON for log pipelines.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace imapprobe::telemetry {

// format: "text" | "json"; level: spdlog level name. The logger writes to
// `sink` (stderr when null) and becomes spdlog's default logger.
std::shared_ptr<spdlog::logger> setup_logging(const std::string& format, const std::string& level,
                                              spdlog::sink_ptr sink = nullptr);

}  // namespace imapprobe::telemetry
