// HD, CX and EI -> Identifier (IG HD[uri], CX[Identifier], EI[Identifier-Extension]).

#include "mapping_detail.hpp"

#include <algorithm>

namespace hearth::mapping::detail {

namespace {

bool uri_text(std::string_view s);

// An absolute URI (RFC 3986 3.1): a scheme of a letter then letters, digits,
// "+", "-", "." followed by ":" and something. "MRN" and "HOSP" are not.
bool absolute_uri(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  const char first = s[0];
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z'))) return false;
  for (std::size_t i = 1; i < colon; ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return uri_text(s);
}

// No white space or control character: what a FHIR uri may not hold (R4
// datatypes.html#uri: "URIs ... SHALL NOT contain whitespace"). HL7 escapes
// (\X09\, \X0A\) decode to any of them inside an HD.
bool uri_text(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F; });
}

// An OID as HD.2 of type ISO carries it (ISO/IEC 8824: arcs of digits
// separated by dots), so that "urn:oid:" + it is a URI. Leading zeros are
// let through: a sloppy but unambiguous feed keeps its identities.
bool oid_text(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// A UUID as HD.2 of type UUID carries it (RFC 4122 3: hex digits and
// hyphens), so that "urn:uuid:" + it is a URI.
bool uuid_text(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
  });
}

json_value identifier_type(const std::string& code, const position& where, context& ctx) {
  if (code.empty()) return {};
  hl7v2::coded c;
  c.identifier = code;
  return codeable_concept(ctx, c, where, "IdentifierType", "0203");
}

/// Percent-encodes all but RFC 3986 unreserved characters: the
/// namespace-specific string of a URN (RFC 8141 2) from any text.
std::string urn_part(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

}  // namespace

std::string fallback_system(const context& ctx, const hl7v2::hd& a) {
  if (!ctx.cfg.default_identifier_system.empty()) return ctx.cfg.default_identifier_system;
  // Departure from the IG, which leaves Identifier.system empty here: an
  // identifier without a system cannot identify a Patient across messages
  // (convert.hpp, identity rules), and most feeds name their assigning
  // authority by a bare namespace id ("HOSP") or not at all. Rather than
  // refuse them until configured, the system is a Hearth URN naming what the
  // message says: the authority's namespace id, else the sending facility
  // (MSH-4, else MSH-3): identifiers without an authority are the sender's
  // own. identifierSystems / defaultIdentifierSystem replace it.
  if (!a.namespace_id.empty()) return std::string(authority_system_prefix) + urn_part(a.namespace_id);
  std::string sender = ctx.msg.text("MSH-4.1");
  if (sender.empty()) sender = ctx.msg.text("MSH-3.1");
  if (!sender.empty()) return std::string(sender_system_prefix) + urn_part(sender);
  return {};
}

std::string resolve_system(const hl7v2::hd& a, const sender_config& cfg) {
  if (!a.namespace_id.empty()) {
    if (const auto it = cfg.identifier_systems.find(a.namespace_id); it != cfg.identifier_systems.end()) {
      return it->second;
    }
  }
  if (!a.universal_id.empty()) {
    if (const auto it = cfg.identifier_systems.find(a.universal_id); it != cfg.identifier_systems.end()) {
      return it->second;
    }
    // IG HD[uri]: "urn:oid:" + HD.2 for ISO, "urn:uuid:" + HD.2 for UUID,
    // HD.2 itself otherwise. Departure: we take HD.2 for other types only
    // when it is an absolute URI (a DNS name or an "L" local id is none, and
    // Identifier.system must be a URI, R4 datatypes.html#Identifier), and
    // for ISO and UUID only when HD.2 is one (an OID with a space in it is
    // none, and would make the system no URI): otherwise the authority
    // resolves as if HD.2 were not there.
    if (a.universal_id_type == "ISO" && oid_text(a.universal_id)) return "urn:oid:" + a.universal_id;
    if (a.universal_id_type == "UUID" && uuid_text(a.universal_id)) return "urn:uuid:" + a.universal_id;
    if (absolute_uri(a.universal_id)) return a.universal_id;
  }
  // IG HD[uri] takes HD.1 as the value when valued. Departure: only when it
  // is an absolute URI; a bare namespace id ("MRN") names an authority only
  // the sender knows and must be configured (identifierSystems).
  if (absolute_uri(a.namespace_id)) return a.namespace_id;
  return {};
}

json_value cx_identifier(context& ctx, const hl7v2::cx& v, const position& where, identity* id_out) {
  if (id_out != nullptr) *id_out = identity{};
  if (v.id_number.empty()) return {};  // CX.1 is required: no value, no Identifier
  json_value id = json_value::object();
  // CX.2 check digit, CX.3 scheme: extensions (CX[Identifier]).
  if (!v.check_digit.empty()) {
    append(id, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/identifier-checkDigit", "valueString", v.check_digit));
  }
  if (!v.check_digit_scheme.empty()) {
    append(id, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/namingsystem-checkDigit", "valueString",
                     v.check_digit_scheme));
  }
  put(id, "type", identifier_type(v.identifier_type_code, child(where, 5), ctx));
  std::string system = resolve_system(v.assigning_authority, ctx.cfg);
  if (system.empty()) system = fallback_system(ctx, v.assigning_authority);
  put(id, "system", system);
  put(id, "value", v.id_number);
  json_value period = json_value::object();
  if (auto s = to_datetime(ctx, v.effective_date, child(where, 7))) put(period, "start", *s);
  if (auto e = to_datetime(ctx, v.expiration_date, child(where, 8))) put(period, "end", *e);
  put(id, "period", std::move(period));
  // CX.4 that names no system: the authority as assigner (CX[Identifier]
  // maps CX.4 to assigner(Organization) then; a display is enough to keep it).
  const auto& a = v.assigning_authority;
  if (resolve_system(a, ctx.cfg).empty() && (!a.namespace_id.empty() || !a.universal_id.empty())) {
    json_value assigner = json_value::object();
    assigner.set("display", a.namespace_id.empty() ? a.universal_id : a.namespace_id);
    id.set("assigner", std::move(assigner));
  }
  if (id_out != nullptr) *id_out = identity{system, v.id_number};
  return id;
}

json_value ei_identifier(context& ctx, const hl7v2::ei& v, identity* id_out) {
  if (id_out != nullptr) *id_out = identity{};
  if (v.entity_identifier.empty()) return {};
  json_value id = json_value::object();
  hl7v2::hd authority{v.namespace_id, v.universal_id, v.universal_id_type};
  std::string system = resolve_system(authority, ctx.cfg);
  if (system.empty()) system = fallback_system(ctx, authority);
  put(id, "system", system);
  put(id, "value", v.entity_identifier);
  if (resolve_system(authority, ctx.cfg).empty() && (!v.namespace_id.empty() || !v.universal_id.empty())) {
    json_value assigner = json_value::object();
    assigner.set("display", v.namespace_id.empty() ? v.universal_id : v.namespace_id);
    id.set("assigner", std::move(assigner));
  }
  if (id_out != nullptr) *id_out = identity{system, v.entity_identifier};
  return id;
}

json_value typed_identifier(json_value id, std::string_view code) {
  if (is_empty(id)) return {};
  json_value out = json_value::object();
  out.set("type", fixed_concept(v2_table_uri("0203"), code));
  for (auto& m : id.members()) out.set(m.key, std::move(m.value));
  return out;
}

json_value typed_ei(context& ctx, const hl7v2::ei& v, std::string_view type, identity* id_out) {
  return typed_identifier(ei_identifier(ctx, v, id_out), type);
}

}  // namespace hearth::mapping::detail
