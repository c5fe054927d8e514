#include <hearth/store/audit_query.hpp>

#include <algorithm>
#include <optional>

#include <hearth/store/error_codes.hpp>

#include "detail/audit_keys.hpp"

namespace hearth::store {

namespace {

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

/// A reference search value (search.html#reference): "Type/id", "id", or a
/// URL ending in Type/id. `type` is the :[type] modifier's, when given.
audit_reference reference_of(const search_value& v, const std::string& modifier_type) {
  audit_reference r;
  const std::string& text = v.parts.empty() ? std::string() : v.parts.front();
  if (text.find('/') == std::string::npos) {
    r.id = text;  // an id alone: any type (or the modifier's)
    r.type = modifier_type;
    return r;
  }
  if (const auto split = detail::split_audit_reference(text)) {
    r.type = split->first;
    r.id = split->second;
    // `subject:Patient=Group/1` names two types: it matches nothing.
    if (!modifier_type.empty() && modifier_type != r.type) r.id.clear();
  }
  return r;  // id empty when the text names no Type/id: matches nothing
}

/// A token search value: parse_search split it into {code}, {system, code}.
audit_token token_of(const search_value& v) {
  audit_token t;
  if (v.parts.size() >= 2) {
    t.system = v.parts[0];
    t.code = v.parts[1];
  } else if (!v.parts.empty()) {
    t.code = v.parts[0];
  }
  return t;
}

}  // namespace

hearth::result<audit_query> audit_query_of(const search_request& req, search_handling handling) {
  if (req.type != "AuditEvent") {
    return hearth::unexpected(make_error(error_codes::invalid, "not a search of AuditEvent"));
  }
  audit_query q;
  q.ignored = req.ignored;
  q.count = std::min(req.count, audit_query::max_count);
  q.cursor = req.cursor;
  // search.html#total, #summary: _summary=count asks for the count only.
  q.want_total = req.total != search_total::none || req.summary == search_summary::count;
  if (req.summary == search_summary::count) q.count = 0;

  std::optional<hearth::error> refused;
  // Strict handling refuses (search.html#errors); lenient leaves the
  // parameter out and lists it.
  auto unsupported = [&](const std::string& name, const std::string& reason) {
    if (refused) return;
    if (handling == search_handling::strict) {
      refused = make_error(error_codes::not_supported, "parameter '" + name + "' " + reason);
    } else {
      q.ignored.push_back(ignored_parameter{name, reason});
    }
  };

  if (req.compartment) unsupported("compartment", "is not supported: AuditEvent is searched on its own");
  if (!req.includes.empty()) unsupported("_include", "is not supported by the audit trail");
  if (!req.revincludes.empty()) unsupported("_revinclude", "is not supported by the audit trail");
  if (!req.list_id.empty()) unsupported("_list", "is not supported by the audit trail");
  if (!req.elements.empty()) unsupported("_elements", "is not supported by the audit trail");
  if (req.summary == search_summary::true_ || req.summary == search_summary::text ||
      req.summary == search_summary::data) {
    unsupported("_summary", "is not supported by the audit trail other than count and false");
  }
  // The trail is ordered by its chain, which is the order events were
  // recorded in: _sort by date (either way) is that order.
  if (req.sort.size() == 1 && req.sort.front().param != nullptr && req.sort.front().param->code == "date") {
    q.oldest_first = !req.sort.front().descending;
  } else if (!req.sort.empty()) {
    unsupported("_sort", "is supported by date only on AuditEvent");
  }

  for (const search_criterion& c : req.criteria) {
    if (refused) break;
    if (c.param == nullptr) return hearth::unexpected(make_error(error_codes::invalid, "a criterion without a parameter"));
    if (!c.path.empty()) {
      unsupported(c.name, "is a chain: not supported by the audit trail");
      continue;
    }
    const std::string_view code = c.param->code;
    const bool plain = c.modifier == search_modifier::none;
    if (code == "_id" && plain) {
      auto& group = q.ids.emplace_back();
      for (const search_value& v : c.values) group.push_back(v.parts.empty() ? std::string() : v.parts.front());
    } else if (code == "date" && plain) {
      auto& group = q.dates.emplace_back();
      for (const search_value& v : c.values) {
        if (v.prefix == search_prefix::ap) {
          q.dates.pop_back();
          unsupported(c.name, "with the prefix ap is not supported by the audit trail");
          break;
        }
        const auto range = v.parts.empty() ? std::nullopt : parse_date_range(v.parts.front());
        if (!range) return hearth::unexpected(make_error(error_codes::invalid, "parameter '" + c.name + "': not a date"));
        group.push_back(audit_date{v.prefix, *range});
      }
    } else if ((code == "patient" || code == "agent" || code == "entity") &&
               (plain || c.modifier == search_modifier::type)) {
      auto& groups = code == "patient" ? q.patients : code == "agent" ? q.agents : q.entities;
      auto& group = groups.emplace_back();
      for (const search_value& v : c.values) group.push_back(reference_of(v, c.modifier_type));
    } else if (code == "agent" && c.modifier == search_modifier::identifier) {
      auto& group = q.agent_identifiers.emplace_back();
      for (const search_value& v : c.values) group.push_back(token_of(v));
    } else if ((code == "type" || code == "subtype" || code == "action" || code == "outcome") && plain) {
      auto& groups = code == "type"      ? q.types
                     : code == "subtype" ? q.subtypes
                     : code == "action"  ? q.actions
                                         : q.outcomes;
      auto& group = groups.emplace_back();
      for (const search_value& v : c.values) group.push_back(token_of(v));
    } else {
      unsupported(c.name, "is not supported by the audit trail");
    }
  }
  if (refused) return hearth::unexpected(std::move(*refused));
  return q;
}

}  // namespace hearth::store
