// ADT^A40 (merge patient - patient identifier list) -> the surviving Patient
// and one Patient/$merge entry per PID/MRG pair.
//
// Departure from (extension of) the IG: the HL7 v2-to-FHIR IG v1.0.0 has no
// ADT_A40 message map and no MRG[Patient] segment map (only MRG[Account]).
// This map follows HL7 v2.5.1 chapter 3 instead: 3.3.40 ADT^A40^ADT_A39 (MSH
// EVN, then repeating {PID [PD1] MRG [PV1]}: the PID is the surviving
// patient, MRG-1 (3.4.3.1, prior patient identifier list) the identifiers
// of the patient merged into it), and the semantics of the FHIR Patient
// $merge operation (R5 patient-operation-merge.html: source-patient-
// identifier, target-patient; R4 patient.html#links: the source becomes
// inactive and "replaced-by" the target, which "replaces" it, and what
// referred to the source refers to the target). Each pair gives
//   - the survivor's Patient from PID/PD1 as ADT maps it (map_patient, a
//     conditional update on its PID-3 identity), and
//   - {"request":{"method":"POST","url":"Patient/$merge"}} with a
//     Parameters resource: one source-patient-identifier (valueIdentifier)
//     per MRG-1 repetition, mapped as PID-3 is (CX[Identifier] with the
//     sender's identifier systems, so that it names the prior patient as it
//     was stored), and target-patient (valueReference to the survivor's
//     entry). The store executes it (store/bundle_apply.hpp).

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <hearth/hl7v2/parser.hpp>

#include "families.hpp"
#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

namespace {

/// The request url of a merge entry (R5 patient-operation-merge.html).
constexpr std::string_view merge_url = "Patient/$merge";

/// One PID/MRG pair of the message and the segments that go with it.
struct merge_group {
  std::optional<segment_view> pid;
  std::optional<segment_view> pd1;
  std::optional<segment_view> mrg;
  std::vector<segment_view> z;  ///< Z-segments of the group (map_patient's extensions)
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/// One part of a conditional url as conditional_url() wrote it: percent-
/// encoding and then search escaping (R4 search.html#escaping) undone.
std::string url_part(std::string_view s) {
  std::string decoded;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      decoded.push_back(static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
      i += 2;
    } else {
      decoded.push_back(s[i]);
    }
  }
  std::string out;
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    if (decoded[i] == '\\' && i + 1 < decoded.size()) ++i;
    out.push_back(decoded[i]);
  }
  return out;
}

/// The identity of a conditional query "identifier=<system>|<value>" (a
/// conditional update's url after "Type?", a conditional create's
/// ifNoneExist): conditional_query()'s inverse, the '|' between the parts
/// being the only one left unencoded. nullopt for anything else.
std::optional<identity> identity_of(std::string_view query) {
  constexpr std::string_view key = "identifier=";
  if (!query.starts_with(key)) return std::nullopt;
  const std::string_view token = query.substr(key.size());
  const auto bar = token.find('|');
  if (bar == std::string_view::npos) return std::nullopt;
  return identity{url_part(token.substr(0, bar)), url_part(token.substr(bar + 1))};
}

/// Rewrites {"reference": <from>} to the entries' new fullUrls, everywhere in `v`.
void rename_references(json_value& v, const std::unordered_map<std::string, std::string>& renamed) {
  if (v.is_array()) {
    for (json_value& item : v.items()) rename_references(item, renamed);
  } else if (v.is_object()) {
    for (fhir::json_member& m : v.members()) {
      if (m.key == "reference" && m.value.is_string()) {
        if (const auto it = renamed.find(m.value.str()); it != renamed.end()) m.value = json_value(it->second);
      } else {
        rename_references(m.value, renamed);
      }
    }
  }
}

/// The position `p` of a segment of the pair's own message, in the whole
/// message: `original` holds the whole message's index of each of its
/// segments (1-based, as positions count them).
position renumbered(position p, const std::vector<std::size_t>& original) {
  if (p.segment_index >= 1 && p.segment_index <= original.size()) p.segment_index = original[p.segment_index - 1];
  return p;
}

