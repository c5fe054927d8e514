// ADT messages (IG message maps ADT_A01 ... ADT_A17; segment maps PID[Patient],
// PD1[Patient], NK1[RelatedPerson], NK1[Patient], PV1[Encounter],
// AL1[AllergyIntolerance], DG1[Condition], IN1[Coverage]). PV1[Encounter] is
// encounter.cpp's, shared with the other families; ADT writes the Encounter
// as the visit's own account (encounter_mode::visit).

#include <algorithm>

#include "families.hpp"
#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

namespace {

template <class Fn>
void each_segment(const hl7v2::message& msg, std::string_view id, Fn&& fn) {
  for (const segment_view seg : msg) {
    if (seg.id() == id) fn(seg);
  }
}

// NK1-3.1 values the IG sends to Patient.contact only (NK1[Patient]) rather
// than a RelatedPerson: organisations and agencies (table 0131 roles).
bool contact_only(const segment_view& nk1) {
  const std::string code = st(nk1.field(3));
  return code == "EMR" || code == "E" || code == "F" || code == "I" || code == "S";
}

// NK1[Patient]: one Patient.contact.
json_value nk1_contact(context& ctx, const segment_view& nk1) {
  json_value c = json_value::object();
  // E, F, I and S are table 0131 (contact role) codes, EMR is table 0063's.
  const auto role = hl7v2::read_cwe(nk1.field(3));
  append(c, "relationship",
         codeable_concept(ctx, role, at(nk1, 3), role.identifier == "EMR" ? "Relationship" : "",
                          role.identifier == "EMR" ? "0063" : "0131"));
  append(c, "relationship", codeable_concept(ctx, hl7v2::read_cwe(nk1.field(7)), at(nk1, 7), {}, "0131"));
  // contact.name and contact.address are 0..1: the first repetition.
  put(c, "name", human_name(ctx, hl7v2::read_xpn(nk1.field(2).repetition(1)), at(nk1, 2, 1)));
  each_repetition(nk1, 5, [&](const element_view& rep, const position& where) {
    append(c, "telecom", contact_point(ctx, hl7v2::read_xtn(rep), where));
  });
  each_repetition(nk1, 6, [&](const element_view& rep, const position& where) {
    append(c, "telecom", contact_point(ctx, hl7v2::read_xtn(rep), where, "work"));
  });
  put(c, "address", address(ctx, hl7v2::read_xad(nk1.field(4).repetition(1)), at(nk1, 4, 1)));
  put(c, "gender", map_code(ctx, "AdministrativeSex", st(nk1.field(15)), at(nk1, 15)));
  if (const std::string org = st(nk1.field(13)); !org.empty()) {
    json_value r = json_value::object();
    r.set("display", org);
    c.set("organization", std::move(r));
  }
  json_value period = json_value::object();
  if (auto s = to_datetime(ctx, nk1.field(8), at(nk1, 8))) put(period, "start", *s);
  if (auto e = to_datetime(ctx, nk1.field(9), at(nk1, 9))) put(period, "end", *e);
  put(c, "period", std::move(period));
  return c;
}

// NK1[RelatedPerson].
void map_related_person(context& ctx, const segment_view& nk1) {
  json_value rp = new_resource("RelatedPerson");
  identity key;
  // NK1-33 identifiers, then NK1-12 employee number: the first that resolves
  // identifies the person.
  each_repetition(nk1, 33, [&](const element_view& rep, const position& where) {
    const auto cx = hl7v2::read_cx(rep);
    identity id;
    append(rp, "identifier", cx_identifier(ctx, cx, where, &id));
    if (!key.valid() && id.valid()) key = id;
  });
  if (const auto cx = hl7v2::read_cx(nk1.field(12)); !cx.id_number.empty()) {
    identity id;
    append(rp, "identifier", cx_identifier(ctx, cx, at(nk1, 12), &id));
    if (!key.valid() && id.valid()) key = id;
  }
  const auto name = hl7v2::read_xpn(nk1.field(2).repetition(1));
  const auto rel = hl7v2::read_cwe(nk1.field(3));
  if (!key.valid()) {
    if (name.family_name.surname.empty() && name.given_name.empty() && rel.empty()) {
      ctx.warn(error_code::required_field_missing, "next of kin without identifier, name or relationship: not mapped",
               at(nk1, 2));
      return;
    }
    key = derived_identity("RelatedPerson",
                           {ctx.patient_identity.system, ctx.patient_identity.value, name.family_name.surname,
                            name.given_name, rel.identifier, rel.identifier.empty() ? rel.text : std::string()});
  }
  rp.set("patient", reference(ctx.patient_url));
  append(rp, "relationship",
         codeable_concept(ctx, rel, at(nk1, 3), "Relationship", "0063"));
  append(rp, "relationship", codeable_concept(ctx, hl7v2::read_cwe(nk1.field(7)), at(nk1, 7), {}, "0131"));
  for (const std::size_t f : {std::size_t{2}, std::size_t{30}}) {
    each_repetition(nk1, f, [&](const element_view& rep, const position& where) {
      append(rp, "name", human_name(ctx, hl7v2::read_xpn(rep), where));
    });
  }
  for (const std::size_t f : {std::size_t{5}, std::size_t{6}, std::size_t{31}, std::size_t{40}, std::size_t{41}}) {
    each_repetition(nk1, f, [&](const element_view& rep, const position& where) {
      append(rp, "telecom", contact_point(ctx, hl7v2::read_xtn(rep), where, f == 6 ? "work" : ""));
    });
  }
  put(rp, "gender", map_code(ctx, "AdministrativeSex", st(nk1.field(15)), at(nk1, 15)));
  if (auto d = to_date(ctx, nk1.field(16), at(nk1, 16))) put(rp, "birthDate", *d);
  for (const std::size_t f : {std::size_t{4}, std::size_t{32}}) {
    each_repetition(nk1, f, [&](const element_view& rep, const position& where) {
      append(rp, "address", address(ctx, hl7v2::read_xad(rep), where));
    });
  }
  json_value period = json_value::object();
  if (auto s = to_datetime(ctx, nk1.field(8), at(nk1, 8))) put(period, "start", *s);
  if (auto e = to_datetime(ctx, nk1.field(9), at(nk1, 9))) put(period, "end", *e);
  put(rp, "period", std::move(period));
  if (const auto lang = hl7v2::read_cwe(nk1.field(20)); !lang.empty()) {
    json_value comm = json_value::object();
    put(comm, "language", codeable_concept(ctx, lang, at(nk1, 20), {}, "0296"));
    append(rp, "communication", std::move(comm));
  }
  ctx.add_entry(std::move(rp), key);
}

// DG1[Condition]. Returns the entry's fullUrl (empty when not mapped).
std::string map_condition(context& ctx, const segment_view& dg1) {
  const auto code = hl7v2::read_cwe(dg1.field(3));
  const std::string description = st(dg1.field(4));
  if (code.empty() && description.empty()) {
    ctx.fail(error_code::required_field_missing, "diagnosis without code", at(dg1, 3));
    return {};
  }
  json_value cond = new_resource("Condition");
  identity key;
  append(cond, "identifier", ei_identifier(ctx, hl7v2::read_ei(dg1.field(20)), &key));
  if (!key.valid()) {
    key = derived_identity("Condition", {ctx.patient_identity.system, ctx.patient_identity.value, code.identifier,
                                         code.coding_system,
                                         code.identifier.empty() ? (code.text.empty() ? description : code.text)
                                                                 : std::string()});
  }
  // DG1-21 "D" (delete): entered-in-error; A and U map to nothing (IG).
  if (st(dg1.field(21)) == "D") {
    cond.set("verificationStatus",
             fixed_concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "entered-in-error"));
  }
  json_value cc = codeable_concept(ctx, code, at(dg1, 3));
  if (!description.empty() && cc.find("text") == nullptr) {  // DG1-4 -> code.text
    // DG1-4 without DG1-3: codeable_concept() gave nothing (null), the text is all.
    if (!cc.is_object()) cc = json_value::object();
    cc.set("text", description);
  }
  put(cond, "code", std::move(cc));
  cond.set("subject", reference(ctx.patient_url));
  if (auto d = to_datetime(ctx, dg1.field(5), at(dg1, 5))) cond.set("onsetDateTime", *d);
  // DG1-19 attestation: recordedDate (the IG offers it beside an extension).
  if (auto d = to_datetime(ctx, dg1.field(19), at(dg1, 19))) cond.set("recordedDate", *d);
  // DG1-16 repeats, Condition.asserter does not: the first clinician.
  put(cond, "asserter",
      practitioner_reference(ctx, hl7v2::read_xcn(dg1.field(16).repetition(1)), at(dg1, 16, 1)));
  return ctx.add_entry(std::move(cond), key);
}

