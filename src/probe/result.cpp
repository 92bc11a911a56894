#include "probe/result.hpp"

namespace imapprobe::probe {

std::string_view to_string(Step s) {
  switch (s) {
    case Step::Dns:
      return "dns";
    case Step::Connect:
      return "connect";
    case Step::Tls:
      return "tls";
    case Step::Greeting:
      return "greeting";
    case Step::Capability:
      return "capability";
    case Step::Token:
      return "token";
    case Step::Login:
      return "login";
    case Step::Select:
      return "select";
    case Step::Search:
      return "search";
    case Step::Fetch:
      return "fetch";
    case Step::Checks:
      return "checks";
    case Step::RoundTrip:
      return "roundTrip";
    case Step::SmtpConnect:
      return "smtpConnect";
    case Step::SmtpTls:
      return "smtpTls";
    case Step::SmtpEhlo:
      return "smtpEhlo";
    case Step::SmtpAuth:
      return "smtpAuth";
    case Step::SmtpSend:
      return "smtpSend";
    case Step::Delivery:
      return "delivery";
    case Step::DeliveryCleanup:
      return "deliveryCleanup";
    case Step::Logout:
      return "logout";
  }
  return "unknown";
}

std::optional<Step> step_from_string(std::string_view s) {
  for (Step step : kAllSteps) {
    if (to_string(step) == s) return step;
  }
  return std::nullopt;
}

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::Success:
      return "Success";
    case Outcome::Degraded:
      return "Degraded";
    case Outcome::Failure:
      return "Failure";
  }
  return "Failure";
}

std::string_view to_string(Reason r) {
  switch (r) {
#define IMAPPROBE_REASON(name) \
  case Reason::name:           \
    return #name;
    IMAPPROBE_REASON(Succeeded)
    IMAPPROBE_REASON(DNSFailed)
    IMAPPROBE_REASON(ConnectRefused)
    IMAPPROBE_REASON(ConnectTimeout)
    IMAPPROBE_REASON(ConnectFailed)
    IMAPPROBE_REASON(TLSHandshakeFailed)
    IMAPPROBE_REASON(CertificateExpired)
    IMAPPROBE_REASON(CertificateNotYetValid)
    IMAPPROBE_REASON(CertificateUntrusted)
    IMAPPROBE_REASON(CertificateHostnameMismatch)
    IMAPPROBE_REASON(CertificateExpiringSoon)
    IMAPPROBE_REASON(GreetingTimeout)
    IMAPPROBE_REASON(TLSModeMismatch)
    IMAPPROBE_REASON(NotIMAP)
    IMAPPROBE_REASON(ServerBye)
    IMAPPROBE_REASON(ConnectionClosed)
    IMAPPROBE_REASON(STARTTLSUnavailable)
    IMAPPROBE_REASON(AuthMechanismUnavailable)
    IMAPPROBE_REASON(PlaintextAuthRefused)
    IMAPPROBE_REASON(AuthFailed)
    IMAPPROBE_REASON(LoginTimeout)
    IMAPPROBE_REASON(MailboxNotFound)
    IMAPPROBE_REASON(SelectFailed)
    IMAPPROBE_REASON(SearchFailed)
    IMAPPROBE_REASON(FetchFailed)
    IMAPPROBE_REASON(RoundTripFailed)
    IMAPPROBE_REASON(SMTPUnavailable)
    IMAPPROBE_REASON(SMTPAuthFailed)
    IMAPPROBE_REASON(SenderRejected)
    IMAPPROBE_REASON(RecipientRejected)
    IMAPPROBE_REASON(MessageRejected)
    IMAPPROBE_REASON(DeliveryTimeout)
    IMAPPROBE_REASON(DeliveredToJunk)
    IMAPPROBE_REASON(MessageCountOutOfRange)
    IMAPPROBE_REASON(NewestMessageTooOld)
    IMAPPROBE_REASON(QuotaNearlyFull)
    IMAPPROBE_REASON(QuotaExceeded)
    IMAPPROBE_REASON(QuotaUnavailable)
    IMAPPROBE_REASON(TokenEndpointUnavailable)
    IMAPPROBE_REASON(TokenClientRejected)
    IMAPPROBE_REASON(TokenGrantRejected)
    IMAPPROBE_REASON(TokenRequestRejected)
    IMAPPROBE_REASON(ProtocolError)
    IMAPPROBE_REASON(CommandTimeout)
    IMAPPROBE_REASON(Timeout)
    IMAPPROBE_REASON(SlowResponse)
    IMAPPROBE_REASON(InternalError)
#undef IMAPPROBE_REASON
  }
  return "Unknown";
}

}  // namespace imapprobe::probe
