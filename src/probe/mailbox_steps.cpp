#include "probe/mailbox_steps.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <stdexcept>

#include "imap/command.hpp"
#include "imap/response_data.hpp"
#include "probe/step_failure.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;

namespace {

// LIST's mailbox name, unquoted; good enough to compare with the name the
// probe asked for (both come from the same spec).
std::string listed_name(const imap::Response& r) {
  std::string_view text = r.text;
  const auto close = text.find(')');
  if (close == std::string_view::npos) return {};
  text.remove_prefix(close + 1);
  // skip the delimiter: a quoted char or NIL
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (text.starts_with("NIL")) {
    text.remove_prefix(3);
  } else if (text.starts_with('"')) {
    const auto end = text.find('"', text.size() > 2 && text[1] == '\\' ? 3 : 2);
    if (end == std::string_view::npos) return {};
    text.remove_prefix(end + 1);
  }
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (!r.literals.empty()) return r.literals.back();
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    std::string out;
    for (std::size_t i = 1; i + 1 < text.size(); ++i) {
      if (text[i] == '\\' && i + 2 < text.size()) ++i;
      out += text[i];
    }
    return out;
  }
  return std::string(text);
}

bool same_mailbox(const std::string& a, const std::string& b) {
  // INBOX is case-insensitive (RFC 3501 5.1); other names are not.
  auto upper = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  };
  if (upper(a) == "INBOX") return upper(b) == "INBOX";
  return a == b;
}

}  // namespace

std::optional<ListEntry> list_entry(const imap::Response& r) {
  if (r.keyword != "LIST" && r.keyword != "XLIST") return std::nullopt;
  std::string_view text = r.text;
  if (!text.starts_with('(')) return std::nullopt;
  const auto close = text.find(')');
  if (close == std::string_view::npos) return std::nullopt;
  ListEntry entry;
  entry.name = listed_name(r);
  std::string_view attrs = text.substr(1, close - 1);
  while (!attrs.empty()) {
    const auto space = attrs.find(' ');
    std::string_view a = attrs.substr(0, space);
    if (!a.empty()) {
      std::string up(a);
      for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      entry.attributes.push_back(std::move(up));
    }
    if (space == std::string_view::npos) break;
    attrs.remove_prefix(space + 1);
  }
  return entry;
}

asio::awaitable<std::uint32_t> open_mailbox(ImapClient& client, std::string mailbox,
                                            bool writable) {
  const std::string quoted = imap::quote(mailbox);
  const std::string verb = writable ? "SELECT " : "EXAMINE ";
  const std::string tag = client.queue(verb + quoted, verb + quoted);
  Reply reply = co_await client.reply(tag);
  if (!reply.ok()) {
    const std::string why = server_text(reply.tagged);
    const std::string head = "cannot open mailbox " + printable(mailbox) + ": " + why;
    if (reply.tagged.code == "NONEXISTENT") fail(Reason::MailboxNotFound, head);
    // No RFC 5530 code (or another one): ask LIST, which every server has.
    const std::string list_tag = client.queue("LIST", "LIST \"\" " + quoted);
    Reply listed = co_await client.reply(list_tag);
    bool known = false;
    for (const auto& r : listed.untagged) {
      if (r.keyword == "LIST" && same_mailbox(listed_name(r), mailbox)) known = true;
    }
    if (listed.ok() && !known) fail(Reason::MailboxNotFound, head + " (LIST does not show it)");
    fail(Reason::SelectFailed, head);
  }
  std::uint32_t exists = 0;
  for (const auto& r : reply.untagged) {
    if (r.keyword == "EXISTS" && r.number) exists = *r.number;
  }
  co_return exists;
}

asio::awaitable<std::uint32_t> search(ImapClient& client, std::string criteria) {
  const std::string tag = client.queue("SEARCH", "SEARCH " + criteria);
  Reply reply = co_await client.reply(tag);
  if (!reply.ok()) {
    fail(Reason::SearchFailed,
         "SEARCH " + printable(criteria) + " failed: " + server_text(reply.tagged));
  }
  std::uint32_t matches = 0;
  for (const auto& r : reply.untagged) {
    if (r.keyword == "SEARCH")
      matches += static_cast<std::uint32_t>(imap::parse_search(r.text).size());
  }
  co_return matches;
}

