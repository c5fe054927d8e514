#pragma once
// The search keys of an AuditEvent, derived from its JSON (audit_log.hpp:
// keys are never given apart from the event, so the verification can check
// them against it). Pure; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>

#include "detail/audit_writer.hpp"

namespace hearth::store::detail {

/// audit_event_ref.kind (migrations.cpp, version 4).
enum class audit_ref_kind : int {
  /// (1: agent.who / entity.what referring to a Patient, written by schema
  /// version 4 only; since version 5 `patient` is searched on the entity and
  /// agent keys whose type is Patient, and migration 5 removed these rows.)
  entity = 2,            ///< entity.what (R4 `entity`)
  agent = 3,             ///< agent.who.reference (R4 `agent`)
  agent_identifier = 4,  ///< agent.who.identifier: type = system, id = value (`agent:identifier`)
};

/// Most references and identifiers one event may carry: each is a row to
/// insert and index; 1000 is far beyond the handful an interaction touches
/// (BALP records one event per patient of a search).
inline constexpr std::size_t max_audit_refs = 1000;

/// Longest identifier system or value that is a search key: client ids,
/// subjects and issuer URLs are far shorter; longer ones are not indexed.
inline constexpr std::size_t max_identifier_bytes = 256;

/// Type and id of a literal reference: "Type/id", "Type/id/_history/v", or
/// an absolute URL ending in one of those (R4 references.html#literal);
/// nullopt for anything else (contained "#x", a bare id, urn:uuid:...,
/// a conditional reference).
std::optional<std::pair<std::string, std::string>> split_audit_reference(std::string_view ref);

/// Fills the key fields of `out` (id, recorded, last_updated, type, subtype,
/// action, outcome, refs sorted without duplicates) from `event`, an
/// AuditEvent with id and meta.lastUpdated set. Errors ("invalid"): no id,
/// no `recorded` instant (R4 AuditEvent.recorded 1..1) or meta.lastUpdated,
/// a `type` that is not a Coding (1..1), more than max_audit_refs.
hearth::result<void> audit_keys_of(const fhir::json_value& event, prepared_audit_event& out);

}  // namespace hearth::store::detail
