#include "probe/delivery.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <charconv>
#include <chrono>

#include "imap/command.hpp"
#include "imap/response_data.hpp"
#include "probe/mailbox_steps.hpp"
#include "probe/smtp_submission.hpp"
#include "probe/step_failure.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;
using Clock = net::Clock;

namespace {

constexpr std::string_view kStampHeader = "X-Imapprobe-Delivery";

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Poll schedule while waiting for the canary: every 5 ms for the first
// quarter second (local delivery takes milliseconds, and the latency is only
// as exact as the poll), then doubling to once a second.
constexpr Duration kFirstPoll = std::chrono::milliseconds(5);
constexpr Duration kQuickPolls = std::chrono::milliseconds(250);
constexpr Duration kMaxPoll = std::chrono::seconds(1);

struct JunkFolder {
  std::string name;
  std::uint32_t uidnext = 0;  // 0: unknown (the folder may not exist yet)
};

// The mailbox a STATUS response is about: a quoted string or an atom.
std::string status_mailbox(const imap::Response& r) {
  if (!r.literals.empty()) return r.literals.front();
  std::string_view t = r.text;
  if (t.starts_with('"')) {
    std::string out;
    for (std::size_t i = 1; i < t.size(); ++i) {
      if (t[i] == '\\' && i + 1 < t.size()) {
        out += t[++i];
      } else if (t[i] == '"') {
        return out;
      } else {
        out += t[i];
      }
    }
    return out;
  }
  return std::string(t.substr(0, t.find(' ')));
}

// UIDNEXT of `mailbox` among untagged responses. Matched by name, not by
// which command's reply carried it: with pipelined commands a server may
// send one command's untagged data before another's completion.
std::optional<std::uint32_t> status_uidnext(const std::vector<imap::Response>& untagged,
                                            const std::string& mailbox) {
  for (const auto& r : untagged) {
    if (r.keyword != "STATUS" || status_mailbox(r) != mailbox) continue;
    std::string up = r.text;
    for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const auto at = up.find("UIDNEXT ");
    if (at == std::string::npos) continue;
    std::uint32_t value = 0;
    std::from_chars(up.data() + at + 8, up.data() + up.size(), value);
    return value;
  }
  return std::nullopt;
}

std::string uid_of(const imap::Response& fetch) {
  const std::string up = [&] {
    std::string t = fetch.text;
    for (auto& c : t) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return t;
  }();
  const auto at = up.find("UID ");
  if (at == std::string::npos) return {};
  std::size_t end = at + 4;
  while (end < up.size() && std::isdigit(static_cast<unsigned char>(up[end]))) ++end;
  return up.substr(at + 4, end - at - 4);
}

class Delivery {
 public:
  Delivery(const ProbeSpec& spec, const Credentials& creds, ImapClient& imap, Connector& connector,
           StepRunner& steps, DeliveryResult& out)
      : spec_(spec),
        d_(*spec.delivery),
        creds_(creds),
        imap_(imap),
        connector_(connector),
        steps_(steps),
        out_(out) {}

  asio::awaitable<void> run(std::string token) {
    token_ = token.empty() ? random_token() : std::move(token);

    steps_.begin(Step::Select);
    co_await find_junk_folders(/*before_sending=*/true);
    co_await select_target();
    steps_.end();

    SmtpSubmission smtp(spec_, creds_, connector_, steps_, out_);
    const auto sent_unix = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    // Named, not a temporary in the co_await's expression (the GCC 12 rule).
    SmtpSubmission::Compose canary = [&](std::string_view from, std::string_view to) {
      return delivery_canary(token_, d_.origin, sent_unix, from, to, rfc5322_now());
    };
    accepted_ = co_await smtp.submit(std::move(canary));

    // The IMAP connection gets a second more than the wait, so the last
    // poll can still run; the run's own deadline caps both.
    constexpr Duration kLastPoll = std::chrono::seconds(1);
    const Clock::time_point step_deadline = steps_.begin(Step::Delivery, d_.timeout + kLastPoll);
    const Clock::time_point deadline = std::min(accepted_ + d_.timeout, step_deadline - kLastPoll);
    co_await wait_for_canary(deadline);
    steps_.end();

    steps_.begin(Step::DeliveryCleanup);
    co_await clean_up(d_.mailbox, found_uid_);
    steps_.end();
    co_await smtp.quit();
  }

