// libFuzzer target: JWT parsing, signature verification with every key
// type, claim checks, and JWKS parsing, on any input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "filters/jwt_authn/jwt.h"

using namespace wsproxy::filters::jwt_authn;

namespace {

// The keys of RFC 7515 A.1 (oct), A.2 (RSA), A.3 (EC P-256) and RFC 8037
// A.4 (Ed25519).
const KeySet& keys() {
  static std::shared_ptr<const KeySet> set = [] {
    std::string error;
    return parse_jwks(
        R"({"keys":[
          {"kty":"oct","kid":"hs","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"},
          {"kty":"RSA","kid":"rs","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"},
          {"kty":"EC","kid":"es","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
          {"kty":"OKP","kid":"ed","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})",
        error);
  }();
  return *set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  Jwt jwt;
  if (parse_jwt(input, jwt) == Failure::none) {
    Failure verified = verify_signature(jwt, keys());
    // Nothing random verifies, and "none" never does.
    if (verified == Failure::none && jwt.alg == "none") __builtin_trap();
    (void)check_claims(jwt, ClaimRules{"joe", {"chat"}, 60, {{"role", "admin"}}}, 1300819000);
  }
  std::string error, skipped;
  if (auto set = parse_jwks(input, error, &skipped)) {
    for (const auto& key : set->keys) {
      if (key.type != Jwk::Type::oct && !key.key) __builtin_trap();
    }
  }
  std::string decoded;
  (void)base64url_decode(input, decoded);
  return 0;
}
