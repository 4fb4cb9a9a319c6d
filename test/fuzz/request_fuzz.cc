// libFuzzer target: the HTTP/1.1 head parsers and the WebSocket handshake
// handling behind them (request checks, the request rebuilt for the
// upstream, the upstream's answer checked and relayed).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "source/http/message.h"
#include "source/http/response.h"
#include "source/http/upgrade.h"

using namespace wsproxy::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t end = find_head_end(input, 0);
  std::string_view head = end ? input.substr(0, end) : input;
  ParseProblem problem;
  if (auto request = parse_request_head(head, problem)) {
    if (!check_upgrade_request(*request)) {
      std::string upstream = upstream_request(*request, Forwarding{"203.0.113.1", true});
      // What is sent upstream is itself a well-formed head (it may carry a
      // few more fields than the client's, past the count limit).
      ParseProblem again;
      if (!parse_request_head(upstream, again) && again.error == ParseError::malformed) __builtin_trap();
      ResponseHead response;
      response.status = 101;
      response.headers.add("Upgrade", "websocket");
      response.headers.add("Connection", "Upgrade");
      response.headers.add("Sec-WebSocket-Accept", websocket_accept(*request->headers.get("sec-websocket-key")));
      if (check_upgrade_response(response, *request)) __builtin_trap();
    }
    (void)target_path(request->target);
  }
  if (auto response = parse_response_head(head, problem)) {
    RequestHead request;
    request.headers.add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    if (!check_upgrade_response(*response, request)) (void)downstream_response(*response);
  }
  (void)error_response(400, input.substr(0, 64));
  return 0;
}
