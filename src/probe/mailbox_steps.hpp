// What a mail client does once logged in: open the mailbox, search, fetch
// the newest messages, and the round trip (APPEND a canary, find it,
// delete it), each over the IMAP client.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probe/imap_client.hpp"
#include "probe/spec.hpp"

namespace imapprobe::probe {

// One LIST (or XLIST) response: the mailbox name, unquoted, and its
// attributes upper-cased ("\\JUNK", "\\HASNOCHILDREN").
struct ListEntry {
  std::string name;
  std::vector<std::string> attributes;
};
std::optional<ListEntry> list_entry(const imap::Response& r);

// SELECT (writable) or EXAMINE (read-only, so a monitoring login changes no
// \Recent or \Seen state). Returns EXISTS. A refusal is MailboxNotFound
// when the server says NONEXISTENT or, for servers that send no code, when
// LIST does not know the mailbox; else SelectFailed.
boost::asio::awaitable<std::uint32_t> open_mailbox(ImapClient& client, std::string mailbox,
                                                   bool writable);

// SEARCH `criteria`; returns the number of matches.
boost::asio::awaitable<std::uint32_t> search(ImapClient& client, std::string criteria);

// FETCH the newest `latest` of `exists` messages; returns how many came.
boost::asio::awaitable<std::uint32_t> fetch_latest(ImapClient& client, std::uint32_t exists,
                                                   std::uint32_t latest, FetchWhat what);

// --- content checks ---

// The age of the newest message matching `criteria` (by INTERNALDATE, among
// the last ten matches in mailbox order), or nullopt when none matches.
boost::asio::awaitable<std::optional<Duration>> newest_message_age(ImapClient& client,
                                                                   std::string criteria);
// GETQUOTAROOT (RFC 9208) of `mailbox`: the fullest resource with a limit.
// Fails QuotaUnavailable when the server has no QUOTA extension or sets no
// limit for the mailbox.
boost::asio::awaitable<QuotaUsage> quota_usage(ImapClient& client, std::string mailbox);

// "17-Jul-1996 02:44:25 -0700" (RFC 3501 date-time, quotes optional).
std::optional<std::chrono::system_clock::time_point> parse_internal_date(std::string_view text);
// The QUOTA responses of a GETQUOTAROOT reply: the fullest resource with a
// non-zero limit, if any.
std::optional<QuotaUsage> fullest_quota(const Reply& reply);

// The canary the round trip appends: unique by `token`, dated `date`.
std::string canary_message(std::string_view token, std::string_view date);

// APPEND a canary to the selected `mailbox`, find it by its token, then
// delete it and the canaries that are abandoned: made more than
// `abandoned_after` ago by the time their token starts with (canary_token),
// or without a time (an earlier version's). A canary of a run still in
// flight (another location's, sharing the mailbox) is left alone, so the
// mailbox ends as it started without one run failing another's.
boost::asio::awaitable<void> round_trip(
    ImapClient& client, std::string mailbox, std::string token, std::string date,
    std::chrono::seconds abandoned_after = std::chrono::minutes(5));

// "<unix seconds>-<32 hex digits>": a round trip canary's token, telling
// when it was made.
std::string canary_token();
// The unix time a canary token starts with; nullopt for a token without.
std::optional<std::int64_t> canary_token_time(std::string_view token);

// UID STORE +FLAGS (\Deleted), then UID EXPUNGE of `uid_set` (plain
// EXPUNGE without UIDPLUS); a refusal fails `on_failure`, naming `what`.
boost::asio::awaitable<void> expunge_uids(ImapClient& client, std::string uid_set,
                                          Reason on_failure, std::string what);

// 32 random hex digits for canary tokens.
std::string random_token();
// The current time as an RFC 5322 Date header value.
std::string rfc5322_now();

}  // namespace imapprobe::probe
