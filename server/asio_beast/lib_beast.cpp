// The one translation unit that compiles Boost.Beast.
// BOOST_BEAST_SEPARATE_COMPILATION is defined PUBLIC by the target.
#include <boost/beast/src.hpp>
