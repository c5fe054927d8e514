#pragma once
// hearth::store::search_page — one page of an R4 search's results
// (search.html#return): the matches, the resources _include/_revinclude
// brought in, the total when known, and where the next page starts.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <hearth/store/resource_version.hpp>

namespace hearth::store {

/// Plain value; copyable.
struct search_page {
  /// Bundle.entry.search.mode = match, in the order of the search (its
  /// _sort keys, then the order resources were first created).
  std::vector<resource_version> matches;
  /// Bundle.entry.search.mode = include: resources _include / _revinclude
  /// (and their :iterate rounds) reached from this page's matches, each once,
  /// none of them a match of this page.
  std::vector<resource_version> included;
  /// Bundle.total: set when _total=accurate or estimate or _summary=count
  /// asked for it (a COUNT over the criteria), or when this first page holds
  /// every match (known without counting).
  std::optional<std::int64_t> total;
  /// Opaque keyset cursor for the next page (search_request::cursor): the sort
  /// keys and position of this page's last match. Empty on the last page.
  /// It only fits the search it came from (a cursor of another search is
  /// refused as "invalid"). Paging by position, not offset: writes between
  /// two pages neither repeat nor skip a resource whose sort keys stay put.
  std::string next_cursor;
};

}  // namespace hearth::store
