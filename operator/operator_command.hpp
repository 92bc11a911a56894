// `imapprobe operator`: the Kubernetes controller process.
#pragma once

#include <string>
#include <vector>

namespace imapprobe::operator_cmd {

// args[0] is "operator". Returns the process exit code.
int run_operator(const std::vector<std::string>& args);

}  // namespace imapprobe::operator_cmd
