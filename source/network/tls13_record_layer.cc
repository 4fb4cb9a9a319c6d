// TLS 1.3 record protection, KeyUpdate, session tickets and alerts (RFC
// 8446 sections 4.6, 5, 6, 7.2 and 7.3) for a connection taken over from
// OpenSSL.
#include "source/network/tls13_record_layer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <cstring>

namespace wsproxy::network {

struct Tls13Suite {
  uint16_t id;
  const EVP_CIPHER* (*cipher)();
  const EVP_MD* (*digest)();
  std::size_t key_size;
};

namespace {

constexpr Tls13Suite kSuites[] = {
    {0x1301, EVP_aes_128_gcm, EVP_sha256, 16},
    {0x1302, EVP_aes_256_gcm, EVP_sha384, 32},
    {0x1303, EVP_chacha20_poly1305, EVP_sha256, 32},
};

constexpr std::size_t kTagSize = 16;
constexpr std::size_t kIvSize = 12;
// RFC 8446 section 5.5: AES-GCM keys are good for about 2^24.5 full
// records; the server moves to a new key well before.
constexpr uint64_t kRecordsPerKey = uint64_t{1} << 24;
// Records in a row that carry no application data (empty ones, KeyUpdates,
// user_canceled warnings): beyond this many a peer is only making us
// work. OpenSSL and BoringSSL stop at the same count.
constexpr int kMaxRecordsWithoutData = 32;

enum ContentType : uint8_t { kAlert = 21, kHandshake = 22, kApplicationData = 23 };
constexpr uint8_t kNewSessionTicket = 4;
constexpr uint8_t kKeyUpdate = 24;
enum AlertLevel : uint8_t { kWarning = 1, kFatal = 2 };
enum AlertDescription : uint8_t {
  kCloseNotify = 0,
  kUnexpectedMessage = 10,
  kBadRecordMac = 20,
  kRecordOverflow = 22,
  kIllegalParameter = 47,
  kDecodeError = 50,
  kInternalError = 80,
  kUserCanceled = 90,
};

std::size_t hash_size(const Tls13Suite& suite) { return static_cast<std::size_t>(EVP_MD_get_size(suite.digest())); }

// HKDF-Expand-Label(secret, label, "", length) for a length no longer than
// the hash: a single HMAC block.
bool expand_label(const Tls13Suite& suite, const unsigned char* secret, std::string_view label, unsigned char* out,
                  std::size_t length) {
  unsigned char info[2 + 1 + 6 + 16 + 1 + 1];
  std::size_t n = 0;
  info[n++] = static_cast<unsigned char>(length >> 8);
  info[n++] = static_cast<unsigned char>(length);
  info[n++] = static_cast<unsigned char>(6 + label.size());
  std::memcpy(info + n, "tls13 ", 6);
  n += 6;
  std::memcpy(info + n, label.data(), label.size());
  n += label.size();
  info[n++] = 0;  // no context
  info[n++] = 1;  // HKDF-Expand's block counter
  unsigned char block[EVP_MAX_MD_SIZE];
  unsigned int block_size = 0;
  if (HMAC(suite.digest(), secret, static_cast<int>(hash_size(suite)), info, n, block, &block_size) == nullptr) {
    return false;
  }
  std::memcpy(out, block, length);
  OPENSSL_cleanse(block, sizeof(block));
  return true;
}

// The record's nonce: the direction's IV with the sequence number XORed
// into its last eight bytes.
void make_nonce(const unsigned char* iv, uint64_t sequence, unsigned char* nonce) {
  std::memcpy(nonce, iv, kIvSize);
  for (int i = 0; i < 8; ++i) nonce[kIvSize - 1 - i] ^= static_cast<unsigned char>(sequence >> (8 * i));
}

}  // namespace

std::unique_ptr<Tls13RecordLayer> Tls13RecordLayer::create(Side side, uint16_t suite, std::string_view client_secret,
                                                            std::string_view server_secret, uint64_t records_sent) {
  std::unique_ptr<Tls13RecordLayer> layer(new Tls13RecordLayer());
  layer->side_ = side;
  for (const auto& s : kSuites) {
    if (s.id == suite) layer->suite_ = &s;
  }
  if (layer->suite_ == nullptr) return nullptr;
  std::size_t size = hash_size(*layer->suite_);
  if (client_secret.size() != size || server_secret.size() != size) return nullptr;
  bool server = side == Side::server;
  std::memcpy(layer->read_.secret, (server ? client_secret : server_secret).data(), size);
  std::memcpy(layer->write_.secret, (server ? server_secret : client_secret).data(), size);
  if (!layer->rekey(layer->read_, false) || !layer->rekey(layer->write_, true)) return nullptr;
  layer->write_.sequence = records_sent;
  return layer;
}

Tls13RecordLayer::~Tls13RecordLayer() {
  for (Direction* d : {&read_, &write_}) {
    EVP_CIPHER_CTX_free(d->cipher);
    OPENSSL_cleanse(d->secret, sizeof(d->secret));
    OPENSSL_cleanse(d->iv, sizeof(d->iv));
  }
}

bool Tls13RecordLayer::rekey(Direction& d, bool encrypt) {
  unsigned char key[32];
  bool ok = expand_label(*suite_, d.secret, "key", key, suite_->key_size) &&
            expand_label(*suite_, d.secret, "iv", d.iv, kIvSize);
  if (ok && d.cipher == nullptr) d.cipher = EVP_CIPHER_CTX_new();
  ok = ok && d.cipher != nullptr &&
       EVP_CipherInit_ex(d.cipher, suite_->cipher(), nullptr, key, nullptr, encrypt ? 1 : 0) == 1;
  OPENSSL_cleanse(key, sizeof(key));
  d.sequence = 0;
  return ok;
}

bool Tls13RecordLayer::update(Direction& d, bool encrypt) {
  unsigned char next[sizeof(d.secret)];
  std::size_t size = hash_size(*suite_);
  if (!expand_label(*suite_, d.secret, "traffic upd", next, size)) return false;
  std::memcpy(d.secret, next, size);
  OPENSSL_cleanse(next, sizeof(next));
  return rekey(d, encrypt);
}

Tls13RecordLayer::Opened Tls13RecordLayer::fail(const std::string& why, std::optional<uint8_t> alert) {
  failure_ = why;
  failure_alert_ = alert;
  return {Content::failed};
}

bool Tls13RecordLayer::check_header(const unsigned char* header) {
  if (header[0] != kApplicationData) {
    fail("unexpected message: an unprotected record", kUnexpectedMessage);
    return false;
  }
  std::size_t body = body_size(header);
  if (body > kMaxBody) {
    fail("record overflow", kRecordOverflow);
    return false;
  }
  if (body <= kTagSize) {  // no room for a tag and a content type
    fail("bad record mac", kBadRecordMac);
    return false;
  }
  return true;
}

Tls13RecordLayer::Opened Tls13RecordLayer::open(const unsigned char* record, unsigned char* out) {
  std::size_t sealed = body_size(record) - kTagSize;
  // The whole inner plaintext, padding included, is at most 2^14 + 1 bytes.
  if (sealed > kMaxPlaintext + 1) return fail("record overflow", kRecordOverflow);
  unsigned char nonce[kIvSize];
  make_nonce(read_.iv, read_.sequence++, nonce);
  EVP_CIPHER_CTX* c = read_.cipher;
  int n = 0;
  bool ok = EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, kTagSize,
                                const_cast<unsigned char*>(record + kHeaderSize + sealed)) == 1 &&
            EVP_DecryptUpdate(c, nullptr, &n, record, kHeaderSize) == 1 &&
            EVP_DecryptUpdate(c, out, &n, record + kHeaderSize, static_cast<int>(sealed)) == 1 &&
            EVP_DecryptFinal_ex(c, out + sealed, &n) == 1;
  if (!ok) {
    OPENSSL_cleanse(out, sealed);  // nothing unauthenticated is left behind
    return fail("bad record mac", kBadRecordMac);
  }
  // The content type is the last byte that is not padding.
  std::size_t size = sealed;
  while (size > 0 && out[size - 1] == 0) --size;
  if (size == 0) return fail("unexpected message: a record without a content type", kUnexpectedMessage);
  uint8_t type = out[--size];
  if ((handshake_header_size_ > 0 || ticket_left_ > 0) && type != kHandshake) {
    return fail("unexpected message: a handshake message cut by another record", kUnexpectedMessage);
  }
  Opened opened{Content::none};
  switch (type) {
    case kApplicationData: opened = {Content::data, size}; break;
    case kHandshake: opened = handle_handshake(out, size); break;
    case kAlert: opened = handle_alert(out, size); break;
    default:
      return fail("unexpected message: content type " + std::to_string(type) + " after the handshake",
                  kUnexpectedMessage);
  }
  if (opened.content == Content::data && size > 0) {
    records_without_data_ = 0;
  } else if (opened.content != Content::failed && ++records_without_data_ > kMaxRecordsWithoutData) {
    return fail("unexpected message: " + std::to_string(kMaxRecordsWithoutData) + " records in a row without data",
                kUnexpectedMessage);
  }
  return opened;
}

