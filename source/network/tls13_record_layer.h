// The TLS 1.3 record layer (RFC 8446 section 5) of a connection whose
// handshake OpenSSL did, on either side: record protection with the
// application traffic keys, KeyUpdate, session tickets (a client's are
// dropped: wsproxy does not resume upstream sessions), alerts. A stream
// takes it over from OpenSSL once the handshake is done and frees
// OpenSSL's per-connection state (about 13 KB an idle connection would
// otherwise hold), as kernel TLS does where the kernel has it. No sockets
// here: the stream feeds it whole records and sends what it seals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct evp_cipher_ctx_st;

namespace wsproxy::network {

class Tls13RecordLayer {
 public:
  static constexpr std::size_t kHeaderSize = 5;
  static constexpr std::size_t kMaxPlaintext = 16384;
  // The longest record body a peer may send (plaintext, content type,
  // padding and tag).
  static constexpr std::size_t kMaxBody = kMaxPlaintext + 256;
  static constexpr std::size_t kMaxRecord = kHeaderSize + kMaxBody;
  // What seal() adds to the data: a header, the content type, the tag, and
  // room for the KeyUpdate record that may go first.
  static constexpr std::size_t kSealOverhead = 2 * (kHeaderSize + 1 + 16) + 5;

  enum class Side { client, server };

  // For our `side` of a connection with the cipher suite `suite` (its IANA
  // number; the three AEAD suites TLS 1.3 defines for general use: 0x1301,
  // 0x1302, 0x1303) and the client's and the server's application traffic
  // secrets, after we have sent `records_sent` records under ours (a
  // server's session tickets). Null for any other suite or secret size.
  static std::unique_ptr<Tls13RecordLayer> create(Side side, uint16_t suite, std::string_view client_secret,
                                                  std::string_view server_secret, uint64_t records_sent);
  ~Tls13RecordLayer();
  Tls13RecordLayer(const Tls13RecordLayer&) = delete;
  Tls13RecordLayer& operator=(const Tls13RecordLayer&) = delete;

  // The body length the record header at `header` announces.
  static std::size_t body_size(const unsigned char* header) {
    return (static_cast<std::size_t>(header[3]) << 8) | header[4];
  }

  // False, with failure() set, if a record with this header cannot be
  // accepted whatever its body: not protected, too long or too short.
  bool check_header(const unsigned char* header);

  enum class Content {
    data,          // application data: `size` bytes at `out`
    none,          // a KeyUpdate or a warning, handled
    close_notify,  // the peer ended its side
    failed,        // the connection must end: failure() says why
  };
  struct Opened {
    Content content;
    std::size_t size = 0;
  };
  // Decrypts and checks the peer's next record: a header that passed
  // check_header(), and its body, both at `record`. The plaintext goes to
  // `out`, which has room for the body (it may be the body itself).
  Opened open(const unsigned char* record, unsigned char* out);

  // Seals `size` (at most kMaxPlaintext) bytes of application data as one
  // record at `out` (room for size + kSealOverhead), preceded by the
  // KeyUpdate the peer asked for, if one is owed. Returns the bytes
  // written.
  std::size_t seal(const char* data, std::size_t size, unsigned char* out);
  // Seal an alert at `out` (room for kSealOverhead), returning its size:
  // close_notify, or the fatal alert that tells the peer what failure()
  // explains (none, 0 bytes, if the peer sent a fatal alert itself).
  std::size_t seal_close_notify(unsigned char* out);
  std::size_t seal_failure_alert(unsigned char* out);

  // Why the connection failed.
  const std::string& failure() const { return failure_; }

 private:
  // Seals records of any content type, as a peer may send them.
  friend class Tls13RecordLayerTest;

  // One direction's protection: its traffic secret (kept for KeyUpdate),
  // the AEAD keyed from it, the nonce base and the record count.
  struct Direction {
    evp_cipher_ctx_st* cipher = nullptr;
    unsigned char secret[48];
    unsigned char iv[12];
    uint64_t sequence = 0;
  };
  Tls13RecordLayer() = default;
  bool rekey(Direction& d, bool encrypt);
  // Moves `d` to its next traffic secret (a KeyUpdate).
  bool update(Direction& d, bool encrypt);
  Opened fail(const std::string& why, std::optional<uint8_t> alert);
  Opened handle_handshake(const unsigned char* data, std::size_t size);
  Opened handle_alert(const unsigned char* data, std::size_t size);
  std::size_t seal_record(uint8_t type, const unsigned char* data, std::size_t size, unsigned char* out);
  std::size_t seal_alert(uint8_t level, uint8_t description, unsigned char* out);

  const struct Tls13Suite* suite_ = nullptr;
  Side side_ = Side::server;
  Direction read_, write_;
  // The peer's handshake messages: the header of the next one (4 bytes)
  // as it arrives, then a KeyUpdate's one byte, or the rest of a session
  // ticket to skip.
  unsigned char handshake_header_[4];
  std::size_t handshake_header_size_ = 0;
  std::size_t ticket_left_ = 0;
  int records_without_data_ = 0;
  bool key_update_owed_ = false;
  std::string failure_;
  std::optional<uint8_t> failure_alert_;
};

}  // namespace wsproxy::network
