// Small composed operations on a Stream: finish the TLS handshake, write a
// whole buffer. Each calls its handler once, with true on success; on
// failure the stream's error_text() says why (empty if it was closed).
#pragma once

#include <boost/system/error_code.hpp>

#include <utility>

#include "source/network/stream.h"

namespace wsproxy::network {

template <class Handler>
void async_handshake(Stream& stream, Handler&& handler) {
  IoResult r = stream.handshake();
  if (r.status == Io::done) return handler(true);
  if (r.status != Io::want_read && r.status != Io::want_write) return handler(false);
  stream.async_wait(r.status, [&stream, handler = std::forward<Handler>(handler)](
                                  const boost::system::error_code& ec) mutable {
    if (ec) return handler(false);
    async_handshake(stream, std::move(handler));
  });
}

// `data` must stay valid until the handler runs.
template <class Handler>
void async_write_all(Stream& stream, const char* data, std::size_t size, Handler&& handler) {
  while (size > 0) {
    IoResult r = stream.write_some(data, size);
    if (r.status == Io::done) {
      data += r.bytes;
      size -= r.bytes;
      continue;
    }
    if (r.status != Io::want_read && r.status != Io::want_write) return handler(false);
    stream.async_wait(r.status, [&stream, data, size, handler = std::forward<Handler>(handler)](
                                    const boost::system::error_code& ec) mutable {
      if (ec) return handler(false);
      async_write_all(stream, data, size, std::move(handler));
    });
    return;
  }
  handler(true);
}

}  // namespace wsproxy::network
