// JWT parsing and verification with OpenSSL 3.
#include "filters/jwt_authn/jwt.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <cmath>
#include <cstdio>

namespace wsproxy::filters::jwt_authn {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* p) { return std::shared_ptr<EVP_PKEY>(p, PkeyFree()); }

bool parse_json_object(std::string_view json, Struct& out) {
  google::protobuf::util::JsonParseOptions options;
  return google::protobuf::util::JsonStringToMessage(std::string(json), &out, options).ok();
}

const std::string* string_field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  if (it == s.fields().end() || it->second.kind_case() != Value::kStringValue) return nullptr;
  return &it->second.string_value();
}

std::string value_text(const Value& v) {
  switch (v.kind_case()) {
    case Value::kStringValue: return v.string_value();
    case Value::kBoolValue: return v.bool_value() ? "true" : "false";
    case Value::kNumberValue: {
      double d = v.number_value();
      char buf[64];
      if (std::floor(d) == d && std::fabs(d) < 1e15) {
        std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(d));
      } else {
        std::snprintf(buf, sizeof(buf), "%.17g", d);
      }
      return buf;
    }
    case Value::kNullValue: return "null";
    default: {
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(v, &json);
      return json;
    }
  }
}

BIGNUM* decode_bignum(const Struct& jwk, const char* name) {
  const std::string* text = string_field(jwk, name);
  std::string bytes;
  if (text == nullptr || !base64url_decode(*text, bytes) || bytes.empty()) return nullptr;
  return BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr);
}

