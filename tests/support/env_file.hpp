// Reads KEY=VALUE files written by the test harness scripts.
#pragma once

#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

namespace imapprobe::testing {

inline std::map<std::string, std::string> read_env_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::map<std::string, std::string> values;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

}  // namespace imapprobe::testing
