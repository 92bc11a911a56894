#include "cli/check_command.hpp"

#include <CLI/CLI.hpp>
#include <fstream>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "cli/report.hpp"
#include "oauth/client_assertion.hpp"

namespace imapprobe::cli {
namespace {

constexpr int kUnknown = static_cast<int>(PluginState::Unknown);

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(std::string("cannot read ") + what + " file " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Secrets kept in files usually end with a newline the user did not mean.
std::string chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

void parse_thresholds(const std::vector<std::string>& items, bool critical, probe::Thresholds& t) {
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) {
      throw std::invalid_argument("threshold \"" + item +
                                  "\" must be STEP=DURATION, e.g. login=2s");
    }
    const std::string step = item.substr(0, eq);
    const probe::Duration d = probe::parse_duration(item.substr(eq + 1));
    if (step == "total") {
      (critical ? t.total_critical : t.total_warning) = d;
      continue;
    }
    auto s = probe::step_from_string(step);
    if (!s) {
      std::string steps;
      for (auto known : probe::kAllSteps) steps += std::string(probe::to_string(known)) + ", ";
      throw std::invalid_argument("unknown step \"" + step + "\" in threshold (steps: " + steps +
                                  "total)");
    }
    (critical ? t.critical : t.warning)[*s] = d;
  }
}

std::string_view flag_of(probe::Setting s) {
  switch (s) {
    case probe::Setting::Search:
      return "--search";
    case probe::Setting::Fetch:
      return "--fetch";
    case probe::Setting::RoundTrip:
      return "--round-trip";
    case probe::Setting::Delivery:
      return "--smtp-host";
    case probe::Setting::Checks:
      return "content checks:";
    case probe::Setting::OAuth2:
      return "--oauth2-token-url";
  }
  return "?";
}

bool has_line_break(const std::string& s) {
  return s.find_first_of(std::string("\r\n\0", 3)) != std::string::npos;
}

// A secret from a file (trailing line break removed) or an environment
// variable, never from the command line, where ps would show it.
std::string secret_from(const std::string& file, const std::string& variable, const EnvLookup& env,
                        const std::string& flag, const std::string& what) {
  if (!file.empty() && !variable.empty()) {
    throw std::invalid_argument("give only one of " + flag + "-file, " + flag + "-env");
  }
  if (!file.empty()) return chomp(read_file(file, what.c_str()));
  if (!variable.empty()) {
    auto v = env(variable);
    if (!v) throw std::invalid_argument("environment variable " + variable + " is not set");
    return *v;
  }
  return {};
}

}  // namespace

void validate(const probe::ProbeSpec& spec) {
  if (spec.host.empty()) throw std::invalid_argument("a host is required");
  if (has_line_break(spec.host) || spec.host.size() > 253) {
    throw std::invalid_argument("host is not a valid name or address");
  }
  if (spec.mailbox.empty() || has_line_break(spec.mailbox)) {
    throw std::invalid_argument("mailbox must be non-empty and on one line");
  }
  if (has_line_break(spec.search))
    throw std::invalid_argument("search criteria must be on one line");
  if (spec.timeout <= probe::Duration::zero() || spec.step_timeout <= probe::Duration::zero()) {
    throw std::invalid_argument("timeouts must be positive");
  }
  if (spec.cert_fail_before > spec.cert_warn_before) {
    throw std::invalid_argument("certificate critical window must not exceed the warning window");
  }
}

