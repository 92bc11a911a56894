// Token endpoint answers as real providers send them (ORY Hydra, Google,
// Microsoft Entra ID, a proxy in the way), and the rule that a token value
// never reaches a message.
#include "oauth/token_response.hpp"

#include <gtest/gtest.h>

#include <string>

namespace imapprobe::oauth {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kJson = "application/json;charset=UTF-8";

IssuedToken issued(int status, std::string_view ct, std::string_view body) {
  auto r = parse_token_response(status, ct, body);
  if (!std::holds_alternative<IssuedToken>(r)) {
    ADD_FAILURE() << "not a token: " << body;
    return {};
  }
  return std::get<IssuedToken>(r);
}

TokenError token_error(int status, std::string_view ct, std::string_view body) {
  auto r = parse_token_response(status, ct, body);
  if (!std::holds_alternative<TokenError>(r)) {
    ADD_FAILURE() << "not an error: " << body;
    return {};
  }
  return std::get<TokenError>(r);
}

std::string refusal(int status, std::string_view ct, std::string_view body) {
  try {
    parse_token_response(status, ct, body);
  } catch (const TokenResponseError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted " << body;
  return {};
}

TEST(TokenResponse, OryHydraClientCredentials) {
  const auto t = issued(200, kJson,
                        R"({"access_token":"ory_at_Xq1sd3N3nNB2o7Qo3Pj1ySa2hJqB8f9QYmGfKpV2Lx4.)"
                        R"(VgM2a8oAbc","expires_in":3599,"scope":"mail","token_type":"bearer"})");
  EXPECT_EQ(t.access_token, "ory_at_Xq1sd3N3nNB2o7Qo3Pj1ySa2hJqB8f9QYmGfKpV2Lx4.VgM2a8oAbc");
  EXPECT_EQ(t.token_type, "bearer");
  EXPECT_EQ(t.expires_in, 3599s);
  EXPECT_EQ(t.scope, "mail");
  EXPECT_EQ(t.refresh_token, "");
}

TEST(TokenResponse, RefreshTokenAndStringExpiresIn) {
  // Azure AD v1 endpoints send expires_in as a string.
  const auto t = issued(200, "application/json",
                        R"({"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599",)"
                        R"("access_token":"eyJ0eXAi.a.b","refresh_token":"0.AAAA-rt",)"
                        R"("scope":["IMAP.AccessAsUser.All","SMTP.Send"]})");
  EXPECT_EQ(t.token_type, "Bearer");
  EXPECT_EQ(t.expires_in, 3599s);
  EXPECT_EQ(t.refresh_token, "0.AAAA-rt");
  EXPECT_EQ(t.scope, "IMAP.AccessAsUser.All SMTP.Send");
  EXPECT_FALSE(issued(201, "", R"({"access_token":"x","token_type":"BEARER"})").expires_in);
  EXPECT_FALSE(issued(200, "", R"({"access_token":"x","token_type":"Bearer","expires_in":null})")
                   .expires_in);
  EXPECT_EQ(
      issued(200, "", R"({"access_token":"x","token_type":"Bearer","expires_in":60.0})").expires_in,
      60s);
}

TEST(TokenResponse, NegativeOrAbsurdExpiresInIsRefused) {
  for (const std::string_view v : {"-1", "\"-1\"", "1e300", "\"\"", "\"12x\"", "true", "{}", "1.5",
                                   "400000000", "99999999999999999999"}) {
    const std::string body =
        R"({"access_token":"tok-123","token_type":"Bearer","expires_in":)" + std::string(v) + "}";
    const std::string what = refusal(200, kJson, body);
    EXPECT_NE(what.find("expires_in"), std::string::npos) << v << ": " << what;
    EXPECT_EQ(what.find("tok-123"), std::string::npos) << what;
  }
}

