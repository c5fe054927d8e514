// MDM messages: T01 (original document notification) and T02 (original
// document notification and content) -> one DocumentReference (IG message
// map MDM_T02; segment maps TXA[DocumentReference], OBX[DocumentReference];
// data type maps ED[DocumentReference], ED[Attachment], RP[Attachment]; code
// system map DocumentConfidentialityStatus; PV1[Encounter]). T01 is T02 without the
// OBSERVATION group (HL7 v2.5.1 9.6.1, 9.6.2) and is read the same way.
//
// Identity: TXA-12, the unique document number (masterIdentifier, and as an
// identifier: the R4 DocumentReference `identifier` search parameter covers
// both). A T02 after a T01 for the same document updates the T01's resource.
//
// What the IG leaves open, and what is chosen here (each also noted where it
// is done):
// - Text content (OBX-2 TX, FT, ST): every OBX-5 repetition of every text
//   OBX, in message order, joined by line feeds into one attachment, plain
//   UTF-8 text: contentType "text/plain; charset=utf-8". Departure: the IG
//   names "application/text" for TX (no registered media type) and
//   "text/hl7v2" for FT (the text with its formatting escapes); FT is read
//   with its escapes applied (\.br\ a line break...), so it is plain text too.
// - T01 (or any message without content): DocumentReference.content (1..*)
//   still needs an attachment: one with only the data-absent-reason
//   extension ("not-asked": the content was not part of this notification)
//   and TXA-25 as its title.
// - docStatus (TXA-17, table 0271): the IG copies the code (ID[code]), which
//   the required binding (ReferredDocumentStatus) refuses; mapped in
//   doc_status() below, the v2 code kept in an alternate-codes extension.
// - status (TXA-19, table 0275): the IG gives "current" for AV and when
//   TXA-19 is not valued, and only an alternate-codes extension for CA, OB
//   and UN; status is required, so CA (deleted) -> entered-in-error, OB
//   (obsolete) -> superseded, UN (unavailable) -> current, each with the
//   extension.
// - TXA-3 (content presentation, table 0191: "TX", "AP"...) is no media
//   type; the IG copies it to contentType (ID[code]), here the content type
//   comes from the content itself (above, ED.2/ED.3, RP.3/RP.4).
// - A T01 after the T02 of the same document replaces its content with the
//   absent-data attachment (a conditional update replaces the whole
//   resource): senders send T01 before T02, as the events mean.
// - PV1 (MDM_T02 6): the Encounter is a conditional create on PV1-19
//   (encounter_mode::context, mapping_detail.hpp): a document names the
//   visit, it does not rewrite the Encounter ADT keeps; one is created when
//   none is stored. Without PV1-19: no Encounter (a warning). The message map
//   creates Encounter[1] but names no element linking the document to it;
//   DocumentReference.context.encounter ("context of the document content",
//   R4) is that link.
// - ORC/OBR (ServiceRequest), PV2 and NTE are not mapped yet: reported as
//   warnings.

#include <algorithm>
#include <cctype>

#include <hearth/core/base64.hpp>

#include "families.hpp"
#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

