#pragma once
// hearth::store::audit_query — a search of the AuditEvent trail
// (`GET [base]/AuditEvent?...`, FHIR R4 auditevent.html#search) as the audit
// log runs it over its own table, not over the general search index.
//
// Parameters served (R4 search.html semantics for their types):
//   _id       token      the event's id
//   date      date       AuditEvent.recorded; prefixes eq ne gt lt ge le sa eb
//                        (recorded is an instant: sa is gt, eb is lt)
//   patient   reference  agent.who or entity.what referring to a Patient:
//                        `Patient/123`, `123`, or a URL ending in Patient/123
//   agent     reference  agent.who (the user's fhirUser, `Practitioner/7`);
//                        `agent:identifier=[system|]value` matches
//                        agent.who.identifier (client_id, or sub)
//   entity    reference  entity.what (`Observation/5`, any version)
//   type      token      AuditEvent.type          `[system|]code`, `|code`, `system|`
//   subtype   token      AuditEvent.subtype (the first one; Hearth writes one)
//   action    token      AuditEvent.action (C R U D E)
//   outcome   token      AuditEvent.outcome (0 4 8 12)
// Commas are OR, repeated parameters AND (search.html#combining). Results are
// ordered by the chain's sequence, newest first (`_sort=-date`, the default)
// or oldest first (`_sort=date`), paged by keyset on the sequence
// (`_cursor`), `_count` per page (at most max_count), `_total` or
// `_summary=count` for a count. The other parameters of AuditEvent, chains,
// _include/_revinclude and _elements are not served: an error under strict
// handling, left out (and listed) under lenient.
//
// Plain values; copyable.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/store/date_range.hpp>
#include <hearth/store/search_request.hpp>

namespace hearth::store {

/// A token value (search.html#token): `code` any system; `system|code`;
/// `|code` no system (system set and empty); `system|` any code of system
/// (code empty).
struct audit_token {
  std::optional<std::string> system;
  std::string code;
};

/// A reference value: `Type/id` (type set) or `id` (any type); an empty id
/// matches nothing (a URN or other text that names no Type/id).
struct audit_reference {
  std::string type;
  std::string id;
};

/// A date criterion on AuditEvent.recorded: `prefix` applied to the range
/// the value denotes (date_range.hpp).
struct audit_date {
  search_prefix prefix = search_prefix::eq;
  date_range range;
};

/// An AuditEvent search. Each outer vector is AND, each inner one OR.
struct audit_query {
  std::vector<std::vector<std::string>> ids;
  std::vector<std::vector<audit_reference>> patients;
  std::vector<std::vector<audit_reference>> agents;
  std::vector<std::vector<audit_token>> agent_identifiers;
  std::vector<std::vector<audit_reference>> entities;
  std::vector<std::vector<audit_token>> types;
  std::vector<std::vector<audit_token>> subtypes;
  std::vector<std::vector<audit_token>> actions;
  std::vector<std::vector<audit_token>> outcomes;
  std::vector<std::vector<audit_date>> dates;

  /// Events per page; 0: none (a count only).
  std::size_t count = default_count;
  /// Oldest first (`_sort=date`); newest first otherwise.
  bool oldest_first = false;
  /// Count every match (`_total`, `_summary=count`).
  bool want_total = false;
  /// Where the previous page ended (audit_page::next_cursor); empty: the start.
  std::string cursor;
  /// Parameters left out under lenient handling, for the OperationOutcome.
  std::vector<ignored_parameter> ignored;

  static constexpr std::size_t default_count = 50;
  /// As search_request::max_count: bounds one page's memory and time.
  static constexpr std::size_t max_count = 1000;
};

/// The audit query of `req`, a search of AuditEvent read by parse_search()
/// (which has checked values, escapes, _count and _sort already). What is not
/// served (see the top) fails under strict handling ("not-supported") and is
/// added to `ignored` under lenient; `req.ignored` is carried over. Errors:
/// "not-supported", "invalid" (`req` is not of AuditEvent, or a value this
/// function cannot read).
hearth::result<audit_query> audit_query_of(const search_request& req, search_handling handling);

}  // namespace hearth::store