/// The survivor of one pair: map_patient() over a message of MSH, EVN and
/// the pair's PID, PD1 and Z-segments only, then its entries (the Patient
/// and the Practitioners of PD1-4) appended to `ctx` as they are. map_patient
/// reads the first PID and PD1 of its message: on the whole message it would
/// map the first pair's for every pair. Returns the Patient's fullUrl in
/// `ctx` (empty after an error) and sets ctx.patient_url and
/// ctx.patient_identity.
std::string map_survivor(context& ctx, const merge_group& g) {
  std::vector<segment_view> parts;
  parts.push_back(ctx.msg.header());
  if (const auto evn = ctx.msg.find("EVN")) parts.push_back(*evn);
  parts.push_back(*g.pid);
  if (g.pd1) parts.push_back(*g.pd1);
  parts.insert(parts.end(), g.z.begin(), g.z.end());
  std::string text;
  std::vector<std::size_t> original;
  for (const segment_view& s : parts) {
    text.append(s.raw());
    text.push_back('\r');
    original.push_back(s.index());
  }
  auto sub_msg = hl7v2::parse(std::move(text));
  if (!sub_msg) {
    // The same bytes parsed as part of the whole message: not expected.
    ctx.fail(error_code::application_internal_error, "the surviving patient's segments could not be read",
             at(*g.pid, 0));
    return {};
  }
  context sub(*sub_msg, ctx.cfg);
  sub.terminology = ctx.terminology;
  map_patient(sub);
  for (const auto& w : sub.warnings()) ctx.warn(w.code, w.text, renumbered(w.where, original));
  if (sub.failed()) {
    ctx.fail(sub.error().code, sub.error().message, renumbered(sub.error().where, original));
    return {};
  }
  // The entries, in order, under this context's fullUrls; the same
  // Practitioner or survivor in two pairs is one entry (add_entry).
  std::unordered_map<std::string, std::string> renamed;
  const json_value b = sub.bundle();
  if (const json_value* entries = b.find("entry"); entries != nullptr && entries->is_array()) {
    for (const json_value& e : entries->items()) {
      json_value resource = *e.find("resource");
      rename_references(resource, renamed);
      // The request as context::bundle() wrote it: PUT "Type?<query>", POST
      // "Type" with ifNoneExist <query>, or a plain POST "Type".
      const json_value& request = *e.find("request");
      const std::string& url = request.find("url")->str();
      const json_value* if_none_exist = request.find("ifNoneExist");
      std::string full_url;
      if (if_none_exist != nullptr && if_none_exist->is_string()) {
        const auto id = identity_of(if_none_exist->str());
        full_url = id ? ctx.add_entry_if_none_exist(std::move(resource), *id)
                      : ctx.add_entry(std::move(resource), std::nullopt);
      } else {
        const auto q = url.find('?');
        const auto id = q == std::string::npos ? std::nullopt : identity_of(std::string_view(url).substr(q + 1));
        full_url = ctx.add_entry(std::move(resource), id);
      }
      renamed.emplace(e.find("fullUrl")->str(), std::move(full_url));
    }
  }
  const auto it = renamed.find(sub.patient_url);
  if (it == renamed.end()) return {};
  ctx.patient_url = it->second;
  ctx.patient_identity = sub.patient_identity;
  return it->second;
}

/// True when the Patient at `patient_url` carries the identifier `id`.
bool carries(context& ctx, const std::string& patient_url, const identity& id) {
  const json_value* patient = ctx.resource(patient_url);
  return patient != nullptr && has_identifier(*patient, id);
}