Tls13RecordLayer::Opened Tls13RecordLayer::handle_handshake(const unsigned char* data, std::size_t size) {
  if (size == 0) return fail("unexpected message: an empty handshake record", kUnexpectedMessage);
  // After the handshake a peer may send KeyUpdate, and a server session
  // tickets; either may be split over records.
  while (size > 0) {
    if (ticket_left_ > 0) {
      std::size_t n = std::min(size, ticket_left_);
      ticket_left_ -= n;
      data += n;
      size -= n;
      continue;
    }
    if (handshake_header_size_ < sizeof(handshake_header_)) {
      handshake_header_[handshake_header_size_++] = *data++;
      --size;
      if (handshake_header_size_ < sizeof(handshake_header_)) continue;
      uint8_t message = handshake_header_[0];
      std::size_t length = (static_cast<std::size_t>(handshake_header_[1]) << 16) |
                           (static_cast<std::size_t>(handshake_header_[2]) << 8) | handshake_header_[3];
      if (message == kNewSessionTicket && side_ == Side::client) {
        // wsproxy does not resume upstream sessions: skipped.
        if (length == 0) return fail("decode error: an empty NewSessionTicket", kDecodeError);
        handshake_header_size_ = 0;
        ticket_left_ = length;
        continue;
      }
      if (message != kKeyUpdate) {
        return fail("unexpected message: handshake message " + std::to_string(message) + " after the handshake",
                    kUnexpectedMessage);
      }
      if (length != 1) return fail("decode error: a malformed KeyUpdate", kDecodeError);
      continue;
    }
    // The KeyUpdate's one byte, which must end its record: the next
    // record is under the next key.
    uint8_t request = *data;
    handshake_header_size_ = 0;
    if (size > 1) return fail("unexpected message: a KeyUpdate not at the end of its record", kUnexpectedMessage);
    size = 0;
    if (request > 1) return fail("illegal parameter: KeyUpdate request " + std::to_string(request), kIllegalParameter);
    if (!update(read_, false)) return fail("internal error: cannot derive the peer's next key", kInternalError);
    if (request == 1) key_update_owed_ = true;
  }
  return {Content::none};
}

