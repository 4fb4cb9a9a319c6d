// The header_rewrite filter: add, set and remove header fields of the
// upgrade request and of the upstream's 101, with variables.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "filters/header_rewrite/value_template.h"
#include "source/config/errors.h"
#include "source/filter/filter.h"
#include "source/stats/stats.h"
#include "wsproxy/filters/header_rewrite/v1/header_rewrite.pb.h"

namespace wsproxy::filters::header_rewrite {

struct Action {
  enum class Op { add, set, remove };
  Op op;
  std::string name;
  std::optional<ValueTemplate> value;  // none for remove
};

class Rewrites {
 public:
  // Reports every bad action to `scope`; nothing if any.
  static std::optional<Rewrites> create(const v1::HeaderRewrite& config, const config::FieldScope& scope,
                                        stats::Counter& invalid_values);

  // Applies the request actions; a denial (400) if a variable expanded to
  // a value with CR, LF or NUL.
  filter::Verdict rewrite_request(filter::RequestContext& context) const;
  // Applies the response actions; a value with CR, LF or NUL is left out
  // and counted (the 101 cannot be refused any more).
  void rewrite_response(filter::ResponseContext& context) const;

 private:
  explicit Rewrites(stats::Counter& invalid_values) : invalid_values_(&invalid_values) {}
  // False if a value had a forbidden character (and was left out).
  bool apply(const std::vector<Action>& actions, http::HeaderMap& target, const filter::ConnectionInfo& connection,
             const filter::Attributes& attributes, const http::HeaderMap& request_headers) const;

  std::vector<Action> request_;
  std::vector<Action> response_;
  stats::Counter* invalid_values_;
};

class HeaderRewriteFilter : public filter::Filter {
 public:
  explicit HeaderRewriteFilter(const Rewrites& rewrites) : rewrites_(rewrites) {}
  filter::Verdict on_request(filter::RequestContext& context) override { return rewrites_.rewrite_request(context); }
  void on_response(filter::ResponseContext& context) override { rewrites_.rewrite_response(context); }

 private:
  const Rewrites& rewrites_;
};

}  // namespace wsproxy::filters::header_rewrite
