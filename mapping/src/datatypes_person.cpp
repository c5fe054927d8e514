// XPN -> HumanName, XAD -> Address, XTN -> ContactPoint (IG XPN[HumanName],
// XAD[Address], XTN[ContactPoint]).

#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

namespace {

json_value period_of(context& ctx, const std::string& start, const std::string& end, const hl7v2::dr& range,
                     const position& start_at, const position& end_at, const position& range_at) {
  json_value p = json_value::object();
  // The IG: the effective/expiration dates; the deprecated range only when
  // neither is valued.
  if (!start.empty() || !end.empty()) {
    if (auto s = to_datetime(ctx, start, start_at)) put(p, "start", *s);
    if (auto e = to_datetime(ctx, end, end_at)) put(p, "end", *e);
  } else {
    if (auto s = to_datetime(ctx, range.range_start, child(range_at, 1))) put(p, "start", *s);
    if (auto e = to_datetime(ctx, range.range_end, child(range_at, 2))) put(p, "end", *e);
  }
  return p;
}

}  // namespace

json_value human_name(context& ctx, const hl7v2::xpn& v, const position& where) {
  json_value n = json_value::object();
  put(n, "use", map_code(ctx, "NameType", v.name_type_code, child(where, 7)));
  // FN[HumanName]: family is FN.1, the surname as sent (prefixes included).
  put(n, "family", v.family_name.surname);
  append(n, "given", v.given_name);
  // XPN.3 may hold several names separated by spaces; the IG leaves them as
  // one given name, as sent.
  append(n, "given", v.further_given_names);
  append(n, "prefix", v.prefix);
  append(n, "suffix", v.suffix);
  append(n, "suffix", v.degree);
  append(n, "suffix", v.professional_suffix);
  put(n, "period",
      period_of(ctx, v.effective_date, v.expiration_date, v.name_validity_range, child(where, 12), child(where, 13),
                child(where, 10)));
  // A name with only a use says nothing.
  if (n.size() == 1 && n.find("use") != nullptr) return {};
  return n;
}

json_value address(context& ctx, const hl7v2::xad& v, const position& where) {
  json_value a = json_value::object();
  if (!v.census_tract.empty()) {
    append(a, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-censusTract", "valueString",
                     v.census_tract));
  }
  // XAD.7, table 0190: M and SH are Address.type (postal), BA, BI, C, B, H, O
  // Address.use, HV the iso21090-AD-use extension; the rest has no FHIR place.
  const std::string& t = v.address_type;
  if (t == "HV") {
    append(a, "extension", extension("http://hl7.org/fhir/StructureDefinition/iso21090-AD-use", "valueCode", "HV"));
  } else if (!t.empty()) {
    const auto* use = lookup_code("AddressType[Use]", t);
    const auto* type = lookup_code("AddressType[Type]", t);
    if (use != nullptr && !use->code.empty()) put(a, "use", use->code);
    if (type != nullptr && !type->code.empty()) put(a, "type", type->code);
    if (a.find("use") == nullptr && a.find("type") == nullptr) {
      ctx.warn(error_code::table_value_not_found, "address type has no FHIR equivalent: left out", child(where, 7));
    }
  }
  // SAD[Address]: the street address is the first line; without it, the
  // dwelling number and street name make it.
  const auto& sad = v.street_address;
  if (!sad.street_or_mailing_address.empty()) {
    append(a, "line", sad.street_or_mailing_address);
  } else if (!sad.street_name.empty() || !sad.dwelling_number.empty()) {
    std::string line = sad.dwelling_number;
    if (!line.empty() && !sad.street_name.empty()) line.push_back(' ');
    line += sad.street_name;
    append(a, "line", line);
  }
  append(a, "line", v.other_designation);
  put(a, "city", v.city);
  put(a, "district", v.county_parish_code);
  put(a, "state", v.state_or_province);
  put(a, "postalCode", v.zip_or_postal_code);
  put(a, "country", v.country);
  put(a, "period",
      period_of(ctx, v.effective_date, v.expiration_date, v.address_validity_range, child(where, 13),
                child(where, 14), child(where, 12)));
  return a;
}

json_value contact_point(context& ctx, const hl7v2::xtn& v, const position& where, std::string_view default_use) {
  json_value c = json_value::object();
  const bool email = v.equipment_type == "Internet" || v.equipment_type == "X.400";
  std::string system;
  std::string use = map_code(ctx, "TelecommunicationUseCode", v.use_code, child(where, 2));
  if (!v.equipment_type.empty()) {
    const auto* t = lookup_code("TelecommunicationEquipmentType", v.equipment_type);
    if (t == nullptr || t->code.empty()) {
      ctx.warn(error_code::table_value_not_found, "equipment type not in TelecommunicationEquipmentType: left out",
               child(where, 3));
    } else if (t->system == "http://hl7.org/fhir/contact-point-use") {
      // The IG maps CP (cellular phone) to the ContactPoint *use* "mobile":
      // the system is then a phone.
      system = "phone";
      if (use.empty()) use = t->code;
    } else {
      system = t->code;
    }
  } else if (!v.email_address.empty()) {
    system = "email";
  }
  // Extensions for the parts of a phone number (not for e-mail).
  if (!email) {
    const struct {
      const std::string& value;
      std::string_view url;
    } parts[] = {{v.country_code, "http://hl7.org/fhir/StructureDefinition/contactpoint-country"},
                 {v.area_city_code, "http://hl7.org/fhir/StructureDefinition/contactpoint-area"},
                 {v.local_number, "http://hl7.org/fhir/StructureDefinition/contactpoint-local"},
                 {v.extension, "http://hl7.org/fhir/StructureDefinition/contactpoint-extension"}};
    for (const auto& p : parts) {
      if (!p.value.empty()) append(c, "extension", extension(p.url, "valueString", p.value));
    }
  }
  std::string value;
  if (email || (v.equipment_type.empty() && !v.email_address.empty())) {
    value = v.email_address;
  } else if (!v.unformatted_telephone_number.empty()) {
    value = v.unformatted_telephone_number;
  } else if (!v.local_number.empty()) {
    // XTN[ContactPoint]: "+"+XTN.5+" "+XTN.6+" "+XTN.7, then " X"+XTN.8.
    if (!v.country_code.empty()) value = "+" + v.country_code + " ";
    if (!v.area_city_code.empty()) value += v.area_city_code + " ";
    value += v.local_number;
    if (!v.extension.empty()) value += " X" + v.extension;
  } else {
    value = v.telephone_number;
  }
  if (!system.empty()) {
    c.set("system", system);
  } else if (!value.empty()) {
    // cpt-2: a value needs a system. XTN.3 became required only in v2.7; the
    // IG marks its absence with data-absent-reason "unknown".
    json_value absent = json_value::object();
    append(absent, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode", "unknown"));
    c.set("_system", std::move(absent));
  }
  put(c, "value", value);
  if (use.empty() && !is_empty(c)) use = std::string(default_use);
  put(c, "use", use);
  if (c.find("value") == nullptr) return {};  // nothing to contact
  return c;
}

}  // namespace hearth::mapping::detail
