// CWE/CE/CNE -> Coding and CodeableConcept (IG CWE[Coding], CWE[CodeableConcept]).

#include <algorithm>
#include <vector>

#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

namespace {

// One triplet (code, display, system name, version) as a Coding.
json_value triplet(context& ctx, const std::string& code, const std::string& display, const std::string& system_name,
                   const std::string& version, std::string_view table, const position& system_at) {
  if (code.empty() && display.empty()) return {};
  json_value c = json_value::object();
  std::string system;
  if (!system_name.empty()) {
    system = coding_system_uri(system_name, ctx.cfg);
    if (system.empty()) {
      ctx.warn(error_code::table_value_not_found, "coding system name not known: Coding.system left out", system_at);
    }
  } else if (!table.empty() && !code.empty()) {
    system = v2_table_uri(table);
  }
  put(c, "system", system);
  put(c, "version", version);
  put(c, "code", fhir_code(code));
  put(c, "display", display);
  return c;
}

}  // namespace

json_value coding(context& ctx, const hl7v2::coded& v, const position& where, std::string_view table) {
  return triplet(ctx, v.identifier, v.text, v.coding_system, v.coding_system_version, table, child(where, 3));
}

json_value codeable_concept(context& ctx, const hl7v2::coded& v, const position& where, std::string_view map_name,
                            std::string_view table) {
  if (v.empty()) return {};
  json_value cc = json_value::object();
  json_value codings = json_value::array();
  // "If mapped to FHIR, use Code System and Display" (CWE[CodeableConcept]):
  // only a code of the v2 table itself is mapped (CWE.3 empty or HL7nnnn of
  // that table); a code of another system is kept as sent.
  const bool v2_code = !v.identifier.empty() &&
                       (v.coding_system.empty() || (!table.empty() && v.coding_system == "HL7" + std::string(table)));
  if (!map_name.empty() && v2_code) {
    if (const auto* t = lookup_code(map_name, v.identifier); t != nullptr && !t->code.empty()) {
      json_value m = json_value::object();
      put(m, "system", t->system);
      put(m, "code", t->code);
      put(m, "display", t->display);
      codings.push_back(std::move(m));
    }
  }
  json_value first = triplet(ctx, v.identifier, v.text, v.coding_system, v.coding_system_version, table,
                             child(where, 3));
  // The v2 coding after the mapped one, unless it is the same code of the
  // same system (IdentifierType maps MR to MR in v2-0203 itself).
  const auto same_code = [](const json_value& a, const json_value& b) {
    const json_value* as = a.find("system");
    const json_value* bs = b.find("system");
    const json_value* ac = a.find("code");
    const json_value* bc = b.find("code");
    return as != nullptr && bs != nullptr && ac != nullptr && bc != nullptr && *as == *bs && *ac == *bc;
  };
  if (!is_empty(first) && !(codings.size() == 1 && same_code(codings.items()[0], first))) {
    codings.push_back(std::move(first));
  }
  codings.push_back(triplet(ctx, v.alternate_identifier, v.alternate_text, v.alternate_coding_system,
                            v.alternate_coding_system_version, {}, child(where, 6)));
  json_value::array_type kept;
  for (auto& c : codings.items()) {
    if (!is_empty(c)) kept.push_back(std::move(c));
  }
  if (!kept.empty()) cc.set("coding", json_value(std::move(kept)));
  // CWE.9 is the text; without it and without any code, CWE.2 is all there is.
  if (!v.original_text.empty()) {
    cc.set("text", v.original_text);
  } else if (v.identifier.empty() && v.alternate_identifier.empty() && !v.text.empty()) {
    cc.erase("coding");
    cc.set("text", v.text);
  }
  return cc;
}

json_value fixed_concept(std::string_view system, std::string_view code, std::string_view display) {
  json_value c = json_value::object();
  c.set("system", system);
  put(c, "code", fhir_code(code));
  put(c, "display", std::string(display));
  json_value cc = json_value::object();
  append(cc, "coding", std::move(c));
  return cc;
}

}  // namespace hearth::mapping::detail

namespace hearth::mapping::detail {

void add_mapped_codings(context& ctx, json_value& cc, std::string_view concept_map) {
  if (ctx.terminology == nullptr || !cc.is_object()) return;
  json_value* codings = cc.find("coding");
  if (codings == nullptr || !codings->is_array()) return;
  std::vector<json_value> added;
  for (const json_value& c : codings->items()) {
    const json_value* system = c.find("system");
    const json_value* code = c.find("code");
    if (system == nullptr || code == nullptr || !system->is_string() || !code->is_string()) continue;
    terminology::translate_request req;
    req.url = std::string(concept_map);
    req.codings.push_back({system->str(), {}, code->str(), {}});
    auto r = ctx.terminology->translate(req);
    // No map, or no match: nothing to add, and nothing wrong with the
    // message (the v2 coding stays).
    if (!r) continue;
    for (const terminology::translate_match& m : r->matches) {
      // R4 ConceptMapEquivalence: only a same-meaning target is the same
      // concept; wider/narrower/inexact ones would change what was sent.
      if (m.equivalence != "equivalent" && m.equivalence != "equal") continue;
      if (m.mapped.system.empty() || m.mapped.code.empty()) continue;
      json_value mapped = json_value::object();
      mapped.set("system", m.mapped.system);
      mapped.set("code", m.mapped.code);
      if (!m.mapped.display.empty()) mapped.set("display", m.mapped.display);
      added.push_back(std::move(mapped));
    }
  }
  for (json_value& m : added) {
    const bool present = std::any_of(codings->items().begin(), codings->items().end(), [&](const json_value& c) {
      const json_value* s = c.find("system");
      const json_value* k = c.find("code");
      return s != nullptr && k != nullptr && *s == *m.find("system") && *k == *m.find("code");
    });
    if (!present) codings->push_back(std::move(m));
  }
}

}  // namespace hearth::mapping::detail