namespace {

constexpr std::string_view alternate_codes_url = "http://hl7.org/fhir/StructureDefinition/alternate-codes";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// {"extension":[alternate-codes: {system v2-<table>, code}]}: the v2 code
// beside a FHIR code it was mapped to (the `_element` of a primitive).
json_value alternate_code(std::string_view table, std::string_view code) {
  json_value c = json_value::object();
  c.set("system", v2_table_uri(table));
  put(c, "code", fhir_code(code));
  json_value cc = json_value::object();
  append(cc, "coding", std::move(c));
  json_value holder = json_value::object();
  append(holder, "extension", extension(alternate_codes_url, "valueCodeableConcept", std::move(cc)));
  return holder;
}

// TXA-17 document completion status (table 0271) -> docStatus
// (ReferredDocumentStatus): authenticated and legally authenticated
// documents are final; dictated, documented, incomplete, in progress and
// pre-authenticated ones preliminary. Empty when the code is not in the table.
std::string_view doc_status(std::string_view code) {
  if (code == "AU" || code == "LA") return "final";
  if (code == "DI" || code == "DO" || code == "IN" || code == "IP" || code == "PA") return "preliminary";
  return {};
}

// ED.3 data subtype (table 0291) or a media type itself -> a media type
// (BCP 13) for Attachment.contentType. ED[Attachment] copies ED.3; table
// 0291 names ("PDF") are no media types, so the common ones are translated
// and ED.2 "/" ED.3 is used when ED.2 is a top-level type (RP[Attachment]
// does the same with RP.3 "/" RP.4). Empty when none can be told.
std::string media_type(const std::string& type, const std::string& subtype) {
  const std::string sub = lower(subtype);
  if (sub.find('/') != std::string::npos) return sub;
  static constexpr std::pair<std::string_view, std::string_view> known[] = {
      {"pdf", "application/pdf"},   {"rtf", "application/rtf"},     {"xml", "application/xml"},
      {"html", "text/html"},        {"jpeg", "image/jpeg"},         {"jpg", "image/jpeg"},
      {"gif", "image/gif"},         {"png", "image/png"},           {"tiff", "image/tiff"},
      {"basic", "audio/basic"},     {"msword", "application/msword"}, {"octet-stream", "application/octet-stream"},
      {"x-hl7-cda-level-one", "application/x-hl7-cda-level-one+xml"}};
  for (const auto& [name, media] : known) {
    if (sub == name) return std::string(media);
  }
  const std::string top = lower(type);
  static constexpr std::string_view tops[] = {"application", "audio", "image", "text", "video", "multipart"};
  if (!sub.empty() && std::find(std::begin(tops), std::end(tops), top) != std::end(tops)) return top + "/" + sub;
  return {};
}

// Hex text (ED.4 "Hex") -> bytes; nullopt when malformed.
std::optional<std::string> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = nibble(text[i]);
    const int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// ED[Attachment] (ED[DocumentReference]): one OBX-5 repetition of type ED
// as an attachment. The data is decoded per ED.4 (table 0299: A none, Hex,
// Base64) and re-encoded as base64Binary; malformed data is 102 at ED.5, an
// unknown encoding 103 at ED.4.
json_value ed_attachment(context& ctx, const element_view& ed, const position& where) {
  const std::string type = hl7v2::read_st(ed.part(2));
  const std::string subtype = hl7v2::read_st(ed.part(3));
  const std::string encoding = hl7v2::read_st(ed.part(4));
  std::string data = ed.part(5).text();
  std::optional<std::string> bytes;
  if (encoding == "Base64") {
    // Senders wrap long base64 lines; whitespace is no part of the data.
    data.erase(std::remove_if(data.begin(), data.end(),
                              [](char c) { return c == ' ' || c == '\r' || c == '\n' || c == '\t'; }),
               data.end());
    bytes = base64::decode(data);
  } else if (encoding == "Hex") {
    bytes = hex_decode(data);
  } else if (encoding == "A" || encoding.empty()) {
    bytes = data;
  } else {
    ctx.fail(error_code::table_value_not_found, "ED encoding not in table 0299 (A, Hex, Base64)", child(where, 4));
    return {};
  }
  if (!bytes) {
    ctx.fail(error_code::data_type_error, "ED data does not decode as its encoding says", child(where, 5));
    return {};
  }
  json_value a = json_value::object();
  std::string content_type = fhir_code(media_type(type, subtype));
  if (subtype.empty() && !type.empty()) {
    // ED[Attachment]: "IF ED.3 NOT VALUED", ED.2 as an alternate code
    // (table 0191).
    json_value c = json_value::object();
    c.set("system", v2_table_uri("0191"));
    put(c, "code", fhir_code(type));
    json_value cc = json_value::object();
    append(cc, "coding", std::move(c));
    append(a, "extension", extension(alternate_codes_url, "valueCodeableConcept", std::move(cc)));
  }
  // att-1: data needs a contentType; what cannot be told is octet-stream.
  if (content_type.empty() && !bytes->empty()) content_type = "application/octet-stream";
  put(a, "contentType", content_type);
  put(a, "data", base64::encode(*bytes));
  return a;
}

// RP[Attachment]: a reference pointer (OBX-2 RP) as an attachment url.
json_value rp_attachment(const element_view& rp) {
  json_value a = json_value::object();
  put(a, "contentType", fhir_code(media_type(hl7v2::read_st(rp.part(3)), hl7v2::read_st(rp.part(4)))));
  put(a, "url", fhir_uri(hl7v2::read_st(rp.part(1))));
  if (a.find("url") == nullptr) return {};
  return a;
}

json_value content_of(json_value attachment) {
  json_value c = json_value::object();
  c.set("attachment", std::move(attachment));
  return c;
}

// Segments of an MDM message read here (or envelope).
bool mapped_segment(std::string_view id) {
  static constexpr std::string_view ids[] = {"MSH", "EVN", "PID", "PD1", "TXA", "OBX"};
  return std::find(std::begin(ids), std::end(ids), id) != std::end(ids) || (!id.empty() && id[0] == 'Z');
}

}  // namespace

