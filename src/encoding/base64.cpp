#include "encoding/base64.hpp"

#include <array>
#include <cstdint>

namespace imapprobe::encoding {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kTable = make_table();

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

[[noreturn]] void fail(const std::string& what, std::size_t offset) {
  throw Base64Error("invalid base64: " + what + " at byte " + std::to_string(offset));
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto n = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                   (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                   std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t n = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) n |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string base64_decode(std::string_view text, Base64Syntax syntax) {
  const bool strict = syntax == Base64Syntax::Strict;
  if (strict && text.size() % 4 != 0) {
    throw Base64Error("invalid base64: length " + std::to_string(text.size()) +
                      " is not a multiple of 4");
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t symbols = 0;  // alphabet characters and padding, whitespace excluded
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!strict && is_space(c)) continue;
    if (c == '=') {
      // Padding only completes the last quantum: at most two, after 2 or 3 symbols.
      if (++padding > 2 || (symbols % 4) < 2) fail("misplaced padding", i);
      ++symbols;
      continue;
    }
    const int v = kTable[static_cast<unsigned char>(c)];
    if (v < 0) fail("character outside the alphabet", i);
    if (padding > 0) fail("data after padding", i);
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    ++symbols;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // A single symbol in the last quantum cannot encode a whole byte.
  if (bits >= 6) fail("truncated input", text.size());
  if (padding > 0 && symbols % 4 != 0) fail("incomplete padding", text.size());
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string base64url_decode(std::string_view text) {
  // Mapped onto the standard alphabet position for position, so the strict
  // decoder's offsets stay true for the caller's text.
  std::string mapped(text);
  for (std::size_t i = 0; i < mapped.size(); ++i) {
    char& c = mapped[i];
    if (c == '+' || c == '/') fail("character outside the base64url alphabet", i);
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  if (mapped.find('=') == std::string::npos) {
    if (mapped.size() % 4 == 1) fail("truncated input", text.size());
    mapped.append((4 - mapped.size() % 4) % 4, '=');
  }
  return base64_decode(mapped, Base64Syntax::Strict);
}

}  // namespace imapprobe::encoding