asio::awaitable<std::uint32_t> fetch_latest(ImapClient& client, std::uint32_t exists,
                                            std::uint32_t latest, FetchWhat what) {
  if (exists == 0 || latest == 0) co_return 0;
  const std::uint32_t first = exists > latest ? exists - latest + 1 : 1;
  std::string items;
  switch (what) {
    case FetchWhat::Headers:
      items = "(UID RFC822.SIZE BODY.PEEK[HEADER])";
      break;
    case FetchWhat::Envelope:
      items = "(UID RFC822.SIZE ENVELOPE)";
      break;
    case FetchWhat::Full:
      items = "(UID RFC822.SIZE BODY.PEEK[])";
      break;
  }
  const std::string tag = client.queue(
      "FETCH", "FETCH " + std::to_string(first) + ":" + std::to_string(exists) + " " + items);
  Reply reply = co_await client.reply(tag);
  if (!reply.ok()) fail(Reason::FetchFailed, "FETCH failed: " + server_text(reply.tagged));
  std::uint32_t fetched = 0;
  for (const auto& r : reply.untagged) {
    if (r.keyword == "FETCH") ++fetched;
  }
  co_return fetched;
}

std::optional<std::chrono::system_clock::time_point> parse_internal_date(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '"')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '"')) text.remove_suffix(1);
  // dd-Mon-yyyy hh:mm:ss +zzzz, the day possibly space-padded or one digit
  int day = 0, year = 0, hour = 0, minute = 0, second = 0, zone = 0;
  char mon[4] = {};
  char sign = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%d-%3c-%d %d:%d:%d %c%d", &day, mon, &year, &hour, &minute,
                  &second, &sign, &zone) != 8) {
    return std::nullopt;
  }
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  std::string m(mon, 3);
  for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int month = -1;
  for (int i = 0; i < 12; ++i) {
    if (kMonths[i] == m) month = i + 1;
  }
  if (month < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 ||
      (sign != '+' && sign != '-') || zone > 1400) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year(year),
                           std::chrono::month(static_cast<unsigned>(month)),
                           std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;  // 31-Feb
  const sys_days date = ymd;
  const auto offset = hours(zone / 100) + minutes(zone % 100);
  auto t = system_clock::time_point(date) + hours(hour) + minutes(minute) + seconds(second);
  return sign == '+' ? t - offset : t + offset;
}

std::optional<QuotaUsage> fullest_quota(const Reply& reply) {
  std::optional<QuotaUsage> best;
  for (const auto& r : reply.untagged) {
    if (r.keyword != "QUOTA") continue;
    // QUOTA root (RESOURCE usage limit ...); root is an astring
    std::string_view text = r.text;
    std::string root;
    if (!r.literals.empty()) {
      root = r.literals.front();
    }
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) continue;
    if (root.empty()) {
      std::string_view name = text.substr(0, open);
      while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
      if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
        name = name.substr(1, name.size() - 2);
      }
      root = std::string(name);
    }
    std::istringstream items(std::string(text.substr(open + 1, close - open - 1)));
    std::string resource;
    std::uint64_t usage = 0, limit = 0;
    while (items >> resource >> usage >> limit) {
      if (limit == 0) continue;
      for (auto& c : resource) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      QuotaUsage q{root, resource, usage, limit};
      if (!best || q.percent() > best->percent()) best = q;
    }
  }
  return best;
}

