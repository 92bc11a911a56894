#include "imap/banner.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "imap/text.hpp"

namespace imapprobe::imap {
namespace {

bool is_binary(unsigned char c) {
  return c >= 0x80 || (c < 0x20 && c != '\r' && c != '\n' && c != '\t');
}

// True when `data` is `pattern`, or a prefix of it too short to decide.
enum class Match { No, Yes, Maybe };
Match match_prefix(std::string_view data, std::string_view pattern) {
  const std::size_t n = std::min(data.size(), pattern.size());
  if (data.substr(0, n) != pattern.substr(0, n)) return Match::No;
  return data.size() >= pattern.size() ? Match::Yes : Match::Maybe;
}

bool smtp_like(std::string_view d) {
  // "220 " or "220-", or a refusal such as "554 ".
  return d.size() >= 4 && std::isdigit(static_cast<unsigned char>(d[0])) &&
         std::isdigit(static_cast<unsigned char>(d[1])) &&
         std::isdigit(static_cast<unsigned char>(d[2])) && (d[3] == ' ' || d[3] == '-');
}

}  // namespace

Banner classify_banner(std::string_view d) {
  if (d.empty()) return Banner::Incomplete;
  const auto first = static_cast<unsigned char>(d[0]);
  // Record types 20-23 (change_cipher_spec, alert, handshake, application
  // data) followed by major version 3.
  if (first >= 0x14 && first <= 0x17) {
    if (d.size() == 1) return Banner::Incomplete;
    if (d[1] == 0x03) return Banner::TlsRecord;
  }
  // "* " is IMAP whatever follows: RFC 3501 text may carry control bytes
  // other than CR and LF, and RFC 9051 text UTF-8 (a localized greeting).
  if (d.starts_with("* ")) return Banner::Imap;
  if (std::any_of(d.begin(), d.end(),
                  [](char c) { return is_binary(static_cast<unsigned char>(c)); }))
    return Banner::Binary;

  bool undecided = false;
  static constexpr std::array<std::pair<std::string_view, Banner>, 6> kPrefixes{{
      {"* ", Banner::Imap},
      {"+OK", Banner::Pop3},
      {"-ERR", Banner::Pop3},
      {"HTTP/", Banner::Http},
      {"SSH-", Banner::Ssh},
      {"220", Banner::Smtp},
  }};
  for (const auto& [pattern, kind] : kPrefixes) {
    switch (match_prefix(d, pattern)) {
      case Match::Yes:
        if (kind != Banner::Smtp) return kind;
        break;
      case Match::Maybe:
        undecided = true;
        break;
      case Match::No:
        break;
    }
  }
  if (smtp_like(d)) return Banner::Smtp;
  const bool line_done = d.find('\n') != std::string_view::npos;
  if (!line_done && (undecided || d.size() < 4)) return Banner::Incomplete;
  return Banner::OtherText;
}

std::string_view describe(Banner b) {
  switch (b) {
    case Banner::Incomplete:
      return "too few bytes to tell";
    case Banner::Imap:
      return "an IMAP greeting";
    case Banner::TlsRecord:
      return "a TLS record";
    case Banner::Smtp:
      return "an SMTP (or FTP) banner";
    case Banner::Pop3:
      return "a POP3 greeting";
    case Banner::Http:
      return "an HTTP response";
    case Banner::Ssh:
      return "an SSH banner";
    case Banner::Binary:
      return "binary data";
    case Banner::OtherText:
      return "text that is not IMAP";
  }
  return "?";
}

std::string excerpt_banner(std::string_view d) {
  const std::string_view head = d.substr(0, 16);
  if (std::any_of(head.begin(), head.end(),
                  [](char c) { return is_binary(static_cast<unsigned char>(c)); })) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "bytes";
    for (char c : head) {
      const auto u = static_cast<unsigned char>(c);
      out += ' ';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
    if (d.size() > head.size()) out += " ...";
    return out;
  }
  const auto eol = d.find_first_of("\r\n");
  return "\"" + escape_excerpt(d.substr(0, eol), 60) + "\"";
}

}  // namespace imapprobe::imap