// AL1[AllergyIntolerance].
void map_allergy(context& ctx, const segment_view& al1) {
  const auto allergen = hl7v2::read_cwe(al1.field(3));
  if (allergen.empty()) {
    ctx.fail(error_code::required_field_missing, "allergen code missing", at(al1, 3));
    return;
  }
  json_value code = codeable_concept(ctx, allergen, at(al1, 3));
  if (is_empty(code)) {
    ctx.fail(error_code::required_field_missing, "allergen code missing", at(al1, 3));
    return;
  }
  json_value ai = new_resource("AllergyIntolerance");
  const identity key = derived_identity(
      "AllergyIntolerance", {ctx.patient_identity.system, ctx.patient_identity.value, allergen.identifier,
                             allergen.coding_system, allergen.identifier.empty() ? allergen.text : std::string()});
  // The IG sets clinicalStatus "active": AL1 lists current allergies (ait-1).
  ai.set("clinicalStatus",
         fixed_concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"));
  const std::string type_code = st(al1.field(2));
  if (!type_code.empty()) {
    if (const auto* t = lookup_code("AllergyType", type_code); t != nullptr && !t->code.empty()) {
      ai.set("type", t->code);
    }
    append(ai, "category", map_code(ctx, "AllergenType[AllergyIntoleranceCategory]", type_code, at(al1, 2)));
  }
  // AL1-4: taken as criticality (the IG's first choice, "if severity was used
  // equivalent to criticality"); MO and U have no criticality.
  put(ai, "criticality",
      map_code(ctx, "AllergySeverity[AllergyIntolerance.criticality]", st(al1.field(4)), at(al1, 4)));
  ai.set("code", std::move(code));
  ai.set("patient", reference(ctx.patient_url));
  if (auto d = to_datetime(ctx, al1.field(6), at(al1, 6))) ai.set("onsetDateTime", *d);
  json_value reaction = json_value::object();
  each_repetition(al1, 5, [&](const element_view& rep, const position&) {
    const std::string text = st(rep);
    if (text.empty()) return;
    json_value m = json_value::object();
    m.set("text", text);
    append(reaction, "manifestation", std::move(m));
  });
  append(ai, "reaction", std::move(reaction));
  ctx.add_entry(std::move(ai), key);
}

// IN1[Coverage].
void map_coverage(context& ctx, const segment_view& in1) {
  json_value cov = new_resource("Coverage");
  const auto plan = hl7v2::read_cwe(in1.field(2));
  const auto company = hl7v2::read_cx(in1.field(3).repetition(1));
  const std::string company_name = st(in1.field(4));
  const std::string policy = st(in1.field(36));
  if (company.id_number.empty() && company_name.empty()) {
    ctx.fail(error_code::required_field_missing, "insurance company missing (Coverage.payor is required)",
             at(in1, 3));
    return;
  }
  // IN1-2 health plan id (CWE[Identifier]), IN1-36 policy number.
  if (!plan.identifier.empty()) {
    json_value id = json_value::object();
    put(id, "system", coding_system_uri(plan.coding_system, ctx.cfg));
    id.set("value", plan.identifier);
    append(cov, "identifier", std::move(id));
  }
  if (!policy.empty()) {
    json_value id = json_value::object();
    id.set("value", policy);
    append(cov, "identifier", std::move(id));
  }
  // A plan id names a plan, not one patient's cover: the identity is derived
  // from the patient, the plan, the company and the policy number.
  const identity key = derived_identity("Coverage", {ctx.patient_identity.system, ctx.patient_identity.value,
                                                     plan.identifier, company.id_number, policy});
  cov.set("status", "active");
  put(cov, "type", codeable_concept(ctx, hl7v2::read_cwe(in1.field(15)), at(in1, 15), {}, "0086"));
  const auto relationship = hl7v2::read_cwe(in1.field(17));
  if (relationship.identifier == "SEL") cov.set("subscriber", reference(ctx.patient_url));
  cov.set("beneficiary", reference(ctx.patient_url));
  put(cov, "relationship", codeable_concept(ctx, relationship, at(in1, 17), "Relationship", "0063"));
  json_value period = json_value::object();
  if (auto s = to_date(ctx, in1.field(12), at(in1, 12))) put(period, "start", *s);
  if (auto e = to_date(ctx, in1.field(13), at(in1, 13))) put(period, "end", *e);
  put(cov, "period", std::move(period));
  // Payor: the company by its identifier (IN1-3) and name (IN1-4), as a
  // logical reference (R4 references.html#logical).
  json_value payor = json_value::object();
  put(payor, "identifier", cx_identifier(ctx, company, at(in1, 3, 1)));
  put(payor, "display", company_name);
  append(cov, "payor", std::move(payor));
  ctx.add_entry(std::move(cov), key);
}

// Segments an ADT message may carry that are read here (or are envelope).
bool mapped_segment(std::string_view id) {
  static constexpr std::string_view ids[] = {"MSH", "EVN", "PID", "PD1", "NK1", "PV1", "AL1", "DG1", "IN1"};
  return std::find(std::begin(ids), std::end(ids), id) != std::end(ids) || (!id.empty() && id[0] == 'Z');
}

}  // namespace