Tls13RecordLayer::Opened Tls13RecordLayer::handle_alert(const unsigned char* data, std::size_t size) {
  if (size != 2) return fail("decode error: a malformed alert", kDecodeError);
  if (data[1] == kCloseNotify) return {Content::close_notify};
  if (data[1] == kUserCanceled) return {Content::none};  // close_notify follows
  return fail(std::string("the ") + (side_ == Side::server ? "client" : "server") + " sent the alert \"" +
                  SSL_alert_desc_string_long(data[1]) + "\"",
              std::nullopt);
}

std::size_t Tls13RecordLayer::seal_record(uint8_t type, const unsigned char* data, std::size_t size,
                                          unsigned char* out) {
  std::size_t body = size + 1 + kTagSize;
  out[0] = kApplicationData;
  out[1] = 3;
  out[2] = 3;
  out[3] = static_cast<unsigned char>(body >> 8);
  out[4] = static_cast<unsigned char>(body);
  unsigned char nonce[kIvSize];
  make_nonce(write_.iv, write_.sequence++, nonce);
  EVP_CIPHER_CTX* c = write_.cipher;
  unsigned char* sealed = out + kHeaderSize;
  int n = 0;
  bool ok = EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce) == 1 &&
            EVP_EncryptUpdate(c, nullptr, &n, out, kHeaderSize) == 1 &&
            EVP_EncryptUpdate(c, sealed, &n, data, static_cast<int>(size)) == 1 &&
            EVP_EncryptUpdate(c, sealed + size, &n, &type, 1) == 1 &&
            EVP_EncryptFinal_ex(c, sealed + size + 1, &n) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, kTagSize, sealed + size + 1) == 1;
  return ok ? kHeaderSize + body : 0;
}

std::size_t Tls13RecordLayer::seal(const char* data, std::size_t size, unsigned char* out) {
  std::size_t written = 0;
  if (key_update_owed_ || write_.sequence >= kRecordsPerKey) {
    static const unsigned char kUpdateNotRequested[] = {kKeyUpdate, 0, 0, 1, 0};
    written = seal_record(kHandshake, kUpdateNotRequested, sizeof(kUpdateNotRequested), out);
    if (written == 0 || !update(write_, true)) return 0;
    key_update_owed_ = false;
  }
  std::size_t record = seal_record(kApplicationData, reinterpret_cast<const unsigned char*>(data), size, out + written);
  return record == 0 ? 0 : written + record;
}

std::size_t Tls13RecordLayer::seal_alert(uint8_t level, uint8_t description, unsigned char* out) {
  const unsigned char alert[] = {level, description};
  return seal_record(kAlert, alert, sizeof(alert), out);
}

std::size_t Tls13RecordLayer::seal_close_notify(unsigned char* out) { return seal_alert(kWarning, kCloseNotify, out); }

std::size_t Tls13RecordLayer::seal_failure_alert(unsigned char* out) {
  return failure_alert_ ? seal_alert(kFatal, *failure_alert_, out) : 0;
}

}  // namespace wsproxy::network
