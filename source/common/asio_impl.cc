// The one translation unit that compiles Boost.Asio's implementation
// (BOOST_ASIO_SEPARATE_COMPILATION), so other files only parse its headers;
// its SSL part is for the few clients built on asio::ssl (remote JWKS).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
