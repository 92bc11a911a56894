// imapprobe: the one binary. `check` runs one probe (Nagios/Icinga plugin);
// `operator` runs the Kubernetes controller.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/check_command.hpp"
#include "operator_command.hpp"
#include "probe/prober.hpp"

namespace {

constexpr const char* kUsage =
    "usage: imapprobe <command> [flags]\n"
    "\n"
    "commands:\n"
    "  check     run one synthetic IMAP check (Nagios/Icinga plugin output)\n"
    "  operator  run the Kubernetes controller for ImapProbe resources\n"
    "  version   print the version\n"
    "\n"
    "Run 'imapprobe check --help' for the check's flags.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 3 : 0;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::cout << "imapprobe " << IMAPPROBE_VERSION << '\n';
    return 0;
  }
  if (args[0] == "check") {
    auto env = [](const std::string& name) -> std::optional<std::string> {
      if (const char* v = std::getenv(name.c_str())) return std::string(v);
      return std::nullopt;
    };
    try {
      return imapprobe::cli::run_check(args, std::cout, std::cerr, env,
                                       imapprobe::probe::run_probe);
    } catch (const std::exception& e) {
      // A bug, not a finding: UNKNOWN, as the plugin conventions want.
      std::cout << "IMAP UNKNOWN - internal error: " << e.what() << '\n';
      return 3;
    }
  }
  if (args[0] == "operator") {
    try {
      return imapprobe::operator_cmd::run_operator(args);
    } catch (const std::exception& e) {
      std::cerr << "imapprobe operator: fatal: " << e.what() << '\n';
      return 1;
    }
  }
  std::cerr << "imapprobe: unknown command \"" << args[0] << "\"\n\n" << kUsage;
  return 3;
}