void map_adt(context& ctx) {
  // Patient.contact from NK1 of organisations and agencies; RelatedPerson
  // for the others (after the Patient they refer to).
  std::vector<json_value> contacts;
  std::vector<segment_view> related;
  each_segment(ctx.msg, "NK1", [&](const segment_view& nk1) {
    if (contact_only(nk1)) {
      contacts.push_back(nk1_contact(ctx, nk1));
    } else {
      related.push_back(nk1);
    }
  });
  map_patient(ctx, contacts);
  if (ctx.failed()) return;
  // Conditions before the Encounter that lists them as diagnoses.
  std::vector<std::string> conditions;
  each_segment(ctx.msg, "DG1", [&](const segment_view& dg1) {
    std::string url = map_condition(ctx, dg1);
    // The same diagnosis sent twice is one Condition, listed once.
    if (!url.empty() && std::find(conditions.begin(), conditions.end(), url) == conditions.end()) {
      conditions.push_back(std::move(url));
    }
  });
  if (const auto pv1 = ctx.msg.find("PV1"); pv1 && encounter_worthy(*pv1)) {
    map_encounter(ctx, *pv1, encounter_mode::visit, conditions);
  }
  for (const auto& nk1 : related) map_related_person(ctx, nk1);
  each_segment(ctx.msg, "AL1", [&](const segment_view& al1) { map_allergy(ctx, al1); });
  each_segment(ctx.msg, "IN1", [&](const segment_view& in1) { map_coverage(ctx, in1); });
  for (const segment_view seg : ctx.msg) {
    if (!mapped_segment(seg.id())) {
      ctx.warn(error_code::message_accepted, "segment not mapped", at(seg, 0));
    }
  }
}

}  // namespace hearth::mapping::detail
