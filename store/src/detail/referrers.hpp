#pragma once
// The resources that refer to one resource, found through the reference
// index inside a writing transaction (bundle_apply.cpp: a patient merge
// moves them to the surviving Patient).

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/store/resource_store.hpp>

namespace hearth::store::detail {

/// One current resource: its type and id.
struct resource_key {
  std::string type;
  std::string id;
  friend bool operator==(const resource_key&, const resource_key&) = default;
  friend auto operator<=>(const resource_key&, const resource_key&) = default;
};

/// The current (not deleted) resources with a reference to `type`/`id` in
/// the reference index (idx_reference rows of every reference search
/// parameter of every type, migrations.cpp version 2: relative references,
/// RESTful absolute URLs, any version), except those of the types in
/// `skip`; sorted by type and id, each once. A reference no search parameter
/// covers (in an extension, say) is not in the index: a resource whose only
/// reference to `type`/`id` is such a one is not found. At most `limit` + 1
/// are returned, so that the caller can tell "more than `limit`". Sees the
/// transaction's own writes. Writer thread only, under resource_tx's rules;
/// errors: "exception" (the transaction is then poisoned, as for its writes).
hearth::result<std::vector<resource_key>> find_referrers(resource_tx& tx, std::string_view type,
                                                         std::string_view id, std::span<const std::string_view> skip,
                                                         std::size_t limit);

}  // namespace hearth::store::detail