TEST(TokenResponse, HydraInvalidClient) {
  const auto e = token_error(
      401, kJson,
      R"({"error":"invalid_client","error_description":"Client authentication failed (e.g., )"
      R"(unknown client, no client authentication included, or unsupported authentication )"
      R"(method)."})");
  EXPECT_EQ(e.code, "invalid_client");
  EXPECT_EQ(e.description,
            "Client authentication failed (e.g., unknown client, no client authentication "
            "included, or unsupported authentication method).");
  EXPECT_EQ(e.http_status, 401);
  EXPECT_EQ(e.summary(),
            "invalid_client (HTTP 401): Client authentication failed (e.g., unknown client, no "
            "client authentication included, or unsupported authentication method).");
}

TEST(TokenResponse, GoogleInvalidGrant) {
  const auto e = token_error(
      400, "application/json; charset=utf-8",
      "{\n  \"error\": \"invalid_grant\",\n  \"error_description\": \"Token has been expired or "
      "revoked.\"\n}");
  EXPECT_EQ(e.code, "invalid_grant");
  EXPECT_EQ(e.description, "Token has been expired or revoked.");
  EXPECT_EQ(e.http_status, 400);
}

TEST(TokenResponse, MicrosoftInvalidClientIsBoundedAndOnOneLine) {
  const std::string description =
      "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
      "request is the client secret value, not the client secret ID, for a secret added to app "
      "'00000000-0000-0000-0000-000000000000'.\\r\\nTrace ID: "
      "2a1b3c4d-5e6f-4a5b-8c7d-9e0f1a2b3c4d\\r\\nCorrelation ID: "
      "3b2c4d5e-6f7a-4b5c-9d8e-0f1a2b3c4d5e\\r\\nTimestamp: 2024-05-14 09:12:45Z";
  const auto e =
      token_error(401, "application/json; charset=utf-8",
                  R"({"error":"invalid_client","error_description":")" + description +
                      R"(","error_codes":[7000215],"timestamp":"2024-05-14 09:12:45Z","trace_id":)"
                      R"("2a1b3c4d-5e6f-4a5b-8c7d-9e0f1a2b3c4d","correlation_id":)"
                      R"("3b2c4d5e-6f7a-4b5c-9d8e-0f1a2b3c4d5e","error_uri":)"
                      R"("https://login.microsoftonline.com/error?code=7000215"})");
  EXPECT_EQ(e.code, "invalid_client");
  EXPECT_EQ(e.http_status, 401);
  EXPECT_TRUE(
      e.description.starts_with("AADSTS7000215: Invalid client secret provided. Ensure the secret"))
      << e.description;
  EXPECT_NE(e.description.find("'. Trace ID: 2a1b3c4d"), std::string::npos)
      << "CR LF as one space: " << e.description;
  EXPECT_LE(e.description.size(), 300u);
  EXPECT_TRUE(e.description.ends_with("...")) << e.description;
  EXPECT_EQ(e.description.find('\r'), std::string::npos);
}

