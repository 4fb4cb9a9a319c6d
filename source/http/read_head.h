// A composed operation: read an HTTP head (up to "\r\n\r\n") from a stream,
// within a byte limit. Bytes after the head stay in the buffer: they belong
// to the WebSocket that follows.
#pragma once

#include <boost/asio/error.hpp>

#include <algorithm>
#include <string>
#include <utility>

#include "source/http/message.h"
#include "source/network/stream.h"

namespace wsproxy::http {

enum class ReadHeadStatus {
  complete,   // head_size bytes of the buffer are the head
  too_large,  // `limit` bytes arrived without the end of the head
  eof,        // the peer closed first (the buffer holds what came)
  error,      // the stream failed (stream.error_text())
  aborted,    // the stream was closed while waiting
};

struct ReadHeadResult {
  ReadHeadStatus status;
  std::size_t head_size = 0;
};

// Calls handler(ReadHeadResult) once. `buffer` must outlive the operation.
template <class Handler>
void async_read_head(network::Stream& stream, std::string& buffer, std::size_t limit, Handler&& handler) {
  constexpr std::size_t kChunk = 4096;
  for (;;) {
    std::size_t before = buffer.size();
    if (std::size_t end = find_head_end(buffer, 0)) return handler(ReadHeadResult{ReadHeadStatus::complete, end});
    if (before >= limit) return handler(ReadHeadResult{ReadHeadStatus::too_large});
    std::size_t want = std::min(kChunk, limit - before);
    buffer.resize(before + want);
    network::IoResult r = stream.read_some(&buffer[before], want);
    buffer.resize(before + r.bytes);
    switch (r.status) {
      case network::Io::done:
        continue;
      case network::Io::want_read:
      case network::Io::want_write:
        stream.async_wait(r.status, [&stream, &buffer, limit, handler = std::forward<Handler>(handler)](
                                        const boost::system::error_code& ec) mutable {
          if (ec) return handler(ReadHeadResult{ReadHeadStatus::aborted});
          async_read_head(stream, buffer, limit, std::move(handler));
        });
        return;
      case network::Io::eof:
        return handler(ReadHeadResult{ReadHeadStatus::eof});
      case network::Io::error:
        return handler(ReadHeadResult{ReadHeadStatus::error});
    }
  }
}

}  // namespace wsproxy::http