EVP_PKEY* from_params(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* key = nullptr;
  if (params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1) {
    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return key;
}

EVP_PKEY* rsa_key(const Struct& jwk) {
  BIGNUM* n = decode_bignum(jwk, "n");
  BIGNUM* e = decode_bignum(jwk, "e");
  EVP_PKEY* key = nullptr;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (n != nullptr && e != nullptr && bld != nullptr && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1) {
    key = from_params("RSA", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  return key;
}

// Bytes of one coordinate (and of r and s in a signature) per curve.
size_t coordinate_size(std::string_view curve) {
  if (curve == "P-256") return 32;
  if (curve == "P-384") return 48;
  if (curve == "P-521") return 66;
  return 0;
}

EVP_PKEY* ec_key(const Struct& jwk, const std::string& curve) {
  const char* group = curve == "P-256" ? "prime256v1" : curve == "P-384" ? "secp384r1" : "secp521r1";
  size_t size = coordinate_size(curve);
  const std::string* x_text = string_field(jwk, "x");
  const std::string* y_text = string_field(jwk, "y");
  std::string x, y;
  if (x_text == nullptr || y_text == nullptr || !base64url_decode(*x_text, x) || !base64url_decode(*y_text, y) ||
      x.size() > size || y.size() > size) {
    return nullptr;
  }
  // RFC 7518 wants full-length coordinates, but some libraries drop leading
  // zero bytes (often for P-521, whose first byte is 0 or 1): put them back.
  x.insert(0, size - x.size(), '\0');
  y.insert(0, size - y.size(), '\0');
  std::string point = "\x04" + x + y;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  EVP_PKEY* key = nullptr;
  if (bld != nullptr && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1) {
    key = from_params("EC", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  return key;
}

const EVP_MD* digest_for(std::string_view alg) {
  if (alg.size() != 5) return nullptr;
  std::string_view bits = alg.substr(2);
  if (bits == "256") return EVP_sha256();
  if (bits == "384") return EVP_sha384();
  if (bits == "512") return EVP_sha512();
  return nullptr;
}

bool digest_verify(EVP_PKEY* key, const EVP_MD* md, bool pss, std::string_view data, std::string_view signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key) == 1;
  if (ok && pss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                              reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// JWS ECDSA signatures are r || s; OpenSSL wants DER.
bool ecdsa_verify(EVP_PKEY* key, const EVP_MD* md, size_t size, std::string_view data, std::string_view signature) {
  if (signature.size() != 2 * size) return false;
  const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw, static_cast<int>(size), nullptr);
  BIGNUM* s = BN_bin2bn(raw + size, static_cast<int>(size), nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* der = nullptr;
  int der_size = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  bool ok = der_size > 0 && digest_verify(key, md, false, data,
                                          std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(der_size)));
  OPENSSL_free(der);
  return ok;
}

}  // namespace

const char* failure_reason(Failure failure) {
  switch (failure) {
    case Failure::none: return "none";
    case Failure::missing: return "missing";
    case Failure::malformed: return "malformed";
    case Failure::bad_signature: return "bad_signature";
    case Failure::expired: return "expired";
    case Failure::not_yet_valid: return "not_yet_valid";
    case Failure::wrong_issuer: return "wrong_issuer";
    case Failure::wrong_audience: return "wrong_audience";
    case Failure::unknown_key: return "unknown_key";
    case Failure::claim_mismatch: return "claim_mismatch";
    case Failure::no_keys: return "no_keys";
  }
  return "unknown";
}

bool base64url_decode(std::string_view in, std::string& out) {
  out.clear();
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return false;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  // Leftover bits must be zero padding, and a single leftover character
  // (6 bits) cannot occur in base64.
  return bits < 6 && (buffer & ((1u << bits) - 1)) == 0;
}

std::shared_ptr<const KeySet> parse_jwks(std::string_view json, std::string& error, std::string* skipped) {
  Struct document;
  if (!parse_json_object(json, document)) {
    error = "not a JSON object";
    return nullptr;
  }
  auto keys_it = document.fields().find("keys");
  if (keys_it == document.fields().end() || keys_it->second.kind_case() != Value::kListValue) {
    error = "has no \"keys\" array";
    return nullptr;
  }
  auto set = std::make_shared<KeySet>();
  std::string skipped_text;
  auto skip = [&](int index, const std::string& why) {
    skipped_text += (skipped_text.empty() ? "" : "; ") + ("key " + std::to_string(index) + ": " + why);
  };
  const auto& list = keys_it->second.list_value().values();
  for (int i = 0; i < list.size(); ++i) {
    if (list[i].kind_case() != Value::kStructValue) {
      skip(i, "not an object");
      continue;
    }
    const Struct& jwk = list[i].struct_value();
    const std::string* kty = string_field(jwk, "kty");
    const std::string* use = string_field(jwk, "use");
    if (use != nullptr && *use != "sig") {
      skip(i, "\"use\" is not \"sig\"");
      continue;
    }
    Jwk key;
    if (const std::string* kid = string_field(jwk, "kid")) key.kid = *kid;
    if (const std::string* alg = string_field(jwk, "alg")) key.alg = *alg;
    if (kty == nullptr) {
      skip(i, "no \"kty\"");
      continue;
    }
    if (*kty == "RSA") {
      key.type = Jwk::Type::rsa;
      key.key = own(rsa_key(jwk));
      if (key.key && EVP_PKEY_get_bits(key.key.get()) < 2048) {
        skip(i, "RSA keys under 2048 bits are refused");
        continue;
      }
    } else if (*kty == "EC") {
      key.type = Jwk::Type::ec;
      const std::string* crv = string_field(jwk, "crv");
      if (crv == nullptr || coordinate_size(*crv) == 0) {
        skip(i, "EC curve must be P-256, P-384 or P-521");
        continue;
      }
      key.curve = *crv;
      key.key = own(ec_key(jwk, *crv));
    } else if (*kty == "OKP") {
      key.type = Jwk::Type::okp;
      const std::string* crv = string_field(jwk, "crv");
      const std::string* x_text = string_field(jwk, "x");
      std::string x;
      if (crv == nullptr || *crv != "Ed25519" || x_text == nullptr || !base64url_decode(*x_text, x) || x.size() != 32) {
        skip(i, "OKP keys must be Ed25519 with a 32-byte \"x\"");
        continue;
      }
      key.curve = *crv;
      key.key = own(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                                reinterpret_cast<const unsigned char*>(x.data()), x.size()));
    } else if (*kty == "oct") {
      key.type = Jwk::Type::oct;
      const std::string* k = string_field(jwk, "k");
      if (k == nullptr || !base64url_decode(*k, key.secret) || key.secret.size() < 32) {
        skip(i, "HMAC secrets (\"k\") need at least 32 bytes");
        continue;
      }
      set->keys.push_back(std::move(key));
      continue;
    } else {
      skip(i, "key type \"" + *kty + "\" is not supported");
      continue;
    }
    if (!key.key) {
      skip(i, "its key parameters are invalid");
      continue;
    }
    set->keys.push_back(std::move(key));
  }
  if (skipped != nullptr) *skipped = skipped_text;
  if (set->keys.empty()) {
    error = "has no usable key" + (skipped_text.empty() ? std::string() : " (" + skipped_text + ")");
    return nullptr;
  }
  return set;
}

const std::string* Jwt::claim(std::string_view name) const {
  for (const auto& [n, v] : claims) {
    if (n == name) return &v;
  }
  return nullptr;
}

Failure parse_jwt(std::string_view token, Jwt& out) {
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return Failure::malformed;
  }
  std::string header_json, payload_json;
  if (!base64url_decode(token.substr(0, first), header_json) ||
      !base64url_decode(token.substr(first + 1, second - first - 1), payload_json) ||
      !base64url_decode(token.substr(second + 1), out.signature)) {
    return Failure::malformed;
  }
  Struct header, payload;
  if (!parse_json_object(header_json, header) || !parse_json_object(payload_json, payload)) return Failure::malformed;
  const std::string* alg = string_field(header, "alg");
  if (alg == nullptr) return Failure::malformed;
  out.alg = *alg;
  if (const std::string* kid = string_field(header, "kid")) out.kid = *kid;
  out.signing_input = std::string(token.substr(0, second));
  for (const auto& [name, value] : payload.fields()) {
    out.claims.emplace_back(name, value_text(value));
    if (name == "exp" || name == "nbf") {
      if (value.kind_case() != Value::kNumberValue) return Failure::malformed;
      (name == "exp" ? out.has_exp : out.has_nbf) = true;
      (name == "exp" ? out.exp : out.nbf) = value.number_value();
    } else if (name == "aud") {
      if (value.kind_case() == Value::kStringValue) {
        out.audiences.push_back(value.string_value());
      } else if (value.kind_case() == Value::kListValue) {
        for (const auto& a : value.list_value().values()) {
          if (a.kind_case() != Value::kStringValue) return Failure::malformed;
          out.audiences.push_back(a.string_value());
        }
      } else {
        return Failure::malformed;
      }
    }
  }
  return Failure::none;
}

bool verify_with_key(std::string_view alg, const Jwk& key, std::string_view data, std::string_view signature) {
  const EVP_MD* md = digest_for(alg);
  std::string_view family = alg.substr(0, 2);
  if (alg == "EdDSA") {
    return key.type == Jwk::Type::okp && digest_verify(key.key.get(), nullptr, false, data, signature);
  }
  if (md == nullptr) return false;
  if (family == "RS" || family == "PS") {
    return key.type == Jwk::Type::rsa && digest_verify(key.key.get(), md, family == "PS", data, signature);
  }
  if (family == "ES") {
    std::string_view curve = alg == "ES256" ? "P-256" : alg == "ES384" ? "P-384" : "P-521";
    return key.type == Jwk::Type::ec && key.curve == curve &&
           ecdsa_verify(key.key.get(), md, coordinate_size(curve), data, signature);
  }
  if (family == "HS") {
    if (key.type != Jwk::Type::oct) return false;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    if (HMAC(md, key.secret.data(), static_cast<int>(key.secret.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &mac_size) == nullptr) {
      return false;
    }
    return signature.size() == mac_size && CRYPTO_memcmp(mac, signature.data(), mac_size) == 0;
  }
  return false;
}

Failure verify_signature(const Jwt& jwt, const KeySet& keys) {
  static constexpr std::string_view kAlgorithms[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                                                     "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"};
  bool known = false;
  for (auto a : kAlgorithms) known = known || a == jwt.alg;
  if (!known) return Failure::bad_signature;  // "none" included
  bool tried = false;
  for (const auto& key : keys.keys) {
    if (!jwt.kid.empty() && key.kid != jwt.kid) continue;
    if (!key.alg.empty() && key.alg != jwt.alg) continue;
    tried = true;
    if (verify_with_key(jwt.alg, key, jwt.signing_input, jwt.signature)) return Failure::none;
  }
  return tried ? Failure::bad_signature : Failure::unknown_key;
}

Failure check_claims(const Jwt& jwt, const ClaimRules& rules, double now) {
  double skew = static_cast<double>(rules.clock_skew_seconds);
  if (jwt.has_exp && now > jwt.exp + skew) return Failure::expired;
  if (jwt.has_nbf && now + skew < jwt.nbf) return Failure::not_yet_valid;
  if (!rules.issuer.empty()) {
    const std::string* iss = jwt.claim("iss");
    if (iss == nullptr || *iss != rules.issuer) return Failure::wrong_issuer;
  }
  if (!rules.audiences.empty()) {
    bool found = false;
    for (const auto& a : jwt.audiences) {
      for (const auto& wanted : rules.audiences) found = found || a == wanted;
    }
    if (!found) return Failure::wrong_audience;
  }
  for (const auto& [name, value] : rules.required) {
    const std::string* actual = jwt.claim(name);
    if (actual == nullptr || *actual != value) return Failure::claim_mismatch;
  }
  return Failure::none;
}

}  // namespace wsproxy::filters::jwt_authn