TEST(TokenResponse, ErrorCodeAndDescriptionAreMadePrintable) {
  const auto e = token_error(200, "text/plain",
                             R"({"error":"bad\u001b[31m\\x","error_description":"line\u0000two"})");
  EXPECT_EQ(e.code, "bad\\x1b[31m\\x5cx");
  EXPECT_EQ(e.description, "line\\x00two");
  EXPECT_EQ(e.http_status, 200) << "any status with an error object";
  EXPECT_EQ(token_error(400, "", R"({"error":"invalid_scope"})").description, "");
}

TEST(TokenResponse, HtmlPageFromAProxyIsQuotedAsAnExcerpt) {
  const std::string what =
      refusal(200, "text/html; charset=utf-8",
              "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>" +
                  std::string(2000, 'x') + "</body></html>");
  EXPECT_NE(what.find("HTTP 200"), std::string::npos) << what;
  EXPECT_NE(what.find("\"text/html; charset=utf-8\""), std::string::npos) << what;
  EXPECT_NE(what.find("\"<!DOCTYPE html> <html><head><title>Sign in"), std::string::npos) << what;
  EXPECT_LT(what.size(), 250u) << what;
}

TEST(TokenResponse, BadGatewayText) {
  const std::string what = refusal(502, "text/plain", "Bad Gateway");
  EXPECT_EQ(what,
            "token endpoint answered HTTP 502 (\"text/plain\"): a body that is not a JSON object: "
            "\"Bad Gateway\"");
  EXPECT_NE(refusal(503, "", "").find("(no Content-Type): an empty body"), std::string::npos);
}

TEST(TokenResponse, JsonWithoutErrorOnAFailureNamesMembersNotValues) {
  const std::string what =
      refusal(500, kJson, R"({"message":"internal","detail":"db down","code":17})");
  EXPECT_NE(what.find("HTTP 500"), std::string::npos) << what;
  EXPECT_NE(what.find("members \"code\", \"detail\", \"message\""), std::string::npos) << what;
  EXPECT_EQ(what.find("db down"), std::string::npos) << what;
  // A non-string "error" is not RFC 6749's.
  EXPECT_NE(refusal(400, kJson, R"({"error":{"code":400}})").find("without an OAuth"),
            std::string::npos);
}

TEST(TokenResponse, MacTokenTypeIsRefused) {
  const std::string what =
      refusal(200, kJson,
              R"({"access_token":"SlAV32hkKG","token_type":"mac","mac_key":"adijq39jdlaska9asud",)"
              R"("mac_algorithm":"hmac-sha-256"})");
  EXPECT_NE(what.find("token_type \"mac\" is not Bearer"), std::string::npos) << what;
  EXPECT_NE(refusal(200, kJson, R"({"access_token":"SlAV32hkKG"})").find("no token_type"),
            std::string::npos);
}

TEST(TokenResponse, MissingOrEmptyAccessTokenIsRefused) {
  EXPECT_NE(
      refusal(200, kJson, R"({"token_type":"Bearer","expires_in":3600})").find("no access_token"),
      std::string::npos);
  EXPECT_NE(refusal(200, kJson, R"({"access_token":"","token_type":"Bearer"})")
                .find("empty access_token"),
            std::string::npos);
  EXPECT_NE(
      refusal(200, kJson, R"({"access_token":42,"token_type":"Bearer"})").find("not a string"),
      std::string::npos);
  EXPECT_NE(refusal(200, kJson, R"(["access"])").find("not a JSON object"), std::string::npos);
}

// Whatever goes wrong after a token was issued, its value stays out of the
// message: a status condition and an event are readable by many.
TEST(TokenResponse, NoMessageContainsATokenValue) {
  const std::string at = "AT-5ecr3t-value";
  const std::string rt = "RT-5ecr3t-value";
  const std::string bodies[] = {
      R"({"access_token":")" + at + R"(","refresh_token":")" + rt + R"(","token_type":"mac"})",
      R"({"access_token":")" + at + R"(","refresh_token":")" + rt + R"("})",
      R"({"access_token":")" + at + R"(","token_type":"Bearer","expires_in":-5,"refresh_token":")" +
          rt + R"("})",
      R"({"access_token":")" + at + R"(","token_type":"Bearer","refresh_token":7})",
      R"({"access_token":")" + at + R"(","token_type":"Bearer","scope":{"a":")" + rt + R"("}})",
      R"({"access_token":")" + at + R"(","refresh_token":")" + rt + R"(","token_type":)",
      "access_token=" + at + "&token_type=bearer&refresh_token=" + rt,
      R"([")" + at + R"(",")" + rt + R"("])",
  };
  for (const auto& body : bodies) {
    for (const int status : {200, 500}) {
      const std::string what = refusal(status, kJson, body);
      EXPECT_EQ(what.find(at), std::string::npos) << what;
      EXPECT_EQ(what.find(rt), std::string::npos) << what;
      EXPECT_EQ(what.find("5ecr3t"), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace imapprobe::oauth
