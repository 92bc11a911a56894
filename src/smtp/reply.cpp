#include "smtp/reply.hpp"

#include <algorithm>
#include <cctype>

namespace imapprobe::smtp {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Printable excerpt of a line the reader refuses.
std::string quoted(std::string_view line) {
  std::string out;
  for (char c : line.substr(0, 80)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  if (line.size() > 80) out += "...";
  return "\"" + out + "\"";
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "5.1.1 text" -> "5.1.1"; the class must agree with the reply code's first digit.
std::string enhanced_code(std::string_view text, int code) {
  std::size_t i = 0;
  if (text.empty() || (text[0] != '2' && text[0] != '4' && text[0] != '5')) return {};
  if (text[0] - '0' != code / 100) return {};
  ++i;
  for (int part = 0; part < 2; ++part) {
    if (i >= text.size() || text[i] != '.') return {};
    ++i;
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i]) && i - start < 3) ++i;
    if (i == start) return {};
  }
  if (i < text.size() && text[i] != ' ') return {};
  return std::string(text.substr(0, i));
}

}  // namespace

std::string Reply::summary() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) out += " " + enhanced;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += i == 0 ? " " : "; ";
    out += lines[i];
  }
  return out;
}

void ReplyReader::feed(std::string_view bytes) { buffer_.append(bytes); }

std::optional<Reply> ReplyReader::next() {
  while (true) {
    const auto lf = buffer_.find('\n', scanned_);
    if (lf == std::string::npos) {
      scanned_ = buffer_.size();
      if (buffer_.size() > limits_.max_line) {
        throw ProtocolError("reply line longer than " + std::to_string(limits_.max_line) +
                            " bytes: " + quoted(buffer_));
      }
      return std::nullopt;
    }
    std::string_view line(buffer_.data(), lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > limits_.max_line) {
      throw ProtocolError("reply line longer than " + std::to_string(limits_.max_line) +
                          " bytes: " + quoted(line));
    }
    if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
        line[0] < '1' || line[0] > '5' || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      throw ProtocolError("not an SMTP reply line: " + quoted(line));
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (!partial_.lines.empty() && code != partial_.code) {
      throw ProtocolError("reply code changed within a multi-line reply: " + quoted(line));
    }
    if (partial_.lines.size() >= limits_.max_lines) {
      throw ProtocolError("reply longer than " + std::to_string(limits_.max_lines) + " lines");
    }
    const bool last = line.size() == 3 || line[3] == ' ';
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
    partial_.code = code;
    if (partial_.lines.empty()) partial_.enhanced = enhanced_code(text, code);
    if (!partial_.enhanced.empty() && text.starts_with(partial_.enhanced)) {
      text.remove_prefix(partial_.enhanced.size());
      while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    }
    partial_.lines.emplace_back(text);
    buffer_.erase(0, lf + 1);
    scanned_ = 0;
    if (last) {
      Reply done = std::move(partial_);
      partial_ = Reply{};
      return done;
    }
  }
}

Reply parse_reply(std::string_view text) {
  ReplyReader reader;
  reader.feed(text);
  if (!text.ends_with('\n')) reader.feed("\r\n");
  auto reply = reader.next();
  if (!reply) throw ProtocolError("incomplete SMTP reply");
  return std::move(*reply);
}

std::string queue_id(const Reply& data_reply) {
  for (const auto& line : data_reply.lines) {
    const std::string up = upper(line);
    for (std::string_view marker : {"QUEUED AS ", "ID="}) {
      const auto at = up.find(marker);
      if (at == std::string::npos) continue;
      // "id=" as a word of its own, not the tail of "InternalId=".
      if (at > 0 && up[at - 1] != ' ') continue;
      std::size_t i = at + marker.size();
      std::size_t end = i;
      while (end < line.size() &&
             (std::isalnum(static_cast<unsigned char>(line[end])) || line[end] == '-' ||
              line[end] == '.' || line[end] == '_' || line[end] == '@')) {
        ++end;
      }
      if (end > i) return line.substr(i, end - i);
    }
  }
  return {};
}

std::string data_payload(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 40 + 8);
  bool line_start = true;
  for (std::size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (line_start && c == '.') out += '.';
    if (c == '\n') {
      if (out.empty() || out.back() != '\r') out += '\r';
      out += '\n';
      line_start = true;
      continue;
    }
    if (c == '\r' && (i + 1 >= message.size() || message[i + 1] != '\n')) {
      out += "\r\n";  // a bare CR would be a line break for some servers, not others
      line_start = true;
      continue;
    }
    out += c;
    line_start = false;
  }
  if (!out.empty() && !out.ends_with("\r\n")) out += "\r\n";
  out += ".\r\n";
  return out;
}

std::vector<std::string> extensions(const Reply& ehlo_reply) {
  std::vector<std::string> out;
  // The first line is the server's greeting text, not an extension.
  for (std::size_t i = 1; i < ehlo_reply.lines.size(); ++i) {
    out.push_back(upper(ehlo_reply.lines[i]));
  }
  return out;
}

std::optional<std::string> extension(const std::vector<std::string>& exts, std::string_view name) {
  const std::string want = upper(name);
  for (const auto& e : exts) {
    if (e == want) return std::string{};
    if (e.size() > want.size() && e.starts_with(want) &&
        (e[want.size()] == ' ' || e[want.size()] == '=')) {
      return e.substr(want.size() + 1);
    }
  }
  return std::nullopt;
}

}  // namespace imapprobe::smtp
