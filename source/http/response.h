// Responses wsproxy writes itself: error answers to the client, with a short
// plain-text body and Connection: close.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "source/http/headers.h"

namespace wsproxy::http {

std::string_view reason_phrase(int status);

// "HTTP/1.1 <status> <reason>" with `headers`, a text/plain body of
// `message` plus a newline, and Connection: close.
std::string error_response(int status, std::string_view message, const std::vector<Header>& headers = {});

}  // namespace wsproxy::http
