// One reason vocabulary: every reason the engine or the controller writes
// has a row in docs/reasons.md.
#include "controller/reasons.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "probe/result.hpp"

namespace imapprobe::controller {
namespace {

std::string table_rows() {
  std::ifstream in(IMAPPROBE_SOURCE_DIR "/docs/reasons.md");
  EXPECT_TRUE(in) << "docs/reasons.md not found";
  std::string line, rows;
  while (std::getline(in, line)) {
    if (line.starts_with("| `")) rows += line.substr(0, line.find(" | ", 2)) + "\n";
  }
  return rows;
}

TEST(ReasonVocabulary, EveryEngineReasonHasARowInTheDocs) {
  const std::string rows = table_rows();
  for (int i = 0; i <= static_cast<int>(probe::Reason::InternalError); ++i) {
    const std::string name(probe::to_string(static_cast<probe::Reason>(i)));
    EXPECT_NE(name, "Unknown") << "reason " << i << " has no name";
    EXPECT_NE(rows.find("`" + name + "`"), std::string::npos)
        << name << " has no row in docs/reasons.md";
  }
}

TEST(ReasonVocabulary, EveryControllerReasonHasARowInTheDocs) {
  const std::string rows = table_rows();
  for (const std::string_view name : reasons::kAll) {
    EXPECT_NE(rows.find("`" + std::string(name) + "`"), std::string::npos)
        << name << " has no row in docs/reasons.md";
  }
}

}  // namespace
}  // namespace imapprobe::controller