void map_mdm(context& ctx) {
  const auto txa_seg = ctx.msg.find("TXA");
  if (!txa_seg) {
    position p;
    p.segment_id = "TXA";
    ctx.fail(error_code::required_field_missing, "TXA segment missing", p);
    return;
  }
  const segment_view txa = *txa_seg;
  // TXA-12 (required, EI) identifies the document.
  identity key;
  json_value master = ei_identifier(ctx, hl7v2::read_ei(txa.field(12)), &key);
  if (!key.valid()) {
    ctx.fail(error_code::required_field_missing, "unique document number missing (TXA-12)", at(txa, 12));
    return;
  }
  const bool t02 = ctx.msg.trigger_event() == "T02";
  if (t02 && !ctx.msg.find("OBX")) {
    // MDM_T02's OBSERVATION group is required (HL7 v2.5.1 9.6.2).
    position p;
    p.segment_id = "OBX";
    ctx.fail(error_code::required_field_missing, "T02 without OBX (the document content)", p);
    return;
  }
  map_patient(ctx);
  if (ctx.failed()) return;
  // MDM_T02: MSH EVN PID PV1 [{ORC OBR ...}] TXA ...
  const std::optional<segment_view> visit = patient_visit(ctx.msg, {"ORC", "OBR", "TXA"});
  const std::string encounter_url = map_context_encounter(ctx, visit);
  if (ctx.failed()) return;

  json_value doc = new_resource("DocumentReference");
  doc.set("masterIdentifier", std::move(master));
  // TXA-16 unique document file name (ST[Identifier]).
  if (const std::string file = st(txa.field(16)); !file.empty()) {
    json_value id = json_value::object();
    id.set("value", file);
    append(doc, "identifier", std::move(id));
  }

  // status from TXA-19 (see the file comment).
  const std::string availability = st(txa.field(19));
  if (availability.empty() || availability == "AV") {
    doc.set("status", "current");
  } else if (availability == "CA" || availability == "OB" || availability == "UN") {
    doc.set("status", availability == "CA" ? "entered-in-error" : availability == "OB" ? "superseded" : "current");
    doc.set("_status", alternate_code("0275", availability));
  } else {
    ctx.warn(error_code::table_value_not_found, "document availability status not in table 0275: status current",
             at(txa, 19));
    doc.set("status", "current");
  }
  // docStatus from TXA-17 (see the file comment).
  if (const std::string completion = st(txa.field(17)); !completion.empty()) {
    if (const std::string_view s = doc_status(completion); !s.empty()) {
      doc.set("docStatus", s);
      doc.set("_docStatus", alternate_code("0271", completion));
    } else {
      ctx.warn(error_code::table_value_not_found, "document completion status not in table 0271: left out",
               at(txa, 17));
    }
  }
  // TXA-2 document type (table 0270).
  put(doc, "type", codeable_concept(ctx, hl7v2::read_cwe(txa.field(2)), at(txa, 2), {}, "0270"));
  doc.set("subject", reference(ctx.patient_url));
  // TXA-6 origination date/time -> date (an instant) "if time is included";
  // a date alone has no R4 place (the IG's extension is R6's).
  if (const std::string origination = st(txa.field(6)); !origination.empty()) {
    auto dt = hl7v2::parse_dtm(origination);
    if (!dt) {
      ctx.fail(error_code::data_type_error, dt.error().message, at(txa, 6));
      return;
    }
    if (dt->precision >= hl7v2::time_precision::hour) {
      if (auto text = datetime_text(ctx, *dt, at(txa, 6))) doc.set("date", *text);
    } else {
      ctx.warn(error_code::data_type_error, "origination date without time: DocumentReference.date left out",
               at(txa, 6));
    }
  }
  // TXA-9 originators -> author; TXA-10 -> authenticator (0..1: the first).
  each_repetition(txa, 9, [&](const element_view& rep, const position& where) {
    append(doc, "author", practitioner_reference(ctx, hl7v2::read_xcn(rep), where));
  });
  put(doc, "authenticator",
      practitioner_reference(ctx, hl7v2::read_xcn(txa.field(10).repetition(1)), at(txa, 10, 1)));
  // TXA-25 document title -> description (0..1: the first).
  const std::string title = st(txa.field(25).repetition(1));
  put(doc, "description", title);
  // TXA-18 confidentiality (DocumentConfidentialityStatus, table 0272).
  append(doc, "securityLabel",
         codeable_concept(ctx, hl7v2::read_cwe(txa.field(18)), at(txa, 18), "DocumentConfidentialityStatus", "0272"));
  if (ctx.failed()) return;

  // Content from the OBX segments (OBX[DocumentReference]), in message order.
  json_value contents = json_value::array();
  std::string text;
  bool has_text = false;
  std::size_t text_slot = 0;
  for (const segment_view seg : ctx.msg) {
    if (seg.id() != "OBX") continue;
    const std::string value_type = st(seg.field(2));
    const element_view value = seg.field(5);
    if (value_type == "TX" || value_type == "FT" || value_type == "ST") {
      if (!has_text) {
        has_text = true;
        text_slot = contents.size();
        contents.push_back(json_value());  // filled in below, keeping its place
      } else {
        text.push_back('\n');
      }
      // "When OBX-5 repeats, each repeat yields a line feed"; an empty OBX-5
      // is an empty line (senders send blank lines so).
      bool first = true;
      for (const element_view rep : value.children()) {
        if (!first) text.push_back('\n');
        first = false;
        if (rep.is_null()) continue;
        text += value_type == "FT" ? hl7v2::read_ft(rep) : value_type == "TX" ? hl7v2::read_tx(rep)
                                                                              : hl7v2::read_st(rep);
      }
    } else if (value_type == "ED" || value_type == "RP") {
      // "When OBX-5 repeats, each repeat yields a new .content instance."
      std::size_t r = 0;
      for (const element_view rep : value.children()) {
        ++r;
        if (rep.empty() || rep.is_null()) continue;
        json_value a = value_type == "ED" ? ed_attachment(ctx, rep, at(seg, 5, r)) : rp_attachment(rep);
        if (ctx.failed()) return;
        if (is_empty(a)) {
          ctx.warn(error_code::required_field_missing, "reference pointer without pointer (RP.1): not mapped",
                   at(seg, 5, r));
          continue;
        }
        contents.push_back(content_of(std::move(a)));
      }
    } else {
      ctx.warn(error_code::message_accepted, "OBX value type not a document content (TX, FT, ST, ED, RP): not mapped",
               at(seg, 2));
    }
  }
  if (has_text) {
    json_value a = json_value::object();
    a.set("contentType", "text/plain; charset=utf-8");
    if (text.empty()) {
      // Text OBX segments whose OBX-5 is empty: an empty document. FHIR JSON
      // has no empty strings (R4 json.html), so no data; its size says so.
      a.set("size", json_value::number("0"));
    } else {
      a.set("data", base64::encode(text));
    }
    contents.items()[text_slot] = content_of(std::move(a));
  }
  if (contents.size() == 0) {
    // T01: a notification without the content (see the file comment).
    json_value a = json_value::object();
    append(a, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode", "not-asked"));
    put(a, "title", title);
    contents.push_back(content_of(std::move(a)));
  }
  doc.set("content", std::move(contents));
  // The visit (see the file comment).
  if (!encounter_url.empty()) {
    json_value about = json_value::object();
    append(about, "encounter", reference(encounter_url));
    doc.set("context", std::move(about));
  }
  ctx.add_entry(std::move(doc), key);

  for (const segment_view seg : ctx.msg) {
    if (visit && seg.index() == visit->index()) continue;  // the Encounter's, reported there
    if (!mapped_segment(seg.id())) ctx.warn(error_code::message_accepted, "segment not mapped", at(seg, 0));
  }
}

}  // namespace hearth::mapping::detail
