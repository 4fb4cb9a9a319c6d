// Tests of JWT parsing and verification, including the example tokens of
// RFC 7515 (HS256, RS256, ES256) and RFC 8037 (EdDSA).
#include "filters/jwt_authn/jwt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wsproxy::filters::jwt_authn {
namespace {

using ::testing::HasSubstr;

// RFC 7515 appendix A: the three tokens share this payload, whose "exp" is
// 1300819380 (March 2011).
constexpr double kRfcNow = 1300819000;

constexpr char kA1Token[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr char kA1Jwks[] =
    R"({"keys":[{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]})";

constexpr char kA2Token[] =
    "eyJhbGciOiJSUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t"
    "1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jz"
    "DwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe"
    "77Rw";
constexpr char kA2Jwks[] =
    R"({"keys":[{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}]})";

constexpr char kA3Token[] =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
constexpr char kA3Jwks[] =
    R"({"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})";

// RFC 8037 A.4: the payload is not JSON, so only the signature is checked.
constexpr char kEd25519Jwks[] =
    R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})";
constexpr char kEd25519SigningInput[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr char kEd25519Signature[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

std::shared_ptr<const KeySet> keys(const char* jwks) {
  std::string error;
  auto set = parse_jwks(jwks, error);
  EXPECT_TRUE(set) << error;
  return set;
}

Failure verify(const char* token, const char* jwks, double now = kRfcNow) {
  Jwt jwt;
  if (Failure f = parse_jwt(token, jwt); f != Failure::none) return f;
  if (Failure f = verify_signature(jwt, *keys(jwks)); f != Failure::none) return f;
  return check_claims(jwt, ClaimRules{"joe", {}, 0, {}}, now);
}

TEST(Rfc7515Test, HS256) { EXPECT_EQ(verify(kA1Token, kA1Jwks), Failure::none); }
TEST(Rfc7515Test, RS256) { EXPECT_EQ(verify(kA2Token, kA2Jwks), Failure::none); }
TEST(Rfc7515Test, ES256) { EXPECT_EQ(verify(kA3Token, kA3Jwks), Failure::none); }

TEST(Rfc7515Test, ExpiredNowAndWrongKeys) {
  EXPECT_EQ(verify(kA2Token, kA2Jwks, 1700000000), Failure::expired);
  EXPECT_EQ(verify(kA2Token, kA3Jwks), Failure::bad_signature);  // RS256 cannot use an EC key
  EXPECT_EQ(verify(kA1Token, kA2Jwks), Failure::bad_signature);  // HS256 cannot use an RSA key
}

TEST(Rfc8037Test, EdDSA) {
  std::string signature;
  ASSERT_TRUE(base64url_decode(kEd25519Signature, signature));
  auto set = keys(kEd25519Jwks);
  const Jwk& key = set->keys.at(0);
  EXPECT_TRUE(verify_with_key("EdDSA", key, kEd25519SigningInput, signature));
  EXPECT_FALSE(verify_with_key("EdDSA", key, "eyJhbGciOiJFZERTQSJ9.dGFtcGVyZWQ", signature));
  EXPECT_FALSE(verify_with_key("ES256", key, kEd25519SigningInput, signature));
}

TEST(JwtTest, ParsesClaims) {
  Jwt jwt;
  ASSERT_EQ(parse_jwt(kA1Token, jwt), Failure::none);
  EXPECT_EQ(jwt.alg, "HS256");
  EXPECT_TRUE(jwt.has_exp);
  EXPECT_EQ(jwt.exp, 1300819380);
  ASSERT_NE(jwt.claim("iss"), nullptr);
  EXPECT_EQ(*jwt.claim("iss"), "joe");
  EXPECT_EQ(*jwt.claim("http://example.com/is_root"), "true");
  EXPECT_EQ(*jwt.claim("exp"), "1300819380");
}

TEST(JwtTest, RefusesMalformedTokens) {
  Jwt jwt;
  for (const char* bad : {"", "abc", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.",
                          "W10.e30.", "eyJhbGciOjF9.e30."}) {
    EXPECT_EQ(parse_jwt(bad, jwt), Failure::malformed) << bad;
  }
}

TEST(JwtTest, AlgNoneIsAlwaysRefused) {
  Jwt jwt;
  // {"alg":"none"}.{"sub":"x"}. with an empty signature
  ASSERT_EQ(parse_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", jwt), Failure::none);
  EXPECT_EQ(verify_signature(jwt, *keys(kA1Jwks)), Failure::bad_signature);
}

TEST(JwtTest, KidSelectsTheKey) {
  std::string jwks = R"({"keys":[{"kty":"oct","kid":"other","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]})";
  Jwt jwt;
  ASSERT_EQ(parse_jwt(kA1Token, jwt), Failure::none);
  jwt.kid = "missing";
  EXPECT_EQ(verify_signature(jwt, *keys(jwks.c_str())), Failure::unknown_key);
  jwt.kid = "other";
  EXPECT_EQ(verify_signature(jwt, *keys(jwks.c_str())), Failure::none);
}

