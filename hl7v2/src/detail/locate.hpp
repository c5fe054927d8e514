#pragma once
// Where a part of a composite is, for the typed readers' errors. Private to hl7v2.

#include <cstddef>

#include <hearth/hl7v2/element.hpp>
#include <hearth/hl7v2/error.hpp>

namespace hearth::hl7v2::detail {

/// Sets where part n (and, one level further down, `sub`) of `e` is, relative
/// to `e`: the caller knows the segment and field.
inline void locate_part(error& err, const element_view& e, std::size_t n, std::size_t sub = 0) {
  switch (e.depth()) {
    case level::field:
    case level::repetition:
      err.where.component = n;
      if (sub != 0) err.where.subcomponent = sub;
      break;
    case level::component:
      err.where.subcomponent = n;
      break;
    case level::subcomponent:
      break;
  }
}

}  // namespace hearth::hl7v2::detail
