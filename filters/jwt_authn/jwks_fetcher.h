// A remote JWKS fetched over HTTPS by a background thread, never by a
// worker: fetched at start, again every cache duration, and retried with
// back-off after a failure. Workers read the latest key set (an atomic
// shared_ptr); until the first fetch succeeds there is none, and tokens
// are refused (fail closed).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "filters/jwt_authn/jwt.h"
#include "source/config/errors.h"
#include "source/config/loader.h"
#include "source/stats/stats.h"
#include "wsproxy/filters/jwt_authn/v1/jwt_authn.pb.h"

struct ssl_ctx_st;

namespace wsproxy::filters::jwt_authn {

class JwksFetcher {
 public:
  // Checks the settings (an https:// URL, a readable CA file); null after
  // reporting problems to `scope` (the remote_jwks message).
  static std::shared_ptr<JwksFetcher> create(const v1::RemoteJwks& proto, const config::LoadedConfig& config,
                                             const config::FieldScope& scope, stats::Store& store,
                                             const std::string& stats_prefix);
  ~JwksFetcher();

  // Starts the background thread (after the config has loaded).
  void start();
  // The latest keys, or null while none have been fetched.
  std::shared_ptr<const KeySet> keys() const { return std::atomic_load(&keys_); }

 private:
  JwksFetcher() = default;
  void run();
  // One fetch; the document's body, or nothing with `error`.
  std::optional<std::string> fetch(std::string& error);

  std::string uri_, host_, port_, target_;
  std::chrono::milliseconds cache_duration_{600000};
  std::chrono::milliseconds timeout_{5000};
  ssl_ctx_st* ssl_ctx_ = nullptr;
  stats::Counter* fetch_ok_ = nullptr;
  stats::Counter* fetch_failed_ = nullptr;

  std::shared_ptr<const KeySet> keys_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace wsproxy::filters::jwt_authn
