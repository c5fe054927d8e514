#pragma once
// Shared by the XML writer's tests and its fuzz target: a resource as its XML
// form carries it, to compare a resource with its JSON -> XML -> JSON round
// trip (the exceptions xml_writer.hpp lists for parse_fhir_xml(write_fhir_xml(j)) == j).

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/xml_reader.hpp>

namespace hearth::fhir::test {

/// A narrative div as parse_fhir_xml gives it back (as pugixml serialises
/// it): read inside a minimal resource. A div the reader refuses becomes a
/// text no div can be, so that a comparison involving it fails.
inline json_value reader_div(const std::string& div, const definitions& defs) {
  auto p = parse_fhir_xml(R"(<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>)" + div +
                              "</text></Patient>",
                          defs);
  if (!p) return json_value("(a div parse_fhir_xml refuses)");
  return *p->find("text")->find("div");
}

/// `v` as its XML form carries it: members sorted by name (XML follows the
/// definitions), trailing nulls of arrays dropped (they only pad a value
/// array or its `_name` array) and so arrays that held only nulls, narrative
/// divs as the reader serialises them.
inline json_value xml_canonical(const json_value& v, const definitions& defs) {
  if (v.is_array()) {
    json_value out = json_value::array();
    for (const json_value& item : v.items()) out.push_back(xml_canonical(item, defs));
    while (out.size() > 0 && out.items().back().is_null()) out.items().pop_back();
    return out;
  }
  if (!v.is_object()) return v;
  std::vector<const json_member*> members;
  for (const json_member& m : v.members()) members.push_back(&m);
  std::sort(members.begin(), members.end(), [](const json_member* a, const json_member* b) { return a->key < b->key; });
  json_value out = json_value::object();
  for (const json_member* m : members) {
    json_value c = m->key == "div" && m->value.is_string() ? reader_div(m->value.str(), defs)
                                                           : xml_canonical(m->value, defs);
    if (!c.is_array() || c.size() > 0) out.set(m->key, std::move(c));
  }
  return out;
}

}  // namespace hearth::fhir::test
