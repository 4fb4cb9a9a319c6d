// Stats in the Prometheus text exposition format. Envoy-style dotted names
// become metric names with labels: listener.<name>.downstream_cx_total is
// wsproxy_listener_downstream_cx_total{listener="<name>"}; cluster.<name>.*
// and filter.<chain>.<filter>.* likewise; histograms become summaries.
#pragma once

#include <string>

#include "source/stats/stats.h"

namespace wsproxy::admin {

std::string prometheus_text(const stats::Store& store);

}  // namespace wsproxy::admin
