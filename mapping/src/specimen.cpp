// SPM -> Specimen (IG segment map SPM[Specimen]) and the legacy specimen
// fields of OBR -> Specimen (OBR[Specimen], SPS[Specimen-Source]).

#include "observation.hpp"

namespace hearth::mapping::detail {

namespace {

// CQ (HL7 v2.5.1 2.A.11) -> SimpleQuantity (CQ[Quantity]): CQ.1 the value,
// CQ.2 the units as CWE[Quantity]. A CQ.1 that is no NM: error 102.
json_value cq_quantity(context& ctx, const element_view& cq, const position& where) {
  const std::string number = st(cq.part(1));
  if (number.empty()) return {};
  auto n = hl7v2::parse_nm(number);
  if (!n) {
    ctx.fail(error_code::data_type_error, "quantity is not a valid NM", child(where, 1));
    return {};
  }
  return quantity(ctx, *n, hl7v2::read_ce(cq.part(2)));
}

// DTM text -> collection.collectedDateTime, or with an end
// collection.collectedPeriod (SPM-17 DR[Period] / DR[dateTime]; OBR-7, OBR-8).
void put_collected(context& ctx, json_value& collection, const std::string& start, const position& start_at,
                   const std::string& end, const position& end_at) {
  auto s = to_datetime(ctx, start, start_at);
  auto e = to_datetime(ctx, end, end_at);
  if (e) {
    json_value period = json_value::object();
    if (s) period.set("start", *s);
    period.set("end", *e);
    collection.set("collectedPeriod", std::move(period));
  } else if (s) {
    collection.set("collectedDateTime", *s);
  }
}

}  // namespace

std::string map_specimen(context& ctx, const segment_view& spm, const identity& parent) {
  json_value sp = new_resource("Specimen");
  // SPM-2 (EIP): placer assigned (EIP.1) and filler assigned (EIP.2)
  // identifiers; the filler's (the lab's own) identifies the specimen first.
  const element_view eip = spm.field(2).repetition(1);
  identity placer;
  identity filler;
  append(sp, "identifier", typed_identifier(ei_identifier(ctx, hl7v2::read_ei(eip.part(1)), &placer), "PGN"));
  append(sp, "identifier", typed_identifier(ei_identifier(ctx, hl7v2::read_ei(eip.part(2)), &filler), "FGN"));
  // SPM-31 other specimen ids were added in v2.7; v2.5.1 stops at SPM-29.
  const auto type = hl7v2::read_cwe(spm.field(4));
  identity key = filler.valid() ? filler : placer;
  if (!key.valid()) {
    key = derived_identity("Specimen",
                           {parent.system, parent.value, st(spm.field(1)), type.identifier, type.coding_system});
  }
  // SPM-20 availability (YesNoIndicator[AvailabilityStatus]).
  put(sp, "status", map_code(ctx, "YesNoIndicator[AvailabilityStatus]", st(spm.field(20)), at(spm, 20)));
  // SPM-4 type (table 0487; the SpecimenType map maps each code to itself).
  // With the R4 terminology, the SNOMED CT code R4's ConceptMap/102
  // ("Specimen mapping from v2 table 0487 to SNOMED CT") gives is added.
  json_value specimen_type = codeable_concept(ctx, type, at(spm, 4), {}, "0487");
  add_mapped_codings(ctx, specimen_type, "http://hl7.org/fhir/ConceptMap/102");
  put(sp, "type", std::move(specimen_type));
  sp.set("subject", reference(ctx.patient_url));
  if (auto t = to_datetime(ctx, spm.field(18), at(spm, 18))) sp.set("receivedTime", *t);
  // SPM-3 parent specimens would need Specimens of their own: not mapped.
  if (valued(spm.field(3))) ctx.warn(error_code::message_accepted, "parent specimen ids not mapped", at(spm, 3));
  json_value collection = json_value::object();
  const element_view dr = spm.field(17).repetition(1);
  put_collected(ctx, collection, st(dr.part(1)), at(spm, 17, 1, 1), st(dr.part(2)), at(spm, 17, 1, 2));
  put(collection, "quantity", cq_quantity(ctx, spm.field(12).repetition(1), at(spm, 12, 1)));
  put(collection, "method", codeable_concept(ctx, hl7v2::read_cwe(spm.field(7)), at(spm, 7), {}, "0488"));
  put(collection, "bodySite", codeable_concept(ctx, hl7v2::read_cwe(spm.field(8)), at(spm, 8), {}, "0163"));
  put(sp, "collection", std::move(collection));
  // SPM-6 additives and SPM-27 container type: one container.
  json_value container = json_value::object();
  put(container, "type", codeable_concept(ctx, hl7v2::read_cwe(spm.field(27)), at(spm, 27)));
  put(container, "additiveCodeableConcept",
      codeable_concept(ctx, hl7v2::read_cwe(spm.field(6).repetition(1)), at(spm, 6, 1), {}, "0371"));
  append(sp, "container", std::move(container));
  each_repetition(spm, 24, [&](const element_view& rep, const position& where) {
    append(sp, "condition", codeable_concept(ctx, hl7v2::read_cwe(rep), where, {}, "0493"));
  });
  // SPM-14 description -> note(Annotation.text).
  each_repetition(spm, 14, [&](const element_view& rep, const position&) {
    json_value n = json_value::object();
    put(n, "text", hl7v2::read_st(rep));
    append(sp, "note", std::move(n));
  });
  if (ctx.failed()) return {};
  return ctx.add_entry(std::move(sp), key);
}

std::string map_obr_specimen(context& ctx, const segment_view& obr, const identity& parent) {
  if (!valued(obr.field(9)) && !valued(obr.field(10)) && !valued(obr.field(14)) && !valued(obr.field(15))) return {};
  json_value sp = new_resource("Specimen");
  // OBR-15 (SPS[Specimen-Source]): SPS.1 type, SPS.2 additive, SPS.3 text,
  // SPS.4 body site, SPS.6 condition.
  const element_view sps = obr.field(15).repetition(1);
  put(sp, "type", codeable_concept(ctx, hl7v2::read_cwe(sps.part(1)), at(obr, 15, 1, 1), {}, "0070"));
  sp.set("subject", reference(ctx.patient_url));
  if (auto t = to_datetime(ctx, obr.field(14), at(obr, 14))) sp.set("receivedTime", *t);
  json_value collection = json_value::object();
  put(collection, "collector",
      practitioner_reference(ctx, hl7v2::read_xcn(obr.field(10).repetition(1)), at(obr, 10, 1)));
  put_collected(ctx, collection, st(obr.field(7)), at(obr, 7), st(obr.field(8)), at(obr, 8));
  put(collection, "quantity", cq_quantity(ctx, obr.field(9).repetition(1), at(obr, 9, 1)));
  put(collection, "bodySite", codeable_concept(ctx, hl7v2::read_cwe(sps.part(4)), at(obr, 15, 1, 4), {}, "0163"));
  put(sp, "collection", std::move(collection));
  json_value container = json_value::object();
  put(container, "additiveCodeableConcept",
      codeable_concept(ctx, hl7v2::read_cwe(sps.part(2)), at(obr, 15, 1, 2), {}, "0371"));
  append(sp, "container", std::move(container));
  append(sp, "condition", codeable_concept(ctx, hl7v2::read_cwe(sps.part(6)), at(obr, 15, 1, 6)));
  if (const std::string text = st(sps.part(3)); !text.empty()) {
    json_value n = json_value::object();
    n.set("text", text);
    append(sp, "note", std::move(n));
  }
  if (ctx.failed()) return {};
  // One legacy specimen per order: the report's identity names it.
  return ctx.add_entry(std::move(sp), derived_identity("Specimen", {parent.system, parent.value, "OBR"}));
}

}  // namespace hearth::mapping::detail
