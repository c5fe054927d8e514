#include "detail/audit_keys.hpp"

#include <algorithm>
#include <vector>

#include <hearth/store/date_range.hpp>
#include <hearth/store/error_codes.hpp>

namespace hearth::store::detail {

namespace {

hearth::error invalid(std::string message) {
  return hearth::error{std::string(error_codes::invalid), std::move(message), {}, hearth::error::npos};
}

const std::string* string_member(const fhir::json_value& obj, std::string_view key) {
  const fhir::json_value* v = obj.is_object() ? obj.find(key) : nullptr;
  return v != nullptr && v->is_string() ? &v->str() : nullptr;
}

std::string string_or_empty(const fhir::json_value& obj, std::string_view key) {
  const std::string* s = string_member(obj, key);
  return s != nullptr ? *s : std::string();
}

// A resource type name: an upper-case letter, then letters (at most 64).
bool type_name(std::string_view t) noexcept {
  if (t.empty() || t.size() > 64 || t[0] < 'A' || t[0] > 'Z') return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); });
}

// R4 datatypes.html#id: [A-Za-z0-9\-\.]{1,64}.
bool id_text(std::string_view id) noexcept {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

/// An R4 instant (datatypes.html#instant: a time and a zone are required) as
/// ms since the epoch.
std::optional<long long> instant_ms(const std::string* text) {
  if (text == nullptr || text->find('T') == std::string::npos) return std::nullopt;
  const char last = text->back();
  if (last != 'Z' && text->find_first_of("+-", 19) == std::string::npos) return std::nullopt;
  const auto r = parse_date_range(*text);
  if (!r) return std::nullopt;
  return r->low;
}

void add_reference(std::vector<audit_ref>& refs, audit_ref_kind kind, const std::string& text) {
  const auto target = split_audit_reference(text);
  if (!target) return;
  // R4 AuditEvent `patient` (agent.who.where(resolve() is Patient) |
  // entity.what.where(resolve() is Patient)) is searched on these keys too.
  refs.push_back(audit_ref{static_cast<int>(kind), target->first, target->second});
}

}  // namespace

std::optional<std::pair<std::string, std::string>> split_audit_reference(std::string_view ref) {
  if (ref.empty() || ref.front() == '#' || ref.find('?') != std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> segs;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = ref.find('/', start);
    segs.push_back(ref.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  std::size_t n = segs.size();
  if (n >= 4 && segs[n - 2] == "_history") n -= 2;  // a version: the resource is what is referred to
  if (n < 2 || !type_name(segs[n - 2]) || !id_text(segs[n - 1])) return std::nullopt;
  return std::make_pair(std::string(segs[n - 2]), std::string(segs[n - 1]));
}

hearth::result<void> audit_keys_of(const fhir::json_value& event, prepared_audit_event& out) {
  const std::string* id = string_member(event, "id");
  if (id == nullptr || !id_text(*id)) return hearth::unexpected(invalid("the AuditEvent has no valid id"));
  out.id = *id;
  const auto recorded = instant_ms(string_member(event, "recorded"));
  if (!recorded) return hearth::unexpected(invalid("AuditEvent.recorded is not an instant"));
  out.recorded = *recorded;
  const fhir::json_value* meta = event.find("meta");
  const auto updated = instant_ms(meta != nullptr ? string_member(*meta, "lastUpdated") : nullptr);
  if (!updated) return hearth::unexpected(invalid("AuditEvent.meta.lastUpdated is not an instant"));
  out.last_updated = *updated;
  const fhir::json_value* type = event.find("type");
  if (type == nullptr || !type->is_object()) return hearth::unexpected(invalid("AuditEvent.type is not a Coding"));
  out.type_system = string_or_empty(*type, "system");
  out.type_code = string_or_empty(*type, "code");
  out.subtype_system.clear();
  out.subtype_code.clear();
  if (const fhir::json_value* sub = event.find("subtype"); sub != nullptr && sub->is_array() && sub->size() > 0) {
    out.subtype_system = string_or_empty(sub->items().front(), "system");
    out.subtype_code = string_or_empty(sub->items().front(), "code");
  }
  out.action = string_or_empty(event, "action");
  out.outcome = string_or_empty(event, "outcome");

  std::vector<audit_ref>& refs = out.refs;
  refs.clear();
  if (const fhir::json_value* agents = event.find("agent"); agents != nullptr && agents->is_array()) {
    for (const fhir::json_value& agent : agents->items()) {
      const fhir::json_value* who = agent.is_object() ? agent.find("who") : nullptr;
      if (who == nullptr || !who->is_object()) continue;
      if (const std::string* ref = string_member(*who, "reference")) add_reference(refs, audit_ref_kind::agent, *ref);
      if (const fhir::json_value* ident = who->find("identifier"); ident != nullptr && ident->is_object()) {
        const std::string value = string_or_empty(*ident, "value");
        std::string system = string_or_empty(*ident, "system");
        // Longer ones stay unsearchable: the key's index holds short texts
        // (a PostgreSQL B-tree entry has a size limit).
        if (!value.empty() && value.size() <= max_identifier_bytes && system.size() <= max_identifier_bytes) {
          refs.push_back(audit_ref{static_cast<int>(audit_ref_kind::agent_identifier), std::move(system), value});
        }
      }
    }
  }
  if (const fhir::json_value* entities = event.find("entity"); entities != nullptr && entities->is_array()) {
    for (const fhir::json_value& entity : entities->items()) {
      const fhir::json_value* what = entity.is_object() ? entity.find("what") : nullptr;
      if (what == nullptr || !what->is_object()) continue;
      if (const std::string* ref = string_member(*what, "reference")) add_reference(refs, audit_ref_kind::entity, *ref);
    }
  }
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
  if (refs.size() > max_audit_refs) {
    return hearth::unexpected(invalid("the AuditEvent refers to more than " + std::to_string(max_audit_refs) +
                                      " resources and identifiers"));
  }
  return {};
}

}  // namespace hearth::store::detail