/// MRG[Patient] (see the top): the Parameters of one merge.
void map_mrg(context& ctx, const segment_view& mrg, const std::string& survivor_url) {
  json_value params = new_resource("Parameters");
  std::vector<identity> seen;
  each_repetition(mrg, 1, [&](const element_view& rep, const position& where) {
    identity id;
    json_value identifier = cx_identifier(ctx, hl7v2::read_cx(rep), where, &id);
    if (is_empty(identifier)) return;  // no CX.1: names nobody
    if (!id.valid()) {
      // Only a message naming no sender at all (MSH-3, MSH-4) has no system.
      ctx.fail(error_code::required_field_missing,
               "prior patient identifier without a system (no assigning authority and no sender)", where);
      return;
    }
    // HL7 v2.5.1 3.4.3.1: the prior identifiers are another patient's. One
    // of the survivor's own cannot name the patient to retire (table 0357
    // 205, duplicate key identifier: the key is the survivor's already).
    if (carries(ctx, survivor_url, id)) {
      ctx.fail(error_code::duplicate_key_identifier,
               "prior patient identifier (MRG-1) is one of the surviving patient's own (PID-3)", where);
      return;
    }
    for (const identity& s : seen) {
      if (s.system == id.system && s.value == id.value) return;  // sent twice: once
    }
    seen.push_back(id);
    json_value p = json_value::object();
    p.set("name", "source-patient-identifier");
    p.set("valueIdentifier", std::move(identifier));
    append(params, "parameter", std::move(p));
  });
  if (ctx.failed()) return;
  if (seen.empty()) {
    ctx.fail(error_code::required_field_missing, "prior patient identifier list (MRG-1) missing", at(mrg, 1));
    return;
  }
  // MRG-2..6 name other records (alternate ids, accounts, visits): a merge of
  // those is another event (A41, A42...); MRG-7 (prior name) only informs.
  for (std::size_t f = 2; f <= 6; ++f) {
    if (valued(mrg.field(f))) {
      ctx.warn(error_code::message_accepted, "field not mapped (A40 merges patients)", at(mrg, f));
    }
  }
  json_value target = json_value::object();
  target.set("name", "target-patient");
  target.set("valueReference", reference(survivor_url));
  append(params, "parameter", std::move(target));
  ctx.add_entry(std::move(params), std::nullopt);
}

position missing(std::string_view segment_id) {
  position p;
  p.segment_id = std::string(segment_id);
  return p;
}

}  // namespace

void map_merge(context& ctx) {
  // HL7 v2.5.1 3.3.40 ADT_A39: MSH EVN {PID [PD1] MRG [PV1]}.
  std::vector<merge_group> groups;
  for (const segment_view seg : ctx.msg) {
    const std::string_view id = seg.id();
    if (id == "MSH" || id == "EVN") continue;
    if (id == "PID") {
      groups.emplace_back();
      groups.back().pid = seg;
      continue;
    }
    const bool known = id == "PD1" || id == "MRG" || id == "PV1" || (!id.empty() && id[0] == 'Z');
    if (!known) {
      ctx.warn(error_code::message_accepted, "segment not mapped", at(seg, 0));
      continue;
    }
    if (groups.empty()) {
      ctx.fail(error_code::segment_sequence_error, "segment before the first PID", at(seg, 0));
      return;
    }
    merge_group& g = groups.back();
    if (id == "PD1" && !g.pd1 && !g.mrg) {
      g.pd1 = seg;
    } else if (id == "MRG" && !g.mrg) {
      g.mrg = seg;
    } else if (id == "PV1") {
      // The visit of the merge; a merge of patients moves their visits anyway.
      ctx.warn(error_code::message_accepted, "segment not mapped", at(seg, 0));
    } else if (id[0] == 'Z') {
      g.z.push_back(seg);
    } else {
      ctx.fail(error_code::segment_sequence_error, "segment out of place (ADT_A39: PID [PD1] MRG [PV1])",
               at(seg, 0));
      return;
    }
  }
  if (groups.empty()) {
    ctx.fail(error_code::required_field_missing, "PID segment missing", missing("PID"));
    return;
  }
  for (const merge_group& g : groups) {
    if (!g.mrg) {
      ctx.fail(error_code::required_field_missing,
               "MRG segment missing after the PID of segment " + std::to_string(g.pid->index()), missing("MRG"));
      return;
    }
  }
  for (const merge_group& g : groups) {
    const std::string survivor = map_survivor(ctx, g);
    if (ctx.failed()) return;
    map_mrg(ctx, *g.mrg, survivor);
    if (ctx.failed()) return;
  }
}

void finish_merge(json_value& bundle) {
  json_value* entries = bundle.find("entry");
  if (entries == nullptr || !entries->is_array()) return;
  for (json_value& e : entries->items()) {
    const json_value* resource = e.find("resource");
    const json_value* type = resource != nullptr ? resource->find("resourceType") : nullptr;
    json_value* request = e.find("request");
    if (type == nullptr || !type->is_string() || type->str() != "Parameters" || request == nullptr) continue;
    request->set("url", json_value(merge_url));
  }
}

}  // namespace hearth::mapping::detail
