// The header_rewrite filter.
#include "filters/header_rewrite/header_rewrite_filter.h"

#include <cstdio>

namespace wsproxy::filters::header_rewrite {
namespace {

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Fields whose rewriting would break the upgrade or the framing, or that
// wsproxy itself owns.
const char* protected_reason(std::string_view name) {
  static constexpr std::string_view kUpgrade[] = {"upgrade", "connection", "sec-websocket-key",
                                                  "sec-websocket-version", "sec-websocket-accept",
                                                  "sec-websocket-protocol", "sec-websocket-extensions"};
  static constexpr std::string_view kFraming[] = {"content-length", "transfer-encoding", "keep-alive", "te",
                                                  "trailer", "proxy-connection"};
  static constexpr std::string_view kForwarded[] = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"};
  for (auto n : kUpgrade) {
    if (http::iequals(n, name)) return "is part of the WebSocket upgrade and cannot be rewritten";
  }
  for (auto n : kFraming) {
    if (http::iequals(n, name)) return "is a framing or hop-by-hop field and cannot be rewritten";
  }
  for (auto n : kForwarded) {
    if (http::iequals(n, name)) return "is set by wsproxy itself after the filters run";
  }
  return nullptr;
}

// `value` quoted for a message, control characters escaped.
std::string quoted(std::string_view value) {
  std::string out = "\"";
  for (unsigned char c : value) {
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  return out + "\"";
}

bool build_actions(const google::protobuf::RepeatedPtrField<v1::HeaderAction>& protos, const char* field,
                   const config::FieldScope& scope, std::vector<Action>& out) {
  bool ok = true;
  for (int i = 0; i < protos.size(); ++i) {
    const auto& proto = protos[i];
    auto where = scope.child(field, i);
    Action action;
    const v1::Header* header = nullptr;
    const char* op_field = "";
    switch (proto.action_case()) {
      case v1::HeaderAction::kAdd:
        action.op = Action::Op::add;
        header = &proto.add();
        op_field = "add";
        break;
      case v1::HeaderAction::kSet:
        action.op = Action::Op::set;
        header = &proto.set();
        op_field = "set";
        break;
      case v1::HeaderAction::kRemove:
        action.op = Action::Op::remove;
        action.name = proto.remove();
        op_field = "remove";
        break;
      case v1::HeaderAction::ACTION_NOT_SET:
        where.error("give one of add, set or remove");
        ok = false;
        continue;
    }
    if (header != nullptr) action.name = header->name();
    auto name_scope = header != nullptr ? where.child(op_field) : where;
    const char* name_field = header != nullptr ? "name" : "remove";
    if (!is_token(action.name)) {
      name_scope.error(name_field, quoted(action.name) + " is not a header name");
      ok = false;
      continue;
    }
    if (const char* reason = protected_reason(action.name)) {
      name_scope.error(name_field, "\"" + action.name + "\" " + reason);
      ok = false;
      continue;
    }
    if (header != nullptr) {
      std::string error;
      action.value = ValueTemplate::parse(header->value(), error);
      if (!action.value) {
        name_scope.error("value", quoted(header->value()) + " " + error);
        ok = false;
        continue;
      }
    }
    out.push_back(std::move(action));
  }
  return ok;
}

}  // namespace

std::optional<Rewrites> Rewrites::create(const v1::HeaderRewrite& config, const config::FieldScope& scope,
                                         stats::Counter& invalid_values) {
  Rewrites rewrites(invalid_values);
  bool ok = build_actions(config.request(), "request", scope, rewrites.request_);
  ok = build_actions(config.response(), "response", scope, rewrites.response_) && ok;
  if (config.request().empty() && config.response().empty()) {
    scope.error("give at least one request or response action");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return rewrites;
}

bool Rewrites::apply(const std::vector<Action>& actions, http::HeaderMap& target,
                     const filter::ConnectionInfo& connection, const filter::Attributes& attributes,
                     const http::HeaderMap& request_headers) const {
  bool clean = true;
  for (const auto& action : actions) {
    if (action.op == Action::Op::remove) {
      target.remove(action.name);
      continue;
    }
    std::string value = action.value->expand(connection, attributes, request_headers);
    if (has_forbidden_character(value)) {
      invalid_values_->inc();
      clean = false;
      continue;
    }
    if (value.empty()) continue;
    if (action.op == Action::Op::set) {
      target.set(action.name, std::move(value));
    } else {
      target.add(action.name, std::move(value));
    }
  }
  return clean;
}

filter::Verdict Rewrites::rewrite_request(filter::RequestContext& context) const {
  // Expanded against the headers as the client sent them.
  http::HeaderMap original = context.request.headers;
  if (!apply(request_, context.request.headers, context.connection, context.attributes, original)) {
    return filter::Denial{400, "invalid_value", "a rewritten header value would contain CR, LF or NUL", {}};
  }
  return std::nullopt;
}

void Rewrites::rewrite_response(filter::ResponseContext& context) const {
  apply(response_, context.response.headers, context.connection, context.attributes, context.request.headers);
}

}  // namespace wsproxy::filters::header_rewrite