 private:
  // --- IMAP side before sending -----------------------------------------------

  // Before sending (`before_sending`), each junk folder's UIDNEXT is its
  // baseline. A folder that first appears while waiting (Sieve creates
  // Junk on its first use) is watched from UIDNEXT 0, so what it holds is
  // looked at.
  asio::awaitable<void> find_junk_folders(bool before_sending) {
    std::vector<std::string> names = d_.junk_folders;
    if (names.empty()) {
      const bool special_use = imap_.has("SPECIAL-USE");
      const std::string line =
          special_use ? "LIST \"\" \"*\" RETURN (SPECIAL-USE)" : "LIST \"\" \"*\"";
      const std::string tag = imap_.queue("LIST", line);
      Reply listed = co_await imap_.reply(tag);
      std::vector<std::string> by_name;
      for (const auto& r : listed.untagged) {
        auto entry = list_entry(r);
        if (!entry) continue;
        const auto& a = entry->attributes;
        if (std::find(a.begin(), a.end(), "\\JUNK") != a.end()) {
          names.push_back(entry->name);
        } else if (common_junk_name(entry->name)) {
          by_name.push_back(entry->name);
        }
      }
      if (names.empty()) names = std::move(by_name);
    }
    for (auto& name : names) {
      if (lower(name) == lower(d_.mailbox)) continue;
      const bool known = std::any_of(junk_.begin(), junk_.end(),
                                     [&](const JunkFolder& j) { return j.name == name; });
      if (known) continue;
      JunkFolder folder{name, 0};
      if (!before_sending) {
        junk_.push_back(std::move(folder));
        continue;
      }
      const std::string quoted = imap::quote(name);
      const std::string tag = imap_.queue("STATUS", "STATUS " + quoted + " (UIDNEXT)");
      Reply status = co_await imap_.reply(tag);
      // A configured junk folder may not exist until the first message is
      // filed there: it is watched all the same, from UIDNEXT 0.
      if (status.ok()) folder.uidnext = status_uidnext(status.untagged, name).value_or(0);
      junk_.push_back(std::move(folder));
    }
  }

  asio::awaitable<void> select_target() {
    const std::string mailbox = d_.mailbox;
    co_await open_mailbox(imap_, mailbox, /*writable=*/true);
  }

  // --- waiting -----------------------------------------------------------------

