#include "oauth/excerpt.hpp"

namespace imapprobe::oauth::detail {

std::string printable(std::string_view s, std::size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::string unit;
    if (c == '\r' || c == '\n' || c == '\t') {
      if (!out.empty() && out.back() == ' ') continue;
      unit = " ";
    } else if (c >= 0x20 && c < 0x7f && c != '\\') {
      unit = std::string(1, static_cast<char>(c));
    } else {
      unit = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    }
    // Room for "..." is kept unless this unit is the very last one.
    const bool last = i + 1 == s.size();
    if (out.size() + unit.size() > (last ? max : (max < 3 ? 0 : max - 3))) break;
    out += unit;
  }
  if (i < s.size()) out += max < 3 ? std::string(max, '.') : "...";
  return out;
}

}  // namespace imapprobe::oauth::detail