asio::awaitable<std::optional<Duration>> newest_message_age(ImapClient& client,
                                                            std::string criteria) {
  const std::string tag = client.queue("UID SEARCH", "UID SEARCH " + criteria);
  Reply found = co_await client.reply(tag);
  if (!found.ok()) {
    fail(Reason::SearchFailed,
         "SEARCH " + printable(criteria) + " failed: " + server_text(found.tagged));
  }
  std::vector<std::uint32_t> uids;
  for (const auto& r : found.untagged) {
    if (r.keyword == "SEARCH") {
      auto more = imap::parse_search(r.text);
      uids.insert(uids.end(), more.begin(), more.end());
    }
  }
  if (uids.empty()) co_return std::nullopt;
  std::sort(uids.begin(), uids.end());
  std::string set;
  for (std::size_t i = uids.size() > 10 ? uids.size() - 10 : 0; i < uids.size(); ++i) {
    set += (set.empty() ? "" : ",") + std::to_string(uids[i]);
  }
  const std::string fetch_tag = client.queue("UID FETCH", "UID FETCH " + set + " (INTERNALDATE)");
  Reply dates = co_await client.reply(fetch_tag);
  if (!dates.ok())
    fail(Reason::FetchFailed, "FETCH INTERNALDATE failed: " + server_text(dates.tagged));
  std::optional<std::chrono::system_clock::time_point> newest;
  for (const auto& r : dates.untagged) {
    if (r.keyword != "FETCH") continue;
    std::string up = r.text;
    for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const auto at = up.find("INTERNALDATE \"");
    if (at == std::string::npos) continue;
    const auto end = r.text.find('"', at + 14);
    if (end == std::string::npos) continue;
    auto when = parse_internal_date(std::string_view(r.text).substr(at + 14, end - at - 14));
    if (when && (!newest || *when > *newest)) newest = when;
  }
  if (!newest) {
    fail(Reason::ProtocolError, "the server's FETCH INTERNALDATE reply has no date we can read");
  }
  co_return std::chrono::duration_cast<Duration>(std::chrono::system_clock::now() - *newest);
}

asio::awaitable<QuotaUsage> quota_usage(ImapClient& client, std::string mailbox) {
  if (!client.has("QUOTA")) {
    fail(Reason::QuotaUnavailable, "the server does not offer the QUOTA extension (RFC 9208)");
  }
  const std::string tag = client.queue("GETQUOTAROOT", "GETQUOTAROOT " + imap::quote(mailbox));
  Reply reply = co_await client.reply(tag);
  if (!reply.ok()) {
    fail(Reason::QuotaUnavailable,
         "GETQUOTAROOT " + printable(mailbox) + " failed: " + server_text(reply.tagged));
  }
  auto q = fullest_quota(reply);
  if (!q) fail(Reason::QuotaUnavailable, "no quota limit is set for " + printable(mailbox));
  co_return *q;
}

std::string canary_message(std::string_view token, std::string_view date) {
  std::string m;
  m += "From: imapprobe <imapprobe@probe.invalid>\r\n";
  m += "To: imapprobe <imapprobe@probe.invalid>\r\n";
  m += "Subject: imapprobe canary ";
  m += token;
  m += "\r\nDate: ";
  m += date;
  m += "\r\nMessage-ID: <";
  m += token;
  m += "@probe.invalid>\r\nX-Imapprobe-Canary: ";
  m += token;
  m += "\r\n\r\nSynthetic monitoring message; deleted by the probe that wrote it.\r\n";
  return m;
}

namespace {

std::string fetch_uid(const imap::Response& fetch) {
  std::string up = fetch.text;
  for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto at = up.find("UID ");
  if (at == std::string::npos) return {};
  std::size_t end = at + 4;
  while (end < up.size() && std::isdigit(static_cast<unsigned char>(up[end]))) ++end;
  return up.substr(at + 4, end - at - 4);
}

}  // namespace

std::string canary_token() {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return std::to_string(now) + "-" + random_token();
}