  asio::awaitable<void> wait_for_canary(Clock::time_point deadline) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    Duration pause = kFirstPoll;
    auto last_discovery = Clock::now();
    bool use_idle = imap_.has("IDLE");
    const std::string search = "UID SEARCH HEADER " + std::string(kStampHeader) + " " + token_;
    for (;;) {
      // NOOP first: servers report new mail on any command, some only on NOOP.
      const std::string noop_tag = imap_.queue("NOOP", "NOOP");
      const std::string search_tag = imap_.queue("UID SEARCH", search);
      std::vector<std::string> status_tags;
      for (const auto& j : junk_) {
        const std::string quoted = imap::quote(j.name);
        status_tags.push_back(imap_.queue("STATUS", "STATUS " + quoted + " (UIDNEXT)"));
      }
      // Untagged data of pipelined commands may come in any order: collect
      // it all, then read SEARCH and STATUS from the lot.
      Reply noop = co_await imap_.reply(noop_tag);
      Reply found = co_await imap_.reply(search_tag);
      std::vector<imap::Response> untagged = std::move(noop.untagged);
      for (auto& r : found.untagged) untagged.push_back(std::move(r));
      for (const auto& tag : status_tags) {
        Reply status = co_await imap_.reply(tag);
        for (auto& r : status.untagged) untagged.push_back(std::move(r));
      }
      if (!found.ok()) {
        fail(Reason::SearchFailed, "cannot search " + printable(d_.mailbox) +
                                       " for the canary: " + server_text(found.tagged));
      }
      std::vector<std::uint32_t> uids;
      for (const auto& r : untagged) {
        if (r.keyword != "SEARCH") continue;
        auto more = imap::parse_search(r.text);
        uids.insert(uids.end(), more.begin(), more.end());
      }
      std::vector<std::size_t> changed;
      for (std::size_t i = 0; i < junk_.size(); ++i) {
        const auto next = status_uidnext(untagged, junk_[i].name);
        if (!next) continue;
        if (*next != junk_[i].uidnext) changed.push_back(i);
        junk_[i].uidnext = *next;
      }
      if (!uids.empty()) {
        out_.latency = Clock::now() - accepted_;
        out_.found_in = d_.mailbox;
        found_uid_ = std::to_string(uids.front());
        co_return;
      }
      for (std::size_t i : changed) co_await look_in_junk(junk_[i].name);
      // Without a junk folder named in the spec, look for one appearing
      // about once a second: the first junk filing may create it.
      if (d_.junk_folders.empty() && Clock::now() - last_discovery >= std::chrono::seconds(1)) {
        const std::size_t before = junk_.size();
        co_await find_junk_folders(/*before_sending=*/false);
        last_discovery = Clock::now();
        for (std::size_t i = before; i < junk_.size(); ++i) co_await look_in_junk(junk_[i].name);
      }
      const auto now = Clock::now();
      if (now >= deadline) {
        std::string junk_names;
        for (const auto& j : junk_) junk_names += (junk_names.empty() ? "" : ", ") + j.name;
        fail(Reason::DeliveryTimeout,
             "accepted by the SMTP server" +
                 (out_.queue_id.empty() ? std::string() : " as queue id " + out_.queue_id) +
                 ", not in " + printable(d_.mailbox) +
                 (junk_names.empty() ? std::string() : " or " + printable(junk_names)) +
                 " within " + format_duration(d_.timeout));
      }
      // Quick polls first: most mail arrives within a second, and polling
      // measures it closer than IDLE would (Dovecot batches IDLE
      // notifications for half a second). After that, IDLE lets the server
      // say when mail arrives; it is left once a second all the same, for
      // the junk folders, which it does not watch.
      if (use_idle && pause >= kMaxPoll) {
        const auto end = co_await imap_.idle(std::min(now + kMaxPoll, deadline));
        if (end != ImapClient::IdleEnd::Refused) continue;
        use_idle = false;  // poll from now on
      }
      timer.expires_after(std::min<Duration>(pause, deadline - now));
      co_await timer.async_wait(asio::use_awaitable);
      if (Clock::now() - accepted_ >= kQuickPolls) pause = std::min<Duration>(pause * 2, kMaxPoll);
    }
  }

  // A junk folder changed: is the canary there? If so it is deleted there
  // (the mailbox ends as it started) and the run fails DeliveredToJunk.
  asio::awaitable<void> look_in_junk(std::string folder) {
    const std::string quoted = imap::quote(folder);
    const std::string select_tag = imap_.queue("SELECT", "SELECT " + quoted);
    Reply selected = co_await imap_.reply(select_tag);
    std::string uid;
    if (selected.ok()) {
      const std::string line = "UID SEARCH HEADER " + std::string(kStampHeader) + " " + token_;
      const std::string tag = imap_.queue("UID SEARCH", line);
      Reply found = co_await imap_.reply(tag);
      for (const auto& r : found.untagged) {
        if (r.keyword != "SEARCH") continue;
        auto uids = imap::parse_search(r.text);
        if (!uids.empty()) uid = std::to_string(uids.front());
      }
    }
    if (!uid.empty()) {
      const auto latency = Clock::now() - accepted_;
      out_.latency = latency;
      out_.found_in = folder;
      co_await clean_up(folder, uid);
      fail(Reason::DeliveredToJunk,
           "the canary" +
               (out_.queue_id.empty() ? std::string() : " (queue id " + out_.queue_id + ")") +
               " was delivered to the junk folder " + printable(folder) + " after " +
               format_measured(latency) + ", not to " + printable(d_.mailbox));
    }
    co_await select_target();
  }

  // --- cleanup -------------------------------------------------------------------

