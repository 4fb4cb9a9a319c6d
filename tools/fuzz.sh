#!/usr/bin/env bash
# Builds wsproxy's libFuzzer targets (test/fuzz/*_fuzz.cc) with clang, ASan
# and UBSan, and runs each for SECONDS (default 30) from its seed corpus in
# test/fuzz/corpus/<name>/. Any crash, leak or sanitizer report fails the
# run; the input that caused it is kept in .fuzz/<name>/. Ends with a line
# "N passed, N failed" counting targets.
#   bash tools/fuzz.sh                  # every target, 30 s each
#   bash tools/fuzz.sh 600 jwt request  # two targets, 10 minutes each
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request frame jwt header_rewrite config)

bash tools/install_deps.sh
# The generated protobuf sources the config target needs.
bash tools/bazel.sh build //api:config_v1 //api:annotations_v1 //api/wsproxy/filters/origin/v1:origin \
  //api/wsproxy/filters/header_rewrite/v1:header_rewrite //api/wsproxy/filters/rate_limit/v1:rate_limit >/dev/null 2>&1

gen=bazel-bin/api
flags=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. -I"$gen")
libs=(-lssl -lcrypto -lprotobuf -lpthread)
declare -A sources=(
  [request]="source/http/headers.cc source/http/message.cc source/http/response.cc source/http/upgrade.cc"
  [frame]="source/websocket/frame_tracker.cc"
  [jwt]="filters/jwt_authn/jwt.cc"
  [header_rewrite]="filters/header_rewrite/value_template.cc source/filter/filter.cc source/http/headers.cc"
  [config]="source/config/duration.cc source/config/errors.cc source/config/loader.cc source/config/redact.cc
            source/config/validate.cc source/common/server_name.cc source/stats/stats.cc source/filter/chain.cc
            source/filter/filter.cc source/filter/registry.cc source/http/headers.cc source/http/message.cc
            source/http/response.cc source/http/upgrade.cc
            filters/origin/origin_filter.cc filters/origin/config.cc
            filters/header_rewrite/header_rewrite_filter.cc filters/header_rewrite/value_template.cc filters/header_rewrite/config.cc
            filters/rate_limit/limiter.cc filters/rate_limit/rate_limit_filter.cc filters/rate_limit/config.cc
            $(ls $gen/wsproxy/config/v1/*.pb.cc $gen/wsproxy/annotations/v1/*.pb.cc)
            $gen/wsproxy/filters/origin/v1/origin.pb.cc $gen/wsproxy/filters/header_rewrite/v1/header_rewrite.pb.cc
            $gen/wsproxy/filters/rate_limit/v1/rate_limit.pb.cc"
)

mkdir -p .fuzz
passed=0
failed=0
for target in "${targets[@]}"; do
  out=.fuzz/$target
  mkdir -p "$out/corpus"
  echo "== $target: building"
  # shellcheck disable=SC2086
  clang++ "${flags[@]}" -o "$out/fuzzer" "test/fuzz/${target}_fuzz.cc" ${sources[$target]} "${libs[@]}"
  echo "== $target: fuzzing for $seconds s"
  if ! (cd "$out" && ./fuzzer -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        corpus "../../test/fuzz/corpus/$target" > fuzz.log 2>&1); then
    echo "== $target: FAILED (see $out/fuzz.log; reproducer in $out/)"
    tail -30 "$out/fuzz.log"
    failed=$((failed + 1))
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$out/fuzz.log" | sed "s/^/   $target /"
    passed=$((passed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
