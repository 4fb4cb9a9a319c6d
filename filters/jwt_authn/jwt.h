// JSON Web Tokens (RFC 7519) signed with JWS (RFC 7515): parsing, keys
// from JWKS documents (RFC 7517), signature verification with OpenSSL 3's
// EVP API (no hand-written cryptography) and claim checks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct evp_pkey_st;

namespace wsproxy::filters::jwt_authn {

// Why a token was refused (the stats reason and the log say this).
enum class Failure {
  none,
  missing,         // no token where the provider looks
  malformed,       // not a JWS compact serialization of JSON
  bad_signature,   // no key verifies it, or the algorithm does not fit
  expired,         // "exp" passed (clock skew included)
  not_yet_valid,   // "nbf" not reached
  wrong_issuer,
  wrong_audience,
  unknown_key,     // "kid" names no key, or no key fits the algorithm
  claim_mismatch,  // a required claim is missing or has another value
  no_keys,         // the remote JWKS has not been fetched yet: fail closed
};
const char* failure_reason(Failure failure);

// One verification key.
struct Jwk {
  enum class Type { rsa, ec, okp, oct };
  Type type = Type::rsa;
  std::string kid;
  std::string alg;    // empty when the JWK does not restrict it
  std::string curve;  // "P-256", "P-384", "P-521" or "Ed25519"
  std::shared_ptr<evp_pkey_st> key;  // rsa, ec, okp
  std::string secret;                 // oct (HMAC)
};

struct KeySet {
  std::vector<Jwk> keys;
};

// Parses a JWKS document. Keys wsproxy cannot use (other key types, RSA
// under 2048 bits, HMAC secrets under 32 bytes, "use": "enc") are left
// out and listed in `skipped`. Null, with `error`, if the document is not
// a JWKS or has no usable key.
std::shared_ptr<const KeySet> parse_jwks(std::string_view json, std::string& error, std::string* skipped = nullptr);

struct Jwt {
  std::string alg;
  std::string kid;
  std::string signing_input;  // header.payload, as received
  std::string signature;      // decoded
  // Top-level claims as text: strings as they are, other values as JSON.
  std::vector<std::pair<std::string, std::string>> claims;
  std::vector<std::string> audiences;
  bool has_exp = false, has_nbf = false;
  double exp = 0, nbf = 0;

  const std::string* claim(std::string_view name) const;
};

// Splits and decodes a compact JWS whose payload is a JSON object.
Failure parse_jwt(std::string_view token, Jwt& out);

// True if `key` verifies `signature` over `signing_input` with `alg`, the
// algorithm fitting the key (RS*/PS* need RSA, ES256/384/512 need P-256/
// P-384/P-521, EdDSA needs Ed25519, HS* need an oct secret).
bool verify_with_key(std::string_view alg, const Jwk& key, std::string_view signing_input, std::string_view signature);

// Verifies with the key the token's "kid" names, or else any key that
// fits the algorithm. "none" and unknown algorithms are refused.
Failure verify_signature(const Jwt& jwt, const KeySet& keys);

struct ClaimRules {
  std::string issuer;                  // empty: not checked
  std::vector<std::string> audiences;  // empty: not checked
  int64_t clock_skew_seconds = 60;
  std::vector<std::pair<std::string, std::string>> required;
};

Failure check_claims(const Jwt& jwt, const ClaimRules& rules, double now_seconds);

// RFC 4648 base64url without padding; false if `in` is not that.
bool base64url_decode(std::string_view in, std::string& out);

}  // namespace wsproxy::filters::jwt_authn