  // Deletes this run's canary and abandoned ones (sent longer ago than the
  // delivery timeout plus a minute), never another run's live canary or
  // other mail. `own_uid` is this run's canary in the selected `mailbox`.
  asio::awaitable<void> clean_up(std::string mailbox, std::string own_uid) {
    const std::string line = "UID SEARCH HEADER " + std::string(kStampHeader) + " \"\"";
    const std::string tag = imap_.queue("UID SEARCH", line);
    Reply all = co_await imap_.reply(tag);
    std::vector<std::uint32_t> others;
    for (const auto& r : all.untagged) {
      if (r.keyword != "SEARCH") continue;
      for (auto uid : imap::parse_search(r.text)) {
        if (std::to_string(uid) != own_uid) others.push_back(uid);
      }
    }
    std::string set = own_uid;
    if (!others.empty()) {
      std::string others_set;
      for (auto uid : others) others_set += (others_set.empty() ? "" : ",") + std::to_string(uid);
      const std::string fetch = "UID FETCH " + others_set + " (UID BODY.PEEK[HEADER.FIELDS (" +
                                std::string(kStampHeader) + ")])";
      const std::string fetch_tag = imap_.queue("UID FETCH", fetch);
      Reply stamps = co_await imap_.reply(fetch_tag);
      const auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
      const auto abandoned_after =
          std::chrono::duration_cast<std::chrono::seconds>(d_.timeout).count() + 60;
      for (const auto& r : stamps.untagged) {
        if (r.keyword != "FETCH" || r.literals.empty()) continue;
        std::string_view header = r.literals.back();
        const auto colon = header.find(':');
        if (colon == std::string_view::npos) continue;
        auto stamp = parse_canary_stamp(header.substr(colon + 1));
        if (!stamp || now_unix - stamp->sent_unix < abandoned_after) continue;
        const std::string uid = uid_of(r);
        if (!uid.empty()) set += (set.empty() ? "" : ",") + uid;
      }
    }
    if (set.empty()) co_return;
    co_await expunge_uids(imap_, set, Reason::ProtocolError,
                          "the delivery canary in " + printable(mailbox));
  }

  const ProbeSpec& spec_;
  const DeliverySpec& d_;
  const Credentials& creds_;
  ImapClient& imap_;
  Connector& connector_;
  StepRunner& steps_;
  DeliveryResult& out_;
  std::vector<JunkFolder> junk_;
  std::string token_;
  Clock::time_point accepted_{};
  std::string found_uid_;
};

}  // namespace

asio::awaitable<void> check_delivery(const ProbeSpec& spec, const Credentials& credentials,
                                     ImapClient& imap, Connector& connector, StepRunner& steps,
                                     DeliveryResult& out, std::string token) {
  Delivery delivery(spec, credentials, imap, connector, steps, out);
  co_await delivery.run(std::move(token));
}

std::string delivery_canary(std::string_view token, std::string_view origin, std::int64_t sent_unix,
                            std::string_view from, std::string_view to, std::string_view date) {
  std::string m;
  m += "From: imapprobe <" + std::string(from) + ">\r\n";
  m += "To: <" + std::string(to) + ">\r\n";
  m += "Subject: imapprobe delivery check " + std::string(token) + "\r\n";
  m += "Date: " + std::string(date) + "\r\n";
  m += "Message-ID: <" + std::string(token) + "@imapprobe.invalid>\r\n";
  // RFC 3834: no vacation or other automatic replies to a canary.
  m += "Auto-Submitted: auto-generated\r\n";
  m += std::string(kStampHeader) + ": " + std::string(token) + " " +
       std::string(origin.empty() ? "-" : origin) + " " + std::to_string(sent_unix) + "\r\n";
  m += "\r\nSynthetic delivery check; deleted by the probe that sent it once it arrives.\r\n";
  return m;
}

std::optional<CanaryStamp> parse_canary_stamp(std::string_view value) {
  auto next_word = [&value]() -> std::string_view {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    std::size_t n = 0;
    while (n < value.size() && value[n] != ' ' && value[n] != '\t' && value[n] != '\r' &&
           value[n] != '\n')
      ++n;
    std::string_view w = value.substr(0, n);
    value.remove_prefix(n);
    return w;
  };
  CanaryStamp stamp;
  stamp.token = next_word();
  stamp.origin = next_word();
  const std::string_view when = next_word();
  if (stamp.token.size() != 32 || stamp.origin.empty() || when.empty()) return std::nullopt;
  const auto [end, ec] = std::from_chars(when.data(), when.data() + when.size(), stamp.sent_unix);
  if (ec != std::errc{} || end != when.data() + when.size()) return std::nullopt;
  return stamp;
}

bool common_junk_name(std::string_view mailbox) {
  static constexpr std::string_view kNames[] = {
      "junk",         "spam",       "junk e-mail", "junk email", "bulk mail",
      "[gmail]/spam", "inbox.junk", "inbox.spam",  "inbox/junk", "inbox/spam"};
  const std::string l = lower(mailbox);
  return std::find(std::begin(kNames), std::end(kNames), l) != std::end(kNames);
}

}  // namespace imapprobe::probe