std::optional<std::int64_t> canary_token_time(std::string_view token) {
  const auto dash = token.find('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(token.data(), token.data() + dash, value);
  if (ec != std::errc() || end != token.data() + dash) return std::nullopt;
  return value;
}

asio::awaitable<void> round_trip(ImapClient& client, std::string mailbox, std::string token,
                                 std::string date, std::chrono::seconds abandoned_after) {
  const std::string message = canary_message(token, date);
  const bool plus = client.has("LITERAL+");
  const std::string tag = client.begin("APPEND", Reason::CommandTimeout);
  client.queue_bytes(tag + " APPEND " + imap::quote(mailbox) + " (\\Seen) {" +
                     std::to_string(message.size()) + (plus ? "+" : "") + "}\r\n");
  Reply appended;
  bool refused_literal = false;
  if (!plus) {
    imap::Response go = co_await client.continuation();
    if (go.kind == imap::Response::Kind::Tagged) {
      appended.tagged = std::move(go);
      refused_literal = true;
    }
  }
  if (!refused_literal) {
    client.queue_bytes(message + "\r\n");
    appended = co_await client.reply(tag);
  }
  if (!appended.ok()) {
    fail(Reason::RoundTripFailed, "APPEND failed: " + server_text(appended.tagged));
  }

  const std::string found_tag =
      client.queue("UID SEARCH", "UID SEARCH HEADER X-Imapprobe-Canary " + token);
  Reply found = co_await client.reply(found_tag);
  std::vector<std::uint32_t> uids;
  for (const auto& r : found.untagged) {
    if (r.keyword == "SEARCH") uids = imap::parse_search(r.text);
  }
  if (!found.ok() || uids.empty()) {
    fail(Reason::RoundTripFailed, "the appended canary was not found by SEARCH");
  }
  const std::string all_tag =
      client.queue("UID SEARCH", "UID SEARCH HEADER X-Imapprobe-Canary \"\"");
  Reply all = co_await client.reply(all_tag);
  std::string set;
  for (auto uid : uids) set += (set.empty() ? "" : ",") + std::to_string(uid);
  std::string others;
  for (const auto& r : all.untagged) {
    if (r.keyword != "SEARCH") continue;
    for (auto uid : imap::parse_search(r.text)) {
      if (std::find(uids.begin(), uids.end(), uid) != uids.end()) continue;
      others += (others.empty() ? "" : ",") + std::to_string(uid);
    }
  }
  if (!others.empty()) {
    // Whose are they, and how old: only abandoned ones go.
    const std::string fetch_tag =
        client.queue("UID FETCH", "UID FETCH " + others +
                                      " (UID BODY.PEEK[HEADER.FIELDS (X-Imapprobe-Canary)])");
    Reply fetched = co_await client.reply(fetch_tag);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    for (const auto& r : fetched.untagged) {
      if (r.keyword != "FETCH" || r.literals.empty()) continue;
      std::string_view header = r.literals.back();
      const auto colon = header.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view value = header.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      const auto made = canary_token_time(value);
      if (made && now - *made < abandoned_after.count()) continue;  // a run in flight
      const std::string uid = fetch_uid(r);
      if (!uid.empty()) set += "," + uid;
    }
  }
  co_await expunge_uids(client, set, Reason::RoundTripFailed, "the canary");
}

asio::awaitable<void> expunge_uids(ImapClient& client, std::string uid_set, Reason on_failure,
                                   std::string what) {
  const std::string store_tag =
      client.queue("UID STORE", "UID STORE " + uid_set + " +FLAGS.SILENT (\\Deleted)");
  Reply stored = co_await client.reply(store_tag);
  if (!stored.ok()) {
    fail(on_failure, "cannot flag " + what + " deleted: " + server_text(stored.tagged));
  }
  // UID EXPUNGE (UIDPLUS) removes only these messages; plain EXPUNGE would
  // also remove anything else flagged \Deleted in the mailbox.
  const std::string expunge_tag = client.has("UIDPLUS")
                                      ? client.queue("UID EXPUNGE", "UID EXPUNGE " + uid_set)
                                      : client.queue("EXPUNGE", "EXPUNGE");
  Reply expunged = co_await client.reply(expunge_tag);
  if (!expunged.ok()) {
    fail(on_failure, "cannot expunge " + what + ": " + server_text(expunged.tagged));
  }
}

std::string random_token() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string rfc5322_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

}  // namespace imapprobe::probe
