// The one translation unit that compiles Boost.Asio's implementation
// (BOOST_ASIO_SEPARATE_COMPILATION), so other files only parse its headers.
#include <boost/asio/impl/src.hpp>