int run_check(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              const EnvLookup& env, const ProbeRunner& runner) {
  probe::ProbeSpec spec;
  probe::Credentials creds;
  std::string tls = "Implicit", family = "Any", mechanism = "Plain", fetch_what = "Headers";
  std::string timeout = "30s", step_timeout = "10s";
  std::string ca_file, password, password_file, password_env, output = "nagios";
  std::vector<std::string> warnings, criticals;
  double cert_warn_days = 14, cert_crit_days = 3;
  bool no_system_trust = false;
  int port = 0;
  // The delivery check, on when --smtp-host is given.
  probe::DeliverySpec delivery;
  std::string smtp_tls = "STARTTLS", smtp_mechanism = "Plain", delivery_timeout = "20s";
  std::string smtp_password_file, smtp_password_env;
  int smtp_port = 0;
  // Content checks.
  std::optional<std::uint32_t> min_messages, max_messages;
  std::optional<double> quota_warn, quota_crit;
  std::string newest_max_age;
  // auth.oauth2, on when --oauth2-token-url is given.
  probe::OAuth2Spec oauth2;
  std::string oauth2_grant = "ClientCredentials", oauth2_client_auth = "Basic";
  std::string oauth2_secret_file, oauth2_secret_env, oauth2_refresh_file, oauth2_refresh_env;
  std::string oauth2_cert_file, oauth2_key_file;

  CLI::App app{"Run one synthetic IMAP check and report it as a Nagios/Icinga plugin.", "check"};
  app.add_option("-H,--host", spec.host, "IMAP server host name or address")->required();
  app.add_option("-p,--port", port, "port (default 993 for Implicit, 143 otherwise)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--tls", tls, "Implicit | STARTTLS | None")->capture_default_str();
  app.add_option("--ip-family", family, "Any | IPv4 | IPv6 | Both (each family, one verdict)")
      ->capture_default_str();
  app.add_option("--server-name", spec.server_name, "name for SNI and certificate verification");
  app.add_option("--ca-file", ca_file, "extra trusted CA certificates (PEM)");
  app.add_flag("--no-system-trust", no_system_trust, "trust only --ca-file");
  app.add_flag("--insecure-skip-verify", spec.insecure_skip_verify,
               "do not fail on certificate errors (still reported)");
  app.add_option("--min-tls", spec.min_tls_version, "TLSv1.2 | TLSv1.3")->capture_default_str();
  app.add_option("-m,--mechanism", mechanism,
                 "Login | Plain | CramMD5 | ScramSHA256 | XOAuth2 | OAuthBearer | None")
      ->capture_default_str();
  app.add_option("-u,--user", creds.username, "user name");
  app.add_option("--password", password,
                 "password or token (visible to other local users; prefer --password-file)");
  app.add_option("--password-file", password_file, "read the password or token from this file");
  app.add_option("--password-env", password_env,
                 "read the password or token from this environment variable");
  app.add_flag("--allow-plaintext", spec.allow_plaintext,
               "allow credentials over an unencrypted connection");
  app.add_option("--oauth2-token-url", oauth2.token_url,
                 "obtain the XOAuth2/OAuthBearer token from this OAuth 2.0 token endpoint");
  app.add_option("--oauth2-grant", oauth2_grant, "ClientCredentials | RefreshToken")
      ->capture_default_str();
  app.add_option("--oauth2-client-id", oauth2.client_id, "OAuth 2.0 client id");
  app.add_option("--oauth2-scope", oauth2.scopes, "scope to request (repeatable)");
  app.add_option("--oauth2-client-auth", oauth2_client_auth, "Basic | Post | PrivateKeyJwt")
      ->capture_default_str();
  app.add_option("--oauth2-client-secret-file", oauth2_secret_file,
                 "read the client secret from this file");
  app.add_option("--oauth2-client-secret-env", oauth2_secret_env,
                 "read the client secret from this environment variable");
  app.add_option("--oauth2-refresh-token-file", oauth2_refresh_file,
                 "read the refresh token from this file (RefreshToken)");
  app.add_option("--oauth2-refresh-token-env", oauth2_refresh_env,
                 "read the refresh token from this environment variable (RefreshToken)");
  app.add_option("--oauth2-client-cert", oauth2_cert_file,
                 "client certificate, PEM (PrivateKeyJwt)");
  app.add_option("--oauth2-client-key", oauth2_key_file, "its private key, PEM (PrivateKeyJwt)");
  app.add_flag("--oauth2-allow-insecure-http", oauth2.allow_insecure_http,
               "allow an http:// token URL (sends the client secret in clear)");
  app.add_option("--mailbox", spec.mailbox, "mailbox to open")->capture_default_str();
  app.add_option("--search", spec.search, "IMAP SEARCH criteria, e.g. ALL or UNSEEN");
  app.add_option("--fetch", spec.fetch_latest, "fetch the newest N messages");
  app.add_option("--fetch-what", fetch_what, "Headers | Envelope | Full")->capture_default_str();
  app.add_flag("--round-trip", spec.round_trip, "APPEND a canary message, find it, then delete it");
  app.add_option("--min-messages", min_messages,
                 "fail when the mailbox (or --count-search) holds fewer messages");
  app.add_option("--max-messages", max_messages,
                 "fail when the mailbox (or --count-search) holds more messages");
  app.add_option("--count-search", spec.checks.edit().count_search,
                 "count the matches of these SEARCH criteria instead of every message");
  app.add_option("--newest-max-age", newest_max_age,
                 "fail when the newest message matching --newest-search is older (e.g. 26h)");
  app.add_option("--newest-search", spec.checks.edit().newest_search,
                 "SEARCH criteria for --newest-max-age, e.g. 'FROM \"backup@example.com\"'")
      ->capture_default_str();
  app.add_option("--quota-warn", quota_warn,
                 "warn when quota usage (GETQUOTAROOT) reaches this percentage");
  app.add_option("--quota-crit", quota_crit,
                 "fail when quota usage (GETQUOTAROOT) reaches this percentage");
  app.add_option("--smtp-host", delivery.host,
                 "delivery check: submit a canary to this SMTP server and wait for it in the "
                 "mailbox");
  app.add_option("--smtp-port", smtp_port, "SMTP port (default 465 for Implicit, 587 otherwise)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--smtp-tls", smtp_tls, "Implicit | STARTTLS | None")->capture_default_str();
  app.add_option("--smtp-server-name", delivery.server_name,
                 "name for SNI and certificate verification of the SMTP server");
  app.add_option("--smtp-mechanism", smtp_mechanism, "Plain | Login | XOAuth2 | OAuthBearer | None")
      ->capture_default_str();
  app.add_option("--smtp-user", creds.extra.edit().smtp_username,
                 "SMTP user name (default: --user)");
  app.add_option("--smtp-password-file", smtp_password_file,
                 "read the SMTP password from this file (default: the IMAP one)");
  app.add_option("--smtp-password-env", smtp_password_env,
                 "read the SMTP password from this environment variable");
  app.add_option("--mail-from", delivery.from, "envelope sender (default: --user)");
  app.add_option("--mail-to", delivery.to, "recipient (default: --user)");
  app.add_option("--delivery-mailbox", delivery.mailbox, "where the canary should arrive")
      ->capture_default_str();
  app.add_option("--junk-folder", delivery.junk_folders,
                 "junk folder to watch (repeatable; default: \\Junk, then common names)");
  app.add_option("--delivery-timeout", delivery_timeout,
                 "how long after SMTP accepted it the canary may take to arrive")
      ->capture_default_str();
  app.add_option("-t,--timeout", timeout, "deadline for the whole check")->capture_default_str();
  app.add_option("--step-timeout", step_timeout, "deadline for any one step")
      ->capture_default_str();
  app.add_option("-w,--warning", warnings, "STEP=DURATION warning threshold (step or total)");
  app.add_option("-c,--critical", criticals, "STEP=DURATION critical threshold (step or total)");
  app.add_option("--cert-warn-days", cert_warn_days, "warn when the certificate expires sooner")
      ->capture_default_str();
  app.add_option("--cert-crit-days", cert_crit_days, "fail when the certificate expires sooner")
      ->capture_default_str();
  app.add_option("-o,--output", output, "nagios | json | text")
      ->check(CLI::IsMember({"nagios", "json", "text"}))
      ->capture_default_str();

  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend() - (args.empty() ? 0 : 1));
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kUnknown;
  } catch (const CLI::ParseError& e) {
    err << "imapprobe check: " << e.what() << "\nRun 'imapprobe check --help' for the flags.\n";
    return kUnknown;
  }

  try {
    spec.port = static_cast<std::uint16_t>(port);
    spec.tls = probe::parse_tls_mode(tls);
    spec.ip_family = probe::parse_ip_family(family);
    spec.mechanism = probe::parse_mechanism(mechanism);
    spec.fetch_what = probe::parse_fetch_what(fetch_what);
    spec.timeout = probe::parse_duration(timeout);
    spec.step_timeout = std::min(probe::parse_duration(step_timeout), spec.timeout);
    parse_thresholds(warnings, false, spec.thresholds.edit());
    parse_thresholds(criticals, true, spec.thresholds.edit());
    spec.cert_warn_before = std::chrono::duration_cast<probe::Duration>(
        std::chrono::duration<double>(cert_warn_days * 86400.0));
    spec.cert_fail_before = std::chrono::duration_cast<probe::Duration>(
        std::chrono::duration<double>(cert_crit_days * 86400.0));
    spec.use_system_trust = !no_system_trust;
    if (!ca_file.empty()) spec.ca_pem = read_file(ca_file, "CA");
    if (no_system_trust && ca_file.empty()) {
      throw std::invalid_argument("--no-system-trust needs --ca-file");
    }
    const int sources = !password.empty() + !password_file.empty() + !password_env.empty();
    if (sources > 1) {
      throw std::invalid_argument("give only one of --password, --password-file, --password-env");
    }
    if (!password_file.empty()) creds.secret = chomp(read_file(password_file, "password"));
    if (!password_env.empty()) {
      auto v = env(password_env);
      if (!v) throw std::invalid_argument("environment variable " + password_env + " is not set");
      creds.secret = *v;
    }
    if (!password.empty()) creds.secret = password;
    if (!oauth2.token_url.empty()) {
      if (sources > 0) {
        throw std::invalid_argument("--oauth2-token-url obtains the token: give no --password*");
      }
      oauth2.grant = oauth::parse_grant(oauth2_grant);
      oauth2.client_auth = oauth::parse_client_auth(oauth2_client_auth);
      creds.extra.edit().oauth_client_secret = secret_from(
          oauth2_secret_file, oauth2_secret_env, env, "--oauth2-client-secret", "client secret");
      creds.extra.edit().oauth_refresh_token = secret_from(
          oauth2_refresh_file, oauth2_refresh_env, env, "--oauth2-refresh-token", "refresh token");
      if (oauth2.grant == oauth::Grant::RefreshToken && creds.extra->oauth_refresh_token.empty()) {
        throw std::invalid_argument(
            "--oauth2-grant RefreshToken needs --oauth2-refresh-token-file or -env");
      }
      const bool jwt = oauth2.client_auth == oauth::ClientAuth::PrivateKeyJwt;
      if (jwt != !oauth2_cert_file.empty() || oauth2_cert_file.empty() != oauth2_key_file.empty()) {
        throw std::invalid_argument(
            "--oauth2-client-cert and --oauth2-client-key go with --oauth2-client-auth "
            "PrivateKeyJwt, and only with it");
      }
      if (jwt) {
        creds.extra.edit().oauth_client_certificate_pem =
            read_file(oauth2_cert_file, "client certificate");
        creds.extra.edit().oauth_client_key_pem = read_file(oauth2_key_file, "client key");
        if (auto problem = oauth::check_client_certificate(
                creds.extra->oauth_client_certificate_pem, creds.extra->oauth_client_key_pem)) {
          throw std::invalid_argument("--oauth2-client-cert/--oauth2-client-key: " + *problem);
        }
      } else if (oauth2.grant == oauth::Grant::ClientCredentials &&
                 creds.extra->oauth_client_secret.empty()) {
        throw std::invalid_argument(
            "the ClientCredentials grant needs --oauth2-client-secret-file or -env");
      }
      spec.oauth2 = std::make_shared<probe::OAuth2Spec>(std::move(oauth2));
    }
    if (spec.mechanism != probe::Mechanism::None) {
      if (creds.username.empty())
        throw std::invalid_argument("--user is required unless --mechanism None");
      if (creds.secret.empty() && !spec.oauth2) {
        throw std::invalid_argument(
            "a password or token is required (--password-file, --password-env or --password)");
      }
    }
    spec.checks.edit().min_messages = min_messages;
    spec.checks.edit().max_messages = max_messages;
    spec.checks.edit().quota_warn_percent = quota_warn;
    spec.checks.edit().quota_fail_percent = quota_crit;
    if (!newest_max_age.empty())
      spec.checks.edit().newest_max_age = probe::parse_duration(newest_max_age);
    if (has_line_break(spec.checks->count_search) || has_line_break(spec.checks->newest_search)) {
      throw std::invalid_argument("search criteria must be on one line");
    }
    if (!delivery.host.empty()) {
      delivery.port = static_cast<std::uint16_t>(smtp_port);
      delivery.tls = probe::parse_tls_mode(smtp_tls);
      delivery.mechanism = probe::parse_mechanism(smtp_mechanism);
      delivery.timeout = probe::parse_duration(delivery_timeout);
      if (!smtp_password_file.empty() && !smtp_password_env.empty()) {
        throw std::invalid_argument("give only one of --smtp-password-file, --smtp-password-env");
      }
      if (!smtp_password_file.empty()) {
        creds.extra.edit().smtp_secret = chomp(read_file(smtp_password_file, "SMTP password"));
      }
      if (!smtp_password_env.empty()) {
        auto v = env(smtp_password_env);
        if (!v) {
          throw std::invalid_argument("environment variable " + smtp_password_env + " is not set");
        }
        creds.extra.edit().smtp_secret = *v;
      }
      if (creds.extra->smtp_username.empty() != creds.extra->smtp_secret.empty()) {
        throw std::invalid_argument(
            "--smtp-user and an SMTP password (--smtp-password-file or --smtp-password-env) go "
            "together");
      }
      if (has_line_break(delivery.mailbox)) {
        throw std::invalid_argument("--delivery-mailbox must be on one line");
      }
      for (const auto* field : {&delivery.host, &delivery.from, &delivery.to}) {
        if (has_line_break(*field) || field->find_first_of("<> ") != std::string::npos) {
          throw std::invalid_argument(
              "--smtp-host, --mail-from and --mail-to take a bare name or address (no spaces, "
              "< or >)");
        }
      }
      spec.delivery = delivery;
    }
    validate(spec);
  } catch (const std::exception& e) {
    err << "imapprobe check: " << e.what() << '\n';
    return kUnknown;
  }
  // Refused rather than skipped: an OK for a search that never ran would be a lie.
  if (const auto problems = probe::spec_problems(spec); !problems.empty()) {
    for (const auto& p : problems) {
      err << "imapprobe check: " << flag_of(p.setting) << ' ' << p.what << '\n';
    }
    return kUnknown;
  }

  const probe::ProbeResult result = runner(spec, creds);
  if (output == "json") {
    write_json(out, spec, result);
  } else if (output == "text") {
    write_text(out, spec, result);
  } else {
    write_nagios(out, spec, result);
  }
  return static_cast<int>(plugin_state(result));
}

}  // namespace imapprobe::cli
