// Logging in: LOGIN and the SASL mechanisms, one function per dialogue
// family, over the IMAP client. Credentials go only into the bytes sent,
// never into a message.
#pragma once

#include <string_view>

#include "probe/imap_client.hpp"
#include "probe/spec.hpp"

namespace imapprobe::probe {

// Logs in with `mechanism` (not None). Fails AuthMechanismUnavailable when
// the server does not offer it, AuthFailed when it refuses the credentials
// or a SASL exchange goes wrong, LoginTimeout when it does not answer.
// Whether credentials may be sent at all (TLS or allowPlaintext) is the
// caller's decision, made before this is called.
// `scram_nonce` is SCRAM-SHA-256's client nonce; empty (always, outside
// tests) means a fresh random one. It must outlive the returned awaitable.
boost::asio::awaitable<void> authenticate(ImapClient& client, Mechanism mechanism,
                                          const Credentials& credentials,
                                          std::string_view scram_nonce = {});

}  // namespace imapprobe::probe
