// Prometheus text format.
#include "source/admin/prometheus.h"

#include <cstdio>
#include <map>
#include <vector>

namespace wsproxy::admin {
namespace {

struct Metric {
  std::string name;    // wsproxy_...
  std::string labels;  // {listener="x"} or empty
};

std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out += ok ? c : '_';
  }
  return out;
}

std::string label_value(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view name) {
  std::vector<std::string_view> parts;
  while (true) {
    auto dot = name.find('.');
    parts.push_back(name.substr(0, dot));
    if (dot == std::string_view::npos) return parts;
    name.remove_prefix(dot + 1);
  }
}

std::string rest(const std::vector<std::string_view>& parts, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < parts.size(); ++i) out += (i > from ? "_" : "") + sanitize(parts[i]);
  return out;
}

Metric metric_of(const std::string& stat) {
  auto parts = split(stat);
  if ((parts[0] == "listener" || parts[0] == "cluster") && parts.size() >= 3) {
    return {"wsproxy_" + std::string(parts[0]) + "_" + rest(parts, 2),
            "{" + std::string(parts[0]) + "=\"" + label_value(parts[1]) + "\"}"};
  }
  if (parts[0] == "filter" && parts.size() >= 4) {
    return {"wsproxy_filter_" + rest(parts, 3),
            "{chain=\"" + label_value(parts[1]) + "\",filter=\"" + label_value(parts[2]) + "\"}"};
  }
  return {"wsproxy_" + rest(parts, 0), ""};
}

// Labels with one more: {a="b"} + quantile="0.5" -> {a="b",quantile="0.5"}.
std::string with_label(const std::string& labels, const std::string& extra) {
  if (labels.empty()) return "{" + extra + "}";
  return labels.substr(0, labels.size() - 1) + "," + extra + "}";
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

}  // namespace

std::string prometheus_text(const stats::Store& store) {
  // Metric name -> (type, sample lines), so each # TYPE line comes once.
  std::map<std::string, std::pair<std::string, std::string>> metrics;
  auto add = [&](const Metric& m, const char* type, const std::string& lines) {
    auto& entry = metrics[m.name];
    entry.first = type;
    entry.second += lines;
  };
  for (const auto& [name, value] : store.counter_values()) {
    Metric m = metric_of(name);
    add(m, "counter", m.name + m.labels + " " + std::to_string(value) + "\n");
  }
  for (const auto& [name, value] : store.gauge_values()) {
    Metric m = metric_of(name);
    add(m, "gauge", m.name + m.labels + " " + std::to_string(value) + "\n");
  }
  for (const auto& [name, s] : store.histogram_values()) {
    Metric m = metric_of(name);
    std::string lines;
    for (auto [q, v] : {std::pair{"0.5", s.p50}, {"0.9", s.p90}, {"0.99", s.p99}, {"0.999", s.p999}}) {
      lines += m.name + with_label(m.labels, std::string("quantile=\"") + q + "\"") + " " + number(v) + "\n";
    }
    lines += m.name + "_sum" + m.labels + " " + number(s.sum) + "\n";
    lines += m.name + "_count" + m.labels + " " + std::to_string(s.count) + "\n";
    add(m, "summary", lines);
  }
  std::string out;
  for (const auto& [name, entry] : metrics) {
    out += "# TYPE " + name + " " + entry.first + "\n" + entry.second;
  }
  return out;
}

}  // namespace wsproxy::admin
