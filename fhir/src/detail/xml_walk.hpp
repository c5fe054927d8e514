#pragma once
// Visiting every node of a pugixml document in document order without
// recursion, so that hostile nesting cannot exhaust the stack: the FHIR XML
// reader (xml_reader.cpp) and the narrative check (narrative_check.cpp).

#include <cstddef>

#include <pugixml.hpp>

namespace hearth::fhir::detail {

/// Calls visit(node, depth) for every node under `doc` in document order,
/// depth 1 for a top-level node, until it returns false. Returns false when
/// a visit stopped the walk, true when every node was visited.
template <class Visit>
bool walk_xml(const pugi::xml_document& doc, Visit&& visit) {
  std::size_t depth = 1;
  for (pugi::xml_node n = doc.first_child(); n;) {
    if (!visit(n, depth)) return false;
    if (pugi::xml_node c = n.first_child()) {
      n = c;
      ++depth;
      continue;
    }
    while (n != doc && !n.next_sibling()) {
      n = n.parent();
      --depth;
    }
    if (n == doc) break;
    n = n.next_sibling();
  }
  return true;
}

}  // namespace hearth::fhir::detail
