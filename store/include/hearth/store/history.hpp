#pragma once
// hearth::store::history_query / history_page — the R4 history interaction
// (http.html#history) for one instance, one type or the whole system.

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <hearth/store/resource_version.hpp>

namespace hearth::store {

/// Which versions, and which page of them. Plain value; copyable.
struct history_query {
  /// Resource type; empty for the whole system (`[base]/_history`).
  std::string type;
  /// Logical id; empty for the whole type (`[base]/[type]/_history`).
  /// Needs `type`.
  std::string id;
  /// `_since`: only versions with lastUpdated at or after this instant.
  std::optional<instant> since;
  /// `_at`: only versions that were current at some point during
  /// [at_low, at_high) — a dateTime's precision makes it a period (2024-03
  /// covers March). A version is current from its lastUpdated until the next
  /// version's. Both or neither are set.
  std::optional<instant> at_low;
  std::optional<instant> at_high;
  /// `_count`: entries per page, 1..max_count.
  std::size_t count = 50;
  /// Where to continue: history_page::next_cursor of the previous page; empty
  /// for the first page.
  std::string cursor;

  /// The first page of one resource's history (`[base]/[type]/[id]/_history`).
  static history_query of_instance(std::string type, std::string id) {
    history_query q;
    q.type = std::move(type);
    q.id = std::move(id);
    return q;
  }
  /// The first page of one type's history (`[base]/[type]/_history`).
  static history_query of_type(std::string type) {
    history_query q;
    q.type = std::move(type);
    return q;
  }

  /// Most entries in one page: 1000 bounds the memory and time one request
  /// takes (the same maximum as search's _count, issue 4).
  static constexpr std::size_t max_count = 1000;
};

/// One page of history, newest first (R4 http.html#history: "sorted with
/// oldest versions last"). Deleted versions are included as tombstones.
struct history_page {
  std::vector<resource_version> entries;
  /// Opaque keyset cursor for the next page (the position after the last
  /// entry, by lastUpdated then insertion order): stable while others write,
  /// since new versions sort before the first page. Empty on the last page.
  std::string next_cursor;
};

}  // namespace hearth::store
