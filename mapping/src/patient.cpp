// PID[Patient] and PD1[Patient] (IG segment maps), Z-segment extensions:
// the Patient every message family starts with.

#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

namespace {


// Z-segment fields the sender configured become extensions (valueString: the
// first repetition's text, components as sent); valued fields nobody
// configured are reported.
void z_extensions(context& ctx, json_value& resource) {
  for (const segment_view seg : ctx.msg) {
    if (seg.id().empty() || seg.id()[0] != 'Z') continue;
    for (std::size_t f = 1; f <= seg.field_count(); ++f) {
      const element_view field = seg.field(f);
      if (field.empty() || field.is_null()) continue;
      const std::string key = std::string(seg.id()) + "-" + std::to_string(f);
      const auto it = ctx.cfg.z_extensions.find(key);
      if (it == ctx.cfg.z_extensions.end()) {
        ctx.warn(error_code::message_accepted, "Z-segment field not configured (zExtensions): not mapped",
                 at(seg, f));
        continue;
      }
      std::string text = field.repetition(1).text();
      if (text.empty()) continue;
      append(resource, "extension", extension(it->second, "valueString", text));
    }
  }
}

}  // namespace

void map_patient(context& ctx, const std::vector<json_value>& contacts) {
  const auto pid_seg = ctx.msg.find("PID");
  if (!pid_seg) {
    position p;
    p.segment_id = "PID";
    ctx.fail(error_code::required_field_missing, "PID segment missing", p);
    return;
  }
  const segment_view pid = *pid_seg;
  json_value patient = new_resource("Patient");

  // Extensions first (JSON order is free; this reads as FHIR lists them).
  // PID-6 mother's maiden name: the family name of the first repetition.
  if (const auto xpn = hl7v2::read_xpn(pid.field(6).repetition(1)); !xpn.family_name.surname.empty()) {
    append(patient, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName", "valueString",
                     xpn.family_name.surname));
  }
  // PID-17 religion.
  if (const auto c = hl7v2::read_cwe(pid.field(17)); !c.empty()) {
    append(patient, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/patient-religion", "valueCodeableConcept",
                     codeable_concept(ctx, c, at(pid, 17), {}, "0006")));
  }
  // PID-23 birth place.
  if (const std::string place = st(pid.field(23)); !place.empty()) {
    json_value addr = json_value::object();
    addr.set("text", place);
    append(patient, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress", std::move(addr)));
  }
  // PID-26 citizenship, PID-28 nationality: complex extensions with a "code".
  each_repetition(pid, 26, [&](const element_view& rep, const position& where) {
    json_value ext = json_value::object();
    ext.set("url", "http://hl7.org/fhir/StructureDefinition/patient-citizenship");
    append(ext, "extension",
           extension("code", "valueCodeableConcept", codeable_concept(ctx, hl7v2::read_cwe(rep), where, {}, "0171")));
    append(patient, "extension", std::move(ext));
  });
  if (const auto c = hl7v2::read_cwe(pid.field(28)); !c.empty()) {
    json_value ext = json_value::object();
    ext.set("url", "http://hl7.org/fhir/StructureDefinition/patient-nationality");
    append(ext, "extension", extension("code", "valueCodeableConcept", codeable_concept(ctx, c, at(pid, 28), {}, "0212")));
    append(patient, "extension", std::move(ext));
  }
  // PID-10 race and PID-22 ethnic group: the IG leaves them to local
  // (realm) extensions such as US Core's; none is configured here.
  for (const std::size_t f : {std::size_t{10}, std::size_t{22}}) {
    if (!pid.field(f).empty() && !pid.field(f).is_null()) {
      ctx.warn(error_code::message_accepted, "mapped by local extensions only (IG): not mapped", at(pid, f));
    }
  }
  z_extensions(ctx, patient);

  // Identifiers: PID-2, PID-3 (all), PID-4, PID-19; identity from PID-3.
  identity key;
  identity fallback;
  each_repetition(pid, 2, [&](const element_view& rep, const position& where) {
    append(patient, "identifier", cx_identifier(ctx, hl7v2::read_cx(rep), where));
  });
  each_repetition(pid, 3, [&](const element_view& rep, const position& where) {
    const auto cx = hl7v2::read_cx(rep);
    identity id;
    append(patient, "identifier", cx_identifier(ctx, cx, where, &id));
    if (!key.valid() && id.valid() && !resolve_system(cx.assigning_authority, ctx.cfg).empty()) key = id;
    if (!fallback.valid() && id.valid()) fallback = id;  // system: the sender's default
  });
  if (!key.valid()) key = fallback;
  if (!key.valid()) {
    ctx.fail(error_code::required_field_missing,
             "no PID-3 identifier with an assigning authority that resolves to a system, and no default "
             "identifier system for the sender",
             at(pid, 3));
    return;
  }
  each_repetition(pid, 4, [&](const element_view& rep, const position& where) {
    append(patient, "identifier", cx_identifier(ctx, hl7v2::read_cx(rep), where));
  });
  if (const std::string ssn = st(pid.field(19)); !ssn.empty()) {
    // PID-19: system us-ssn, type SS (the IG's US rule; SB elsewhere).
    json_value id = json_value::object();
    json_value type = json_value::object();
    json_value c = json_value::object();
    c.set("system", v2_table_uri("0203"));
    c.set("code", "SS");
    append(type, "coding", std::move(c));
    id.set("type", std::move(type));
    id.set("system", "http://hl7.org/fhir/sid/us-ssn");
    id.set("value", ssn);
    append(patient, "identifier", std::move(id));
  }

  // PID-5 names, PID-9 aliases.
  for (const std::size_t f : {std::size_t{5}, std::size_t{9}}) {
    each_repetition(pid, f, [&](const element_view& rep, const position& where) {
      append(patient, "name", human_name(ctx, hl7v2::read_xpn(rep), where));
    });
  }
  // PID-13 home (use "home" when XTN.2 is empty), PID-14 business ("work"), PID-40.
  each_repetition(pid, 13, [&](const element_view& rep, const position& where) {
    append(patient, "telecom", contact_point(ctx, hl7v2::read_xtn(rep), where, "home"));
  });
  each_repetition(pid, 14, [&](const element_view& rep, const position& where) {
    append(patient, "telecom", contact_point(ctx, hl7v2::read_xtn(rep), where, "work"));
  });
  each_repetition(pid, 40, [&](const element_view& rep, const position& where) {
    append(patient, "telecom", contact_point(ctx, hl7v2::read_xtn(rep), where));
  });
  // PID-8 gender (CWE[code], AdministrativeSex).
  put(patient, "gender", map_code(ctx, "AdministrativeSex", st(pid.field(8)), at(pid, 8)));
  // PID-7: birthDate, and with a time the patient-birthTime extension
  // ("IF PID-7 LENGTH GREATER THAN 8").
  if (const std::string dob = st(pid.field(7)); !dob.empty()) {
    if (auto d = to_date(ctx, dob, at(pid, 7))) put(patient, "birthDate", *d);
    if (dob.size() > 8) {
      if (auto t = to_datetime(ctx, dob, at(pid, 7)); t && t->find('T') != std::string::npos) {
        json_value birth = json_value::object();
        append(birth, "extension",
               extension("http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime", *t));
        patient.set("_birthDate", std::move(birth));
      }
    }
  }
  // PID-29 deceasedDateTime; PID-30 deceasedBoolean when PID-29 is not valued.
  if (auto d = to_datetime(ctx, pid.field(29), at(pid, 29))) {
    patient.set("deceasedDateTime", *d);
  } else if (const std::string yn = map_code(ctx, "YesNoIndicator", st(pid.field(30)), at(pid, 30)); !yn.empty()) {
    patient.set("deceasedBoolean", yn == "true");
  }
  // PID-11 addresses; PID-12 county as district (the IG's conditions).
  std::size_t address_count = 0;
  each_repetition(pid, 11, [&](const element_view& rep, const position& where) {
    json_value a = address(ctx, hl7v2::read_xad(rep), where);
    if (!is_empty(a)) ++address_count;
    append(patient, "address", std::move(a));
  });
  if (const std::string county = st(pid.field(12)); !county.empty()) {
    json_value* addresses = patient.find("address");
    json_value* first = address_count == 1 ? &addresses->items()[0] : nullptr;
    if (first != nullptr && first->find("district") == nullptr) {
      first->set("district", county);
    } else if (first == nullptr || first->find("district")->str() != county) {
      json_value a = json_value::object();
      a.set("district", county);
      append(patient, "address", std::move(a));
    }
  }
  // PID-16 marital status.
  put(patient, "maritalStatus", codeable_concept(ctx, hl7v2::read_cwe(pid.field(16)), at(pid, 16), "MaritalStatus", "0002"));
  // PID-24 multiple birth indicator (when PID-25 is not valued), PID-25 birth order.
  if (const std::string order = st(pid.field(25)); !order.empty()) {
    bool digits = order.size() <= 9;
    for (const char c : order) digits = digits && c >= '0' && c <= '9';
    if (!digits) {
      ctx.fail(error_code::data_type_error, "birth order is not a whole number", at(pid, 25));
    } else {
      patient.set("multipleBirthInteger", json_value::number(std::to_string(std::stol(order))));
    }
  } else if (const std::string yn = map_code(ctx, "YesNoIndicator", st(pid.field(24)), at(pid, 24)); !yn.empty()) {
    patient.set("multipleBirthBoolean", yn == "true");
  }
  for (const auto& c : contacts) append(patient, "contact", c);
  // PID-15 primary language.
  if (const auto lang = hl7v2::read_cwe(pid.field(15)); !lang.empty()) {
    json_value comm = json_value::object();
    put(comm, "language", codeable_concept(ctx, lang, at(pid, 15), {}, "0296"));
    append(patient, "communication", std::move(comm));
  }
  // PD1-4 primary care provider -> generalPractitioner (PD1[Patient]).
  if (const auto pd1 = ctx.msg.find("PD1")) {
    each_repetition(*pd1, 4, [&](const element_view& rep, const position& where) {
      append(patient, "generalPractitioner", practitioner_reference(ctx, hl7v2::read_xcn(rep), where));
    });
    for (const std::size_t f : {std::size_t{3}, std::size_t{6}, std::size_t{14}}) {
      if (!pd1->field(f).empty() && !pd1->field(f).is_null()) {
        ctx.warn(error_code::message_accepted, "field not mapped yet", at(*pd1, f));
      }
    }
  }
  ctx.patient_identity = key;
  ctx.patient_url = ctx.add_entry(std::move(patient), key);
}

}  // namespace hearth::mapping::detail
