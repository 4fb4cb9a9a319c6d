"""The filters linked into wsproxy: the one list to change when adding one.

Each entry is a filter's cc_library (alwayslink, registering itself with the
filter registry under its config message's full name).
"""

WSPROXY_FILTERS = [
    "//filters/header_rewrite",
    "//filters/jwt_authn",
    "//filters/origin",
    "//filters/rate_limit",
]
