// wsproxy's version and build, as the admin API reports them.
#pragma once

namespace wsproxy {

inline constexpr char kVersion[] = "0.1.0";
inline constexpr char kBuild[] = "gcc " __VERSION__ ", built " __DATE__;

}  // namespace wsproxy
