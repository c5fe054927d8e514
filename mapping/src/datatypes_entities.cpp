// XCN -> Practitioner and PL -> Location entries (IG XCN[Practitioner], PL[Location]).

#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

json_value practitioner_reference(context& ctx, const hl7v2::xcn& v, const position& where) {
  json_value name = json_value::object();
  put(name, "use", map_code(ctx, "NameType", v.name_type_code, child(where, 10)));
  put(name, "family", v.family_name.surname);
  append(name, "given", v.given_name);
  append(name, "given", v.further_given_names);
  append(name, "prefix", v.prefix);
  append(name, "suffix", v.suffix);
  append(name, "suffix", v.professional_suffix);
  const bool has_name = name.find("family") != nullptr || name.find("given") != nullptr;
  if (v.id_number.empty()) {
    if (!has_name) return {};
    // A name without an id cannot be found again: no resource, a display
    // only (R4 references.html#Reference: display alone is a valid Reference).
    std::string display = v.prefix;
    for (const std::string* part : {&v.given_name, &v.further_given_names, &v.family_name.surname, &v.suffix}) {
      if (part->empty()) continue;
      if (!display.empty()) display.push_back(' ');
      display += *part;
    }
    json_value r = json_value::object();
    r.set("display", display);
    return r;
  }
  json_value p = new_resource("Practitioner");
  json_value id = json_value::object();
  if (!v.identifier_check_digit.empty()) {
    append(id, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/identifier-checkDigit", "valueString",
                     v.identifier_check_digit));
  }
  if (!v.identifier_type_code.empty()) {
    hl7v2::coded t;
    t.identifier = v.identifier_type_code;
    put(id, "type", codeable_concept(ctx, t, child(where, 13), "IdentifierType", "0203"));
  }
  std::string system = resolve_system(v.assigning_authority, ctx.cfg);
  if (system.empty()) system = fallback_system(ctx, v.assigning_authority);
  put(id, "system", system);
  put(id, "value", v.id_number);
  append(p, "identifier", std::move(id));
  if (has_name) append(p, "name", std::move(name));
  // Without a system the id is the sender's own: the identity is derived from
  // the sender (MSH-3, MSH-4), XCN.9 and the id.
  std::optional<identity> key;
  if (!system.empty()) {
    key = identity{system, v.id_number};
  } else {
    key = derived_identity("Practitioner", {ctx.msg.text("MSH-3.1"), ctx.msg.text("MSH-4.1"),
                                            v.assigning_authority.namespace_id, v.assigning_authority.universal_id,
                                            v.id_number});
  }
  return reference(ctx.add_entry(std::move(p), key));
}

json_value location_reference(context& ctx, const hl7v2::pl& v, [[maybe_unused]] const position& where) {
  const std::string& facility = v.facility.namespace_id.empty() ? v.facility.universal_id : v.facility.namespace_id;
  if (v.point_of_care.empty() && v.room.empty() && v.bed.empty() && facility.empty() && v.building.empty() &&
      v.floor.empty() && v.location_description.empty() && v.comprehensive_location_identifier.entity_identifier.empty()) {
    return {};
  }
  // Departure from PL[Location]: the IG builds up to six Locations (bed, room,
  // floor, point of care, building, facility) chained by partOf. We build the
  // most granular one (what Encounter.location should name, PV1[Encounter]
  // PV1-3), named by its parts, so that one Encounter.location stays one
  // entry; the chain can be added without changing identities.
  json_value loc = new_resource("Location");
  identity pl10;
  json_value pl10_json = ei_identifier(ctx, v.comprehensive_location_identifier, &pl10);
  append(loc, "identifier", std::move(pl10_json));
  loc.set("status", "active");
  std::string name;
  for (const std::string* part : {&facility, &v.building, &v.floor, &v.point_of_care, &v.room, &v.bed}) {
    if (part->empty()) continue;
    if (!name.empty()) name.push_back(' ');
    name += *part;
  }
  put(loc, "name", name);
  put(loc, "description", v.location_description);
  loc.set("mode", "instance");
  const char* physical = !v.bed.empty()        ? "bd"
                         : !v.room.empty()     ? "ro"
                         : !v.point_of_care.empty() ? nullptr  // the IG names no code for a point of care
                         : !v.floor.empty()    ? "lvl"
                         : !v.building.empty() ? "bu"
                         : !facility.empty()   ? "si"
                                               : nullptr;
  if (physical != nullptr) {
    json_value c = json_value::object();
    c.set("system", "http://terminology.hl7.org/CodeSystem/location-physical-type");
    c.set("code", physical);
    json_value cc = json_value::object();
    append(cc, "coding", std::move(c));
    loc.set("physicalType", std::move(cc));
  }
  std::optional<identity> key;
  if (pl10.valid()) {
    key = pl10;
  } else {
    // The parts identify the place; a PL without a facility is the sender's own.
    key = derived_identity("Location", {facility.empty() ? ctx.msg.text("MSH-3.1") + "^" + ctx.msg.text("MSH-4.1")
                                                         : std::string("^") + facility,
                                        v.building, v.floor, v.point_of_care, v.room, v.bed});
  }
  return reference(ctx.add_entry(std::move(loc), key));
}

}  // namespace hearth::mapping::detail
