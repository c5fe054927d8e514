// The one translation unit that compiles Boost.Asio (and its SSL support).
// BOOST_ASIO_SEPARATE_COMPILATION is defined PUBLIC by the target.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