TEST(ClaimsTest, TimesIssuerAudienceAndRequiredClaims) {
  Jwt jwt;
  jwt.has_exp = jwt.has_nbf = true;
  jwt.exp = 1000;
  jwt.nbf = 500;
  jwt.claims = {{"iss", "https://idp"}, {"tenant", "acme"}};
  jwt.audiences = {"chat", "feed"};
  ClaimRules rules{"https://idp", {"feed"}, 30, {{"tenant", "acme"}}};
  EXPECT_EQ(check_claims(jwt, rules, 700), Failure::none);
  EXPECT_EQ(check_claims(jwt, rules, 1029), Failure::none);  // within the skew
  EXPECT_EQ(check_claims(jwt, rules, 1031), Failure::expired);
  EXPECT_EQ(check_claims(jwt, rules, 471), Failure::none);
  EXPECT_EQ(check_claims(jwt, rules, 469), Failure::not_yet_valid);
  ClaimRules wrong_issuer = rules;
  wrong_issuer.issuer = "https://other";
  EXPECT_EQ(check_claims(jwt, wrong_issuer, 700), Failure::wrong_issuer);
  ClaimRules wrong_audience = rules;
  wrong_audience.audiences = {"admin"};
  EXPECT_EQ(check_claims(jwt, wrong_audience, 700), Failure::wrong_audience);
  ClaimRules wrong_claim = rules;
  wrong_claim.required = {{"tenant", "globex"}};
  EXPECT_EQ(check_claims(jwt, wrong_claim, 700), Failure::claim_mismatch);
}

TEST(JwksTest, LeavesOutKeysItCannotUse) {
  std::string error, skipped;
  auto set = parse_jwks(std::string(R"({"keys":[
      {"kty":"oct","k":"c2hvcnQ"},
      {"kty":"RSA","n":"AQAB","e":"AQAB"},
      {"kty":"EC","crv":"P-192","x":"AA","y":"AA"},
      {"kty":"oct","use":"enc","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"},
      {"kty":"XYZ"},
      {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed"}]})"),
                        error, &skipped);
  ASSERT_TRUE(set) << error;
  ASSERT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->keys[0].kid, "ed");
  EXPECT_THAT(skipped, HasSubstr("at least 32 bytes"));
  EXPECT_THAT(skipped, HasSubstr("P-256, P-384 or P-521"));
  EXPECT_THAT(skipped, HasSubstr("\"use\" is not \"sig\""));
  EXPECT_THAT(skipped, HasSubstr("\"XYZ\" is not supported"));
}

TEST(JwksTest, RefusesDocumentsWithoutUsableKeys) {
  std::string error;
  EXPECT_FALSE(parse_jwks("not json", error));
  EXPECT_FALSE(parse_jwks(R"({"keys": {}})", error));
  EXPECT_THAT(error, HasSubstr("\"keys\" array"));
  EXPECT_FALSE(parse_jwks(R"({"keys": [{"kty":"XYZ"}]})", error));
  EXPECT_THAT(error, HasSubstr("no usable key"));
}

TEST(Base64UrlTest, DecodesAndRefuses) {
  std::string out;
  EXPECT_TRUE(base64url_decode("aGVsbG8", out));
  EXPECT_EQ(out, "hello");
  EXPECT_TRUE(base64url_decode("", out));
  EXPECT_FALSE(base64url_decode("aGVsbG8=", out));  // padding is not base64url
  EXPECT_FALSE(base64url_decode("a+b/", out));
  EXPECT_FALSE(base64url_decode("a", out));
}

}  // namespace
}  // namespace wsproxy::filters::jwt_authn
