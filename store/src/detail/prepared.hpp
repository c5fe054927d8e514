#pragma once
// A SOCI statement prepared once and run many times with the values of the
// variables it was bound to (their addresses must outlive it).

#include <soci/soci.h>

#include <memory>
#include <utility>

namespace hearth::store::detail {

/// Prepares `text` on `sql` with `binds` (soci::use / soci::into of fields
/// whose addresses never change). Run it with execute(true) after setting
/// the fields; execute(true) is true when a row was fetched into the intos.
template <class... Binds>
std::unique_ptr<soci::statement> prepare_bound(soci::session& sql, const char* text, Binds&&... binds) {
  auto st = std::make_unique<soci::statement>(sql);
  (st->exchange(std::forward<Binds>(binds)), ...);
  st->alloc();
  st->prepare(text);
  st->define_and_bind();
  return st;
}

}  // namespace hearth::store::detail
