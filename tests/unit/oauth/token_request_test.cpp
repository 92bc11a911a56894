// Token requests for each grant and client authentication, byte for byte.
#include "oauth/token_request.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "oauth/form.hpp"

namespace imapprobe::oauth {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

TEST(TokenRequest, NamesAndParsing) {
  EXPECT_EQ(to_string(Grant::ClientCredentials), "ClientCredentials");
  EXPECT_EQ(to_string(Grant::RefreshToken), "RefreshToken");
  EXPECT_EQ(grant_type(Grant::ClientCredentials), "client_credentials");
  EXPECT_EQ(grant_type(Grant::RefreshToken), "refresh_token");
  EXPECT_EQ(to_string(ClientAuth::Basic), "Basic");
  EXPECT_EQ(to_string(ClientAuth::Post), "Post");
  EXPECT_EQ(to_string(ClientAuth::PrivateKeyJwt), "PrivateKeyJwt");
  EXPECT_EQ(parse_grant("clientcredentials"), Grant::ClientCredentials);
  EXPECT_EQ(parse_grant("REFRESHTOKEN"), Grant::RefreshToken);
  EXPECT_EQ(parse_client_auth("basic"), ClientAuth::Basic);
  EXPECT_EQ(parse_client_auth("Post"), ClientAuth::Post);
  EXPECT_EQ(parse_client_auth("privatekeyjwt"), ClientAuth::PrivateKeyJwt);
  try {
    parse_grant("client_credentials");
    FAIL() << "accepted the wire spelling";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "unknown OAuth grant \"client_credentials\" (expected ClientCredentials or "
                 "RefreshToken)");
  }
  try {
    parse_client_auth("Bearer\n");
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "unknown OAuth client authentication \"Bearer \" (expected Basic, Post or "
                 "PrivateKeyJwt)");
  }
}

TEST(TokenRequest, ClientCredentialsWithBasic) {
  TokenRequestParams p;
  p.client_id = "probe:1";
  p.client_secret = "s e/c";
  p.scopes = {"mail", "https://outlook.office365.com/.default"};
  const FormRequest r = token_request(p);
  EXPECT_EQ(r.body,
            "grant_type=client_credentials&scope=mail+https%3A%2F%2Foutlook.office365.com%2F."
            "default");
  EXPECT_EQ(r.headers, (Headers{{"Authorization", "Basic cHJvYmUlM0ExOnMrZSUyRmM="}}))
      << "base64(\"probe%3A1:s+e%2Fc\")";
  EXPECT_EQ(r.body.find("client_id"), std::string::npos);
}

TEST(TokenRequest, ClientCredentialsWithPost) {
  TokenRequestParams p;
  p.auth = ClientAuth::Post;
  p.client_id = "imap-probe";
  p.client_secret = "p&ss=1";
  const FormRequest r = token_request(p);
  EXPECT_EQ(r.body, "grant_type=client_credentials&client_id=imap-probe&client_secret=p%26ss%3D1");
  EXPECT_TRUE(r.headers.empty());
}

TEST(TokenRequest, PublicClientSendsOnlyItsId) {
  for (const ClientAuth auth : {ClientAuth::Basic, ClientAuth::Post}) {
    TokenRequestParams p;
    p.auth = auth;
    p.grant = Grant::RefreshToken;
    p.client_id = "thunderbird";
    p.refresh_token = "1//0g-rt/x+y";
    const FormRequest r = token_request(p);
    EXPECT_EQ(r.body,
              "grant_type=refresh_token&refresh_token=1%2F%2F0g-rt%2Fx%2By&client_id=thunderbird")
        << to_string(auth);
    EXPECT_TRUE(r.headers.empty()) << to_string(auth);
  }
}

TEST(TokenRequest, RefreshTokenWithBasicAndScopes) {
  TokenRequestParams p;
  p.grant = Grant::RefreshToken;
  p.client_id = "c";
  p.client_secret = "s";
  p.refresh_token = "rt";
  p.scopes = {"offline_access"};
  const FormRequest r = token_request(p);
  EXPECT_EQ(r.body, "grant_type=refresh_token&refresh_token=rt&scope=offline_access");
  EXPECT_EQ(r.headers, (Headers{{"Authorization", "Basic Yzpz"}}));
}

TEST(TokenRequest, PrivateKeyJwt) {
  TokenRequestParams p;
  p.auth = ClientAuth::PrivateKeyJwt;
  p.client_id = "11111111-2222-3333-4444-555555555555";
  p.client_secret = "ignored";
  p.client_assertion = "eyJh.eyJp.c2ln";
  p.scopes = {"https://outlook.office365.com/.default"};
  const FormRequest r = token_request(p);
  EXPECT_EQ(r.body,
            "grant_type=client_credentials&scope=https%3A%2F%2Foutlook.office365.com%2F.default"
            "&client_id=11111111-2222-3333-4444-555555555555"
            "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-"
            "bearer&client_assertion=eyJh.eyJp.c2ln");
  EXPECT_TRUE(r.headers.empty());
  EXPECT_EQ(r.body.find("ignored"), std::string::npos) << "the secret is not sent";
}

TEST(TokenRequest, MissingPiecesAreRefusedWithoutSecrets) {
  TokenRequestParams p;
  p.client_secret = "hunter2";
  EXPECT_THROW(token_request(p), std::invalid_argument) << "no client_id";
  p.client_id = "c";
  p.grant = Grant::RefreshToken;
  EXPECT_THROW(token_request(p), std::invalid_argument) << "no refresh token";
  p.grant = Grant::ClientCredentials;
  p.auth = ClientAuth::PrivateKeyJwt;
  EXPECT_THROW(token_request(p), std::invalid_argument) << "no assertion";
  p.auth = ClientAuth::Basic;
  for (const std::string bad : {"", "two words", "q\"uote", "back\\slash"}) {
    p.scopes = {"mail", bad};
    try {
      token_request(p);
      FAIL() << "accepted scope " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("scope"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace imapprobe::oauth
