#pragma once
// The content hash of a resource: what makes two updates "identical" (issue 4:
// "an identical update (same content hash) makes no new version").

#include <string>

#include <hearth/fhir/json_value.hpp>

namespace hearth::store::detail {

/// Hex SHA-256 of the resource's canonical JSON: compact, object members
/// sorted by key (byte order), numbers as their text, strings escaped as
/// fhir::write_json does — and without meta.versionId and meta.lastUpdated,
/// which the server sets on every version (and without meta when nothing else
/// is in it). So the same content sent twice, in any member order and with
/// any stale meta, hashes the same; any other difference does not.
std::string content_hash(const fhir::json_value& resource);

}  // namespace hearth::store::detail
