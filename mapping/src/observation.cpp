// OBX -> Observation (IG segment maps OBX[Observation], OBX[Observation-Component],
// NTE[Observation]; data type maps NM[Quantity], CWE[Quantity], SN[Quantity],
// SN[Range], SN[Ratio], NR[Range], DR[Period], ED[Attachment], RP[Attachment]).

#include "observation.hpp"

#include <cctype>
#include <cstdio>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/ucum.hpp>

namespace hearth::mapping::detail {

namespace {

constexpr std::string_view ucum_system = "http://unitsofmeasure.org";

// OBX[Observation] OBX-5 "IF OBX-2 EQUALS "ED" ...": R4 Observation has no
// valueAttachment, so the IG puts the attachment in the R5 cross-version
// extension. The URL is the IG's, exactly as its CSV writes it.
constexpr std::string_view value_attachment_url =
    "https://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment";

json_value fixed_coding(std::string_view system, std::string_view code) {
  json_value c = json_value::object();
  c.set("system", system);
  put(c, "code", fhir_code(code));  // OBX-29 and other codes as sent
  return c;
}

json_value fixed_codeable(std::string_view system, std::string_view code) {
  json_value cc = json_value::object();
  append(cc, "coding", fixed_coding(system, code));
  return cc;
}

// The units of CWE[Quantity] into an existing Quantity object `q`.
void put_units(context& ctx, json_value& q, const hl7v2::coded& u) {
  // CWE.2 is the unit's text; without it CWE.1 (CWE[Quantity] CWE.1 "If CWE.2
  // IS NOT VALUED").
  put(q, "unit", u.text.empty() ? u.identifier : u.text);
  if (u.identifier.empty()) return;
  // CWE[Quantity]: code and system only "IF CWE.1 IS VALUED AND CWE.3 IS
  // VALUED". A unit sent without CWE.3 (or with a name we do not know) that
  // is a UCUM expression is still UCUM: Quantity.system is then
  // http://unitsofmeasure.org, which search by canonical units needs.
  const std::string system = coding_system_uri(u.coding_system, ctx.cfg);
  if (!system.empty() && system != ucum_system) {
    q.set("system", system);
    put(q, "code", fhir_code(u.identifier));
    return;
  }
  // A CWE.1 that CWE.3 calls UCUM but is no UCUM expression keeps only its
  // text: a Quantity.code that is not a UCUM code would mislead a search.
  if (fhir::ucum::parse(u.identifier)) {
    q.set("system", ucum_system);
    q.set("code", u.identifier);
  }
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// OBX-7: referenceRange.text always (OBX[Observation]); low and high as well
// when the text is one of the plain numeric forms "a-b", "<x", "<=x", ">x",
// ">=x" (SimpleQuantity has no comparator: "<x" is a high of x, the text
// keeps the exact meaning).
json_value reference_range(context& ctx, const std::string& text, const hl7v2::coded& units) {
  if (text.empty()) return {};
  json_value rr = json_value::object();
  const auto bound = [&](std::string_view s) -> json_value {
    auto n = hl7v2::parse_nm(trim(s));
    if (!n) return {};
    return quantity(ctx, *n, units);
  };
  json_value low;
  json_value high;
  if (text[0] == '<' || text[0] == '>') {
    const std::size_t skip = text.size() > 1 && text[1] == '=' ? 2 : 1;
    (text[0] == '<' ? high : low) = bound(std::string_view(text).substr(skip));
  } else if (const auto dash = text.find('-', 1); dash != std::string::npos) {
    low = bound(std::string_view(text).substr(0, dash));
    high = bound(std::string_view(text).substr(dash + 1));
    if (is_empty(low) || is_empty(high)) low = high = json_value{};
  }
  put(rr, "low", std::move(low));
  put(rr, "high", std::move(high));
  rr.set("text", text);
  return rr;
}

// The parts of an SN joined by spaces, with OBX-6: the valueString of
// OBX[Observation] ('OBX-5.1+" "+OBX-5.2+" "+OBX-5.3+" "+OBX-5.4" "OBX-6'),
// empty parts left out.
std::string sn_text(const hl7v2::sn& v, const hl7v2::coded& units, bool with_units) {
  std::string out;
  for (const std::string* part : {&v.comparator, v.num1 ? &v.num1->text : nullptr, &v.separator_suffix,
                                  v.num2 ? &v.num2->text : nullptr}) {
    if (part == nullptr || part->empty()) continue;
    if (!out.empty()) out.push_back(' ');
    out += *part;
  }
  const std::string& unit = units.identifier.empty() ? units.text : units.identifier;
  if (with_units && !unit.empty()) {
    if (!out.empty()) out.push_back(' ');
    out += unit;
  }
  return out;
}

json_value original_text(const std::string& text) {
  return extension("http://hl7.org/fhir/StructureDefinition/originalText", "valueString", text);
}

// SN -> the value[x] of OBX[Observation]'s SN rows, into `target`.
void put_sn(context& ctx, json_value& target, const hl7v2::sn& v, const hl7v2::coded& units) {
  const std::string& sep = v.separator_suffix;
  const bool comparator_set = !v.comparator.empty() && v.comparator != "=";
  // "IF OBX-5.1 NOT EQUALS "<>" AND OBX-5.3 IN (":", "/")": SN[Ratio].
  if (v.comparator != "<>" && (sep == ":" || sep == "/") && v.num1 && v.num2) {
    json_value ratio = json_value::object();
    append(ratio, "extension", original_text(sn_text(v, units, false)));
    json_value num = quantity(ctx, *v.num1, units, comparator_set ? v.comparator : std::string_view{});
    ratio.set("numerator", std::move(num));
    ratio.set("denominator", quantity(ctx, *v.num2, units));
    target.set("valueRatio", std::move(ratio));
    return;
  }
  // "... AND OBX-5.3 EQUALS "-"": SN[Range]. A Range has no comparator: one
  // sent with a range (not "=") cannot be said and falls to valueString.
  if (v.comparator != "<>" && sep == "-" && v.num1 && v.num2 && !comparator_set) {
    json_value range = json_value::object();
    append(range, "extension", original_text(sn_text(v, units, false)));
    range.set("low", quantity(ctx, *v.num1, units));
    range.set("high", quantity(ctx, *v.num2, units));
    target.set("valueRange", std::move(range));
    return;
  }
  // "... AND OBX-5.3 NOT IN (":", "/", "-", "+")": SN[Quantity], the
  // comparator kept ("<", ">", "<=", ">=" are FHIR's own; "=" says nothing).
  if (v.comparator != "<>" && sep != ":" && sep != "/" && sep != "-" && sep != "+" && v.num1) {
    json_value q = quantity(ctx, *v.num1, units, comparator_set ? v.comparator : std::string_view{});
    if (!sep.empty() || v.num2) {
      json_value ext = json_value::array();
      ext.push_back(original_text(sn_text(v, units, false)));
      // extension first, as FHIR lists the elements.
      json_value with_ext = json_value::object();
      with_ext.set("extension", std::move(ext));
      for (auto& m : q.members()) with_ext.set(m.key, std::move(m.value));
      q = std::move(with_ext);
    }
    target.set("valueQuantity", std::move(q));
    return;
  }
  // "<>", "+" and whatever the rows above cannot take ("If line 19 through
  // 23 all fail while OBX-2 = SN"): the text.
  target.set("valueString", sn_text(v, units, true));
}

// HL7 table 0291 (subtype of referenced data) -> MIME type, for
// Attachment.contentType (R4 datatypes.html#Attachment: a BCP 13 MIME type).
// Departure: ED[Attachment] maps ED.3 alone to contentType ("PDF" is no MIME
// type); we give the MIME type the subtype names.
std::string mime_type(const std::string& type, const std::string& subtype) {
  struct mime {
    std::string_view subtype;
    std::string_view type;
  };
  static constexpr mime known[] = {
      {"PDF", "application/pdf"},       {"JPEG", "image/jpeg"},          {"GIF", "image/gif"},
      {"PNG", "image/png"},             {"TIFF", "image/tiff"},          {"HTML", "text/html"},
      {"XML", "text/xml"},              {"RTF", "text/rtf"},             {"SGML", "text/sgml"},
      {"PostScript", "application/postscript"}, {"Octet-stream", "application/octet-stream"},
      {"DICOM", "application/dicom"},   {"x-hl7-cda-level-one", "application/x-hl7-cda-level-one+xml"},
  };
  if (subtype.find('/') != std::string::npos) return subtype;
  for (const auto& m : known) {
    if (m.subtype.size() == subtype.size()) {
      bool same = true;
      for (std::size_t i = 0; i < subtype.size(); ++i) {
        same = same && std::tolower(static_cast<unsigned char>(subtype[i])) ==
                           std::tolower(static_cast<unsigned char>(m.subtype[i]));
      }
      if (same) return std::string(m.type);
    }
  }
  if (subtype.empty()) return type == "TEXT" ? "text/plain" : std::string();
  return subtype;  // the IG: ED.3 as sent
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ED -> the valueAttachment extension (ED[Attachment]). ED.5 becomes
// base64Binary: Base64 as sent (checked), Hex and A (ASCII text) encoded
// ("convert from A or HEX to binary64"). Another ED.4: error 102 at ED.4.
json_value ed_attachment(context& ctx, const element_view& rep, const position& where) {
  const std::string type = rep.part(2).text();
  const std::string subtype = rep.part(3).text();
  const std::string encoding = rep.part(4).text();
  const std::string data = rep.part(5).text();
  std::string base64;
  if (encoding == "Base64") {
    // Line breaks are common inside long Base64 data; base64Binary has none.
    std::string compact;
    for (const char c : data) {
      if (c != '\r' && c != '\n' && c != ' ') compact.push_back(c);
    }
    const auto bytes = hearth::base64::decode(compact);
    if (!bytes) {
      ctx.fail(error_code::data_type_error, "ED data is not valid Base64", child(where, 5));
      return {};
    }
    base64 = hearth::base64::encode(*bytes);
  } else if (encoding == "Hex") {
    std::string bytes;
    bool ok = data.size() % 2 == 0;
    for (std::size_t i = 0; ok && i < data.size(); i += 2) {
      const int hi = hex_digit(data[i]);
      const int lo = hex_digit(data[i + 1]);
      ok = hi >= 0 && lo >= 0;
      bytes.push_back(static_cast<char>(hi * 16 + lo));
    }
    if (!ok) {
      ctx.fail(error_code::data_type_error, "ED data is not valid Hex", child(where, 5));
      return {};
    }
    base64 = hearth::base64::encode(bytes);
  } else if (encoding == "A") {
    base64 = hearth::base64::encode(data);
  } else {
    ctx.fail(error_code::data_type_error, "ED encoding not in table 0299 (A, Hex, Base64)", child(where, 4));
    return {};
  }
  json_value att = json_value::object();
  put(att, "contentType", fhir_code(mime_type(type, subtype)));
  put(att, "data", base64);
  return extension(value_attachment_url, "valueAttachment", std::move(att));
}

// RP -> the valueAttachment extension (RP[Attachment]): url RP.1,
// contentType RP.3 "/" RP.4.
json_value rp_attachment(const element_view& rep) {
  json_value att = json_value::object();
  const std::string type = rep.part(3).text();
  const std::string subtype = rep.part(4).text();
  if (!type.empty() && !subtype.empty()) put(att, "contentType", fhir_code(type + "/" + subtype));
  put(att, "url", fhir_uri(rep.part(1).text()));
  if (is_empty(att)) return {};
  return extension(value_attachment_url, "valueAttachment", std::move(att));
}

// A reader's error as our 102 at `where` (+ the reader's component).
void value_error(context& ctx, std::string_view type, const hl7v2::error& e, position where) {
  if (e.where.component != 0) where = child(where, e.where.component);
  ctx.fail(error_code::data_type_error, "observation value is not a valid " + std::string(type), where);
}

// FHIR time (R4 datatypes.html#time): hh:mm:ss with the fraction as sent;
// no offset (the type has none: a TM offset is dropped).
std::string fhir_time(const hl7v2::time_of_day& t) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02u:%02u:%02u", static_cast<unsigned>(t.hour), static_cast<unsigned>(t.minute),
                static_cast<unsigned>(t.second));
  std::string out(buf);
  if (!t.fraction.empty()) out += "." + t.fraction;
  return out;
}

// One OBX-5 repetition (or the only one) -> value[x] (or the attachment
// extension) in `target`: the Observation or one of its components.
void put_value(context& ctx, json_value& target, const std::string& type, const element_view& rep,
               const position& where, const hl7v2::coded& units, const position& type_at) {
  if (type == "NM") {
    auto n = hl7v2::read_nm(rep);
    if (!n) return value_error(ctx, type, n.error(), where);
    target.set("valueQuantity", quantity(ctx, *n, units));
  } else if (type == "ST") {
    put(target, "valueString", hl7v2::read_st(rep));
  } else if (type == "TX") {
    put(target, "valueString", hl7v2::read_tx(rep));
  } else if (type == "FT") {
    put(target, "valueString", hl7v2::read_ft(rep));
  } else if (type == "CWE" || type == "CF") {
    put(target, "valueCodeableConcept", codeable_concept(ctx, hl7v2::read_cwe(rep), where));
  } else if (type == "CE") {
    put(target, "valueCodeableConcept", codeable_concept(ctx, hl7v2::read_ce(rep), where));
  } else if (type == "CNE") {
    put(target, "valueCodeableConcept", codeable_concept(ctx, hl7v2::read_cne(rep), where));
  } else if (type == "IS") {
    hl7v2::coded c;
    c.identifier = hl7v2::read_st(rep);
    put(target, "valueCodeableConcept", codeable_concept(ctx, c, where));
  } else if (type == "SN") {
    auto v = hl7v2::read_sn(rep);
    if (!v) return value_error(ctx, type, v.error(), where);
    put_sn(ctx, target, *v, units);
  } else if (type == "DT" || type == "DTM" || type == "TS") {
    // TS: its first component is the DTM (st() reads the first primitive).
    if (auto d = to_datetime(ctx, st(rep), where)) target.set("valueDateTime", *d);
  } else if (type == "TM") {
    auto t = hl7v2::parse_tm(st(rep));
    if (!t) return value_error(ctx, type, t.error(), where);
    target.set("valueTime", fhir_time(*t));
  } else if (type == "NR" || type == "DR") {
    json_value v = json_value::object();
    for (std::size_t part = 1; part <= 2; ++part) {
      const std::string text = st(rep.part(part));
      if (text.empty()) continue;
      const char* key = type == "NR" ? (part == 1 ? "low" : "high") : (part == 1 ? "start" : "end");
      if (type == "NR") {
        auto n = hl7v2::parse_nm(text);
        if (!n) return value_error(ctx, type, n.error(), child(where, part));
        json_value q = json_value::object();
        q.set("value", json_value::number(n->fhir()));
        v.set(key, std::move(q));
      } else if (auto d = to_datetime(ctx, text, child(where, part))) {
        v.set(key, *d);
      }
    }
    put(target, type == "NR" ? "valueRange" : "valuePeriod", std::move(v));
  } else if (type == "VR") {
    // OBX[Observation]: valueString = OBX-5.1 + "-" + OBX-5.2.
    target.set("valueString", st(rep.part(1)) + "-" + st(rep.part(2)));
  } else if (type == "ED") {
    append(target, "extension", ed_attachment(ctx, rep, where));
  } else if (type == "RP") {
    append(target, "extension", rp_attachment(rep));
  } else if (type == "NA") {
    // NA[SampledData] needs SampledData.period and origin, which OBX does
    // not carry.
    ctx.warn(error_code::message_accepted, "value type NA (SampledData) not mapped: value left out", type_at);
  } else {
    ctx.warn(error_code::message_accepted, "value type not mapped by the IG: value left out", type_at);
  }
}

// Moves value[x] and extensions of `from` (built by put_value) into `to`.
void merge_value(json_value& to, json_value from) {
  for (auto& m : from.members()) {
    if (m.key == "extension") {
      for (auto& e : m.value.items()) append(to, "extension", std::move(e));
    } else {
      to.set(m.key, std::move(m.value));
    }
  }
}

// XON (HL7 v2.5.1 2.A.87) -> a Reference to an Organization entry
// (XON[Organization]): name XON.1, identifier XON.10 (else the deprecated
// XON.3) with XON.6 as its assigning authority; `address` (OBX-24) added.
json_value organization_reference(context& ctx, const element_view& xon, const position& where,
                                   json_value address_json) {
  const std::string name = xon.part(1).text();
  std::string id_value = xon.part(10).text();
  if (id_value.empty()) id_value = xon.part(3).text();
  if (name.empty() && id_value.empty()) return {};
  json_value org = new_resource("Organization");
  const hl7v2::hd authority = hl7v2::read_hd(xon.part(6));
  identity key;
  if (!id_value.empty()) {
    json_value id = ei_identifier(
        ctx, hl7v2::ei{id_value, authority.namespace_id, authority.universal_id, authority.universal_id_type}, &key);
    if (const std::string type = xon.part(7).text(); !type.empty()) {
      hl7v2::coded t;
      t.identifier = type;
      json_value typed = json_value::object();
      put(typed, "type", codeable_concept(ctx, t, child(where, 7), "IdentifierType", "0203"));
      for (auto& m : id.members()) typed.set(m.key, std::move(m.value));
      id = std::move(typed);
    }
    append(org, "identifier", std::move(id));
  }
  put(org, "name", name);
  append(org, "address", std::move(address_json));
  if (!key.valid()) {
    // No identifier: the sender (MSH-3, MSH-4) and the name identify it.
    key = derived_identity("Organization", {ctx.msg.text("MSH-3.1"), ctx.msg.text("MSH-4.1"), name, id_value});
  }
  return reference(ctx.add_entry(std::move(org), key));
}

// OBX-18 (EI) -> a Reference to a Device entry identified by it
// (OBX[Observation]: device(Device.identifier), EI[Identifier-Extension]).
json_value device_reference(context& ctx, const hl7v2::ei& v) {
  if (v.entity_identifier.empty()) return {};
  json_value device = new_resource("Device");
  identity key;
  append(device, "identifier", ei_identifier(ctx, v, &key));
  if (!key.valid()) {
    key = derived_identity("Device", {ctx.msg.text("MSH-3.1"), ctx.msg.text("MSH-4.1"), v.namespace_id,
                                      v.universal_id, v.entity_identifier});
  }
  return reference(ctx.add_entry(std::move(device), key));
}

// NTE[Observation]: note.text NTE-3 (FT; repetitions one per line),
// note.authorReference NTE-5, note.time NTE-6. NTE-4 (comment type) has no
// target in R4 Annotation.
json_value note(context& ctx, const segment_view& nte) {
  std::string text;
  each_repetition(nte, 3, [&](const element_view& rep, const position&) {
    if (!text.empty()) text.push_back('\n');
    text += hl7v2::read_ft(rep);
  });
  if (text.empty()) return {};
  json_value n = json_value::object();
  put(n, "authorReference", practitioner_reference(ctx, hl7v2::read_xcn(nte.field(5)), at(nte, 5)));
  if (auto t = to_datetime(ctx, nte.field(6), at(nte, 6))) n.set("time", *t);
  n.set("text", text);
  return n;
}

}  // namespace

json_value quantity(context& ctx, const hl7v2::decimal& value, const hl7v2::coded& units,
                    std::string_view comparator) {
  json_value q = json_value::object();
  q.set("value", json_value::number(value.fhir()));
  if (!comparator.empty()) q.set("comparator", comparator);
  put_units(ctx, q, units);
  return q;
}

std::string map_observation(context& ctx, const obx_group& group, const observation_links& links) {
  const segment_view& obx = group.obx;
  const auto code = hl7v2::read_cwe(obx.field(3));
  if (code.identifier.empty() && code.text.empty() && code.alternate_identifier.empty()) {
    ctx.fail(error_code::required_field_missing, "observation identifier missing (Observation.code is required)",
             at(obx, 3));
    return {};
  }
  const std::string status_code = st(obx.field(11));
  if (status_code.empty()) {
    ctx.fail(error_code::required_field_missing, "result status missing (Observation.status is required)",
             at(obx, 11));
    return {};
  }
  const std::string type = st(obx.field(2));
  std::vector<std::pair<element_view, position>> values;
  each_repetition(obx, 5, [&](const element_view& rep, const position& where) { values.emplace_back(rep, where); });
  if (!values.empty() && type.empty()) {
    ctx.fail(error_code::required_field_missing, "value type missing while OBX-5 is valued", at(obx, 2));
    return {};
  }
  const auto units = hl7v2::read_cwe(obx.field(6));

  json_value obs = new_resource("Observation");
  // OBX-10 nature of abnormal test (no code map vendored: the v2 codes, table 0080).
  each_repetition(obx, 10, [&](const element_view& rep, const position& where) {
    append(obs, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/observation-nature-of-abnormal-test",
                     "valueCodeableConcept", codeable_concept(ctx, hl7v2::read_cwe(rep), where, {}, "0080")));
  });
  // OBX-21 observation instance identifier, type FILL.
  if (const auto ei = hl7v2::read_ei(obx.field(21)); !ei.entity_identifier.empty()) {
    json_value id = ei_identifier(ctx, ei);
    json_value typed = json_value::object();
    typed.set("type", fixed_codeable(v2_table_uri("0203"), "FILL"));
    for (auto& m : id.members()) typed.set(m.key, std::move(m.value));
    append(obs, "identifier", std::move(typed));
  }
  // OBX-11 (ObservationResultStatusCodesInterpretation). Codes the map gives
  // no FHIR status (B, I, N, O, R, S, U, V) and unknown ones: "unknown"
  // (status is required), after map_code's warning.
  std::string status = map_code(ctx, "ObservationResultStatusCodesInterpretation", status_code, at(obx, 11));
  if (status.empty()) status = "unknown";
  obs.set("status", status);
  if (status_code == "X") {
    // "IF OBX-11 IS "X"": the v2 code kept in the alternate-codes extension.
    json_value alt = json_value::object();
    append(alt, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/alternate-codes", "valueCodeableConcept",
                     fixed_codeable(v2_table_uri("0085"), "X")));
    obs.set("_status", std::move(alt));
  }
  // OBX-29 observation type -> category (table 0936).
  if (const std::string t = st(obx.field(29)); !t.empty()) append(obs, "category", fixed_codeable(v2_table_uri("0936"), t));
  json_value code_json = codeable_concept(ctx, code, at(obx, 3));
  obs.set("code", code_json);
  obs.set("subject", reference(ctx.patient_url));
  if (!links.focus_url.empty()) append(obs, "focus", reference(links.focus_url));
  if (!links.encounter_url.empty()) obs.set("encounter", reference(links.encounter_url));
  if (auto t = to_datetime(ctx, obx.field(14), at(obx, 14))) {
    obs.set("effectiveDateTime", *t);
  } else if (links.default_effective) {
    obs.set("effectiveDateTime", *links.default_effective);
  }
  put(obs, "issued", links.issued);
  // Performers: OBX-16 responsible observers, OBX-25 the performing
  // organisation's medical director, OBX-23 the performing organisation
  // (with OBX-24 its address). Departure: the IG wraps the people in
  // PractitionerRoles (codes responsibleObserver, MDIR); we refer to the
  // Practitioner (R4 allows it), so one person stays one entry.
  each_repetition(obx, 16, [&](const element_view& rep, const position& where) {
    append(obs, "performer", practitioner_reference(ctx, hl7v2::read_xcn(rep), where));
  });
  append(obs, "performer", practitioner_reference(ctx, hl7v2::read_xcn(obx.field(25)), at(obx, 25)));
  append(obs, "performer",
         organization_reference(ctx, obx.field(23).repetition(1), at(obx, 23, 1),
                                address(ctx, hl7v2::read_xad(obx.field(24).repetition(1)), at(obx, 24, 1))));
  if (!obx.field(15).empty() && !obx.field(15).is_null()) {
    ctx.warn(error_code::message_accepted, "producer's id not mapped (OBX-23 names the performer)", at(obx, 15));
  }

  // OBX-5: one value, or one component per repetition
  // ("IF OBX-5 LST.count GREATER THAN 1 AND OBX-2 IS NOT "NA"").
  const std::string range_text = hl7v2::read_st(obx.field(7));
  const bool components = values.size() > 1 && type != "NA";
  if (!components && !values.empty()) {
    json_value v = json_value::object();
    put_value(ctx, v, type, values.front().first, values.front().second, units, at(obx, 2));
    merge_value(obs, std::move(v));
  }
  const bool valued = [&] {
    for (const char* k : {"valueQuantity", "valueString", "valueCodeableConcept", "valueRange", "valueRatio",
                          "valueDateTime", "valueTime", "valuePeriod"}) {
      if (obs.find(k) != nullptr) return true;
    }
    return false;
  }();
  // OBX-11 N: dataAbsentReason not-asked (IG); X: cannot-be-obtained (the
  // map's comment). Only without a value (obs-6).
  if (!valued && !components && (status_code == "N" || status_code == "X")) {
    obs.set("dataAbsentReason", fixed_codeable("http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                               status_code == "N" ? "not-asked" : "cannot-be-obtained"));
  }
  // OBX-8 interpretation (InterpretationCodes, table 0078).
  each_repetition(obx, 8, [&](const element_view& rep, const position& where) {
    append(obs, "interpretation", codeable_concept(ctx, hl7v2::read_cwe(rep), where, "InterpretationCodes", "0078"));
  });
  for (const auto& nte : group.notes) append(obs, "note", note(ctx, nte));
  put(obs, "bodySite", codeable_concept(ctx, hl7v2::read_cwe(obx.field(20)), at(obx, 20)));
  put(obs, "method", codeable_concept(ctx, hl7v2::read_cwe(obx.field(17)), at(obx, 17)));
  if (!links.specimen_url.empty()) obs.set("specimen", reference(links.specimen_url));
  put(obs, "device", device_reference(ctx, hl7v2::read_ei(obx.field(18).repetition(1))));
  if (!components) {
    append(obs, "referenceRange", reference_range(ctx, range_text, units));
  } else {
    // OBX[Observation-Component]: component[each].code = OBX-3, the value,
    // component[each].referenceRange.text = OBX-7.
    for (const auto& [rep, where] : values) {
      json_value c = json_value::object();
      c.set("code", code_json);
      json_value v = json_value::object();
      put_value(ctx, v, type, rep, where, units, at(obx, 2));
      merge_value(c, std::move(v));
      append(c, "referenceRange", reference_range(ctx, range_text, units));
      append(obs, "component", std::move(c));
    }
  }
  if (ctx.failed()) return {};
  // Identity: the report's, the test code, the sub-id and the set id.
  const identity key = derived_identity(
      "Observation", {links.parent.system, links.parent.value, code.identifier, code.coding_system,
                      code.identifier.empty() ? code.text : std::string(), st(obx.field(4)), st(obx.field(1))});
  return ctx.add_entry(std::move(obs), key);
}

}  // namespace hearth::mapping::detail
