// The TLS 1.3 record layer on its own, a server-side layer and a
// client-side one holding the same secrets facing each other: handshake
// messages split over records in every way RFC 8446 allows (and the ways
// it does not), which OpenSSL's own peers never produce. The stream tests
// (stream_tls_test.cc) check the layer against OpenSSL itself.
#include "source/network/tls13_record_layer.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace wsproxy::network {

using Content = Tls13RecordLayer::Content;

class Tls13RecordLayerTest : public testing::Test {
 protected:
  static constexpr uint8_t kHandshake = 22;
  static constexpr uint8_t kApplicationData = 23;

  void SetUp() override {
    std::string client_secret(32, 'c'), server_secret(32, 's');
    server_ = Tls13RecordLayer::create(Tls13RecordLayer::Side::server, 0x1301, client_secret, server_secret, 0);
    client_ = Tls13RecordLayer::create(Tls13RecordLayer::Side::client, 0x1301, client_secret, server_secret, 0);
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(client_, nullptr);
  }

  // One record of `type` sealed by `from`, opened by `to`.
  Tls13RecordLayer::Opened pass(Tls13RecordLayer& from, Tls13RecordLayer& to, uint8_t type, const std::string& bytes) {
    std::vector<unsigned char> record(bytes.size() + Tls13RecordLayer::kSealOverhead);
    std::size_t size =
        from.seal_record(type, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), record.data());
    EXPECT_GT(size, 0u);
    EXPECT_TRUE(to.check_header(record.data())) << to.failure();
    Tls13RecordLayer::Opened opened = to.open(record.data(), record.data() + Tls13RecordLayer::kHeaderSize);
    if (opened.content == Content::data) {
      last_data_.assign(reinterpret_cast<const char*>(record.data()) + Tls13RecordLayer::kHeaderSize, opened.size);
    }
    return opened;
  }
  // The sender moves to its next write key, as after sending a KeyUpdate.
  static void update_write_key(Tls13RecordLayer& layer) { ASSERT_TRUE(layer.update(layer.write_, true)); }

  static std::string ticket(std::size_t body_size) {
    return std::string{4, 0, static_cast<char>(body_size >> 8), static_cast<char>(body_size)} +
           std::string(body_size, 't');
  }
  static std::string key_update(char request) { return std::string{24, 0, 0, 1, request}; }

  std::unique_ptr<Tls13RecordLayer> server_, client_;
  std::string last_data_;
};

TEST_F(Tls13RecordLayerTest, DataGoesBothWays) {
  EXPECT_EQ(pass(*client_, *server_, kApplicationData, "to the server").content, Content::data);
  EXPECT_EQ(last_data_, "to the server");
  EXPECT_EQ(pass(*server_, *client_, kApplicationData, "to the client").content, Content::data);
  EXPECT_EQ(last_data_, "to the client");
}

TEST_F(Tls13RecordLayerTest, TicketsSplitAnyWayAreSkippedByAClient) {
  std::string tickets = ticket(5) + ticket(300) + ticket(1);
  // Header cut after 2 bytes, body cut, the next ticket whole with the
  // start of a third, and its end.
  for (const std::string& piece : {tickets.substr(0, 2), tickets.substr(2, 5), tickets.substr(7, 310),
                                   tickets.substr(317)}) {
    ASSERT_EQ(pass(*server_, *client_, kHandshake, piece).content, Content::none) << client_->failure();
  }
  EXPECT_EQ(pass(*server_, *client_, kApplicationData, "after the tickets").content, Content::data);
  EXPECT_EQ(last_data_, "after the tickets");
}

TEST_F(Tls13RecordLayerTest, ATicketThenAKeyUpdateInOneRecord) {
  ASSERT_EQ(pass(*server_, *client_, kHandshake, ticket(10) + key_update(0)).content, Content::none)
      << client_->failure();
  update_write_key(*server_);
  EXPECT_EQ(pass(*server_, *client_, kApplicationData, "under the next key").content, Content::data);
}

TEST_F(Tls13RecordLayerTest, AKeyUpdateSplitOverRecordsIsFollowed) {
  std::string update = key_update(1);
  ASSERT_EQ(pass(*client_, *server_, kHandshake, update.substr(0, 3)).content, Content::none);
  ASSERT_EQ(pass(*client_, *server_, kHandshake, update.substr(3, 1)).content, Content::none);
  ASSERT_EQ(pass(*client_, *server_, kHandshake, update.substr(4)).content, Content::none) << server_->failure();
  update_write_key(*client_);
  EXPECT_EQ(pass(*client_, *server_, kApplicationData, "next key").content, Content::data) << server_->failure();
  // Asked to answer: the server's next data comes after its own KeyUpdate,
  // which the client follows.
  std::vector<unsigned char> sealed(16 + Tls13RecordLayer::kSealOverhead);
  std::size_t size = server_->seal("answered", 8, sealed.data());
  std::size_t first = Tls13RecordLayer::kHeaderSize + Tls13RecordLayer::body_size(sealed.data());
  ASSERT_LT(first, size);
  EXPECT_EQ(client_->open(sealed.data(), sealed.data() + Tls13RecordLayer::kHeaderSize).content, Content::none);
  Tls13RecordLayer::Opened data = client_->open(sealed.data() + first, sealed.data() + first + 5);
  ASSERT_EQ(data.content, Content::data) << client_->failure();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sealed.data()) + first + 5, data.size), "answered");
}

TEST_F(Tls13RecordLayerTest, WhatRfc8446ForbidsIsRefused) {
  struct Case {
    const char* name;
    Tls13RecordLayer::Side receiver;
    std::vector<std::pair<uint8_t, std::string>> records;
    const char* failure;
  };
  const Case cases[] = {
      {"a ticket sent to a server", Tls13RecordLayer::Side::server, {{kHandshake, ticket(3)}}, "handshake message 4"},
      {"data inside a handshake message", Tls13RecordLayer::Side::client,
       {{kHandshake, ticket(8).substr(0, 6)}, {kApplicationData, "x"}}, "cut by another record"},
      {"a KeyUpdate not ending its record", Tls13RecordLayer::Side::server, {{kHandshake, key_update(0) + "x"}},
       "not at the end of its record"},
      {"a KeyUpdate of the wrong length", Tls13RecordLayer::Side::server, {{kHandshake, std::string{24, 0, 0, 2, 0, 0}}},
       "malformed KeyUpdate"},
      {"a KeyUpdate request of 2", Tls13RecordLayer::Side::server, {{kHandshake, key_update(2)}}, "request 2"},
      {"an empty ticket", Tls13RecordLayer::Side::client, {{kHandshake, ticket(0)}}, "empty NewSessionTicket"},
      {"an empty handshake record", Tls13RecordLayer::Side::server, {{kHandshake, ""}}, "empty handshake record"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SetUp();
    bool to_server = c.receiver == Tls13RecordLayer::Side::server;
    Tls13RecordLayer& from = to_server ? *client_ : *server_;
    Tls13RecordLayer& to = to_server ? *server_ : *client_;
    Content last = Content::none;
    for (const auto& [type, bytes] : c.records) last = pass(from, to, type, bytes).content;
    EXPECT_EQ(last, Content::failed);
    EXPECT_NE(to.failure().find(c.failure), std::string::npos) << to.failure();
  }
}

}  // namespace wsproxy::network
